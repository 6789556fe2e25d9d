// The public header must compile as C++ (extern "C", no C-only constructs)
// and link against the C library.
#include "vecattn.h"

#include <cstdio>
#include <cstring>

int main() {
  float buf[8] = {0};
  vecattn_tensor t = vecattn_tensor_bhsd(buf, 1, 1, 2, 4);
  vecattn_sdpa_opts opts = vecattn_sdpa_opts();  // zero-initialised = defaults
  opts.causal = 1;
  vecattn_isa isa = vecattn_active_isa();
  const char *v = vecattn_version();
  const char *e = vecattn_strerror(VECATTN_EINVAL);
  if (!v || !e || !vecattn_isa_name(isa) || t.stride[3] != 1 || opts.scale != 0.0f) {
    std::puts("C++ header test failed");
    return 1;
  }
  std::printf("C++: vecattn %s, active isa %s\n", v, vecattn_isa_name(isa));
  return 0;
}
