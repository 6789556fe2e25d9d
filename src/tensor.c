#include "vecattn.h"

vecattn_tensor vecattn_tensor_bhsd_typed(void *data, vecattn_dtype dtype, int64_t b, int64_t h, int64_t s,
                                         int64_t d) {
  vecattn_tensor t = {data, {b, h, s, d}, {h * s * d, s * d, d, 1}, dtype};
  return t;
}

/* Logical [b][h][s][d] over memory laid out [b][s][h][d]. */
vecattn_tensor vecattn_tensor_bshd_typed(void *data, vecattn_dtype dtype, int64_t b, int64_t s, int64_t h,
                                         int64_t d) {
  vecattn_tensor t = {data, {b, h, s, d}, {s * h * d, d, h * d, 1}, dtype};
  return t;
}

vecattn_tensor vecattn_tensor_bhsd(float *data, int64_t b, int64_t h, int64_t s, int64_t d) {
  return vecattn_tensor_bhsd_typed(data, VECATTN_F32, b, h, s, d);
}

vecattn_tensor vecattn_tensor_bshd(float *data, int64_t b, int64_t s, int64_t h, int64_t d) {
  return vecattn_tensor_bshd_typed(data, VECATTN_F32, b, s, h, d);
}
