/* Tail loads and stores of 16-bit element types through a small copy, for
 * vector layers without masked 16-bit moves (sse2, avx2, neon): the first n
 * elements, zeros after them on load, nothing past them on store. Included by
 * such a vec.h after its full-vector vf_load_<t> / vf_store_<t>. */
#ifndef VECATTN_GENERIC_VEC_TAILS_H
#define VECATTN_GENERIC_VEC_TAILS_H

#include <stdint.h>
#include <string.h>

#define VF_TAILS_VIA_COPY(t)                                                  \
  static inline vf vf_load_n_##t(const uint16_t *p, int n) {                 \
    uint16_t c[VF_LANES] = {0};                                               \
    memcpy(c, p, (size_t)n * sizeof *p);                                      \
    return vf_load_##t(c);                                                    \
  }                                                                           \
  static inline void vf_store_n_##t(uint16_t *p, vf v, int n) {              \
    uint16_t c[VF_LANES];                                                     \
    vf_store_##t(c, v);                                                       \
    memcpy(p, c, (size_t)n * sizeof *p);                                      \
  }

#endif
