#include "vecattn.h"

const char *vecattn_strerror(vecattn_status s) {
  switch (s) {
    case VECATTN_OK: return "success";
    case VECATTN_EINVAL: return "invalid argument: NULL pointer, bad shape, stride or option";
    case VECATTN_ENOMEM: return "out of memory: workspace could not be allocated";
    case VECATTN_EUNSUPPORTED: return "instruction set not compiled in or not supported by this CPU/OS";
    case VECATTN_EOVERFLOW: return "size overflow: tensor extents overflow int64 or size_t";
  }
  return "unknown vecattn status code";
}
