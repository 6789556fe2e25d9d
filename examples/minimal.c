/* Causal self-attention on one head: 4 tokens, head_dim 2. */
#include <stdio.h>
#include <vecattn.h>

int main(void) {
  enum { B = 1, H = 1, S = 4, D = 2 };
  float q[B * H * S * D] = {1, 0, 0, 1, 1, 1, -1, 0};
  float k[B * H * S * D] = {1, 0, 0, 1, 1, 1, 0, -1};
  float v[B * H * S * D] = {1, 2, 3, 4, 5, 6, 7, 8};
  float o[B * H * S * D];

  vecattn_tensor tq = vecattn_tensor_bhsd(q, B, H, S, D);
  vecattn_tensor tk = vecattn_tensor_bhsd(k, B, H, S, D);
  vecattn_tensor tv = vecattn_tensor_bhsd(v, B, H, S, D);
  vecattn_tensor to = vecattn_tensor_bhsd(o, B, H, S, D);
  vecattn_sdpa_opts opts = {0}; /* scale 1/sqrt(D), all threads */
  opts.causal = 1;              /* token i attends to tokens 0..i */

  vecattn_status st = vecattn_sdpa(&tq, &tk, &tv, &to, &opts);
  if (st != VECATTN_OK) {
    fprintf(stderr, "vecattn_sdpa: %s\n", vecattn_strerror(st));
    return 1;
  }
  printf("vecattn %s, isa %s\n", vecattn_version(), vecattn_isa_name(vecattn_active_isa()));
  for (int i = 0; i < S; i++) printf("out[%d] = % .6f % .6f\n", i, o[i * D], o[i * D + 1]);
  return 0;
}
