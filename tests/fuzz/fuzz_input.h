/* The fuzz harnesses' input: bytes read in order, then, once the input is
 * used up, a generator seeded by its hash (FNV-1a), so short inputs still
 * make whole calls and every input replays exactly. */
#ifndef VECATTN_FUZZ_INPUT_H
#define VECATTN_FUZZ_INPUT_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "vecattn.h"

typedef struct {
  const uint8_t *p;
  size_t n;
  uint64_t rng;
} reader;

static inline reader reader_of(const uint8_t *data, size_t size) {
  uint64_t seed = 0xCBF29CE484222325ull;
  for (size_t i = 0; i < size; ++i) seed = (seed ^ data[i]) * 0x100000001B3ull;
  return (reader){data, size, seed};
}

static inline uint8_t rd(reader *r) {
  if (r->n) {
    r->n--;
    return *r->p++;
  }
  r->rng = r->rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint8_t)(r->rng >> 56);
}

static inline int64_t rd_i64(reader *r) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = u << 8 | rd(r);
  return (int64_t)u;
}

/* (b - 128) / 32, or with specials one in 43 values NaN, +-Inf, 1e30, a
 * denormal or -FLT_MAX. */
static inline float rd_value(reader *r, int specials) {
  const uint8_t b = rd(r);
  if (specials && b >= 250) {
    static const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, 1e-40f, -FLT_MAX};
    return special[b - 250];
  }
  return (float)((int)b - 128) / 32.0f;
}

static inline _Noreturn void fuzz_fail(const char *harness, const char *what) {
  fprintf(stderr, "%s: %s\n", harness, what);
  abort();
}

/* n floats of (b - 128) / 32 x scale from the input. */
static inline float *rd_floats(reader *r, int64_t n, float scale) {
  float *m = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  for (int64_t i = 0; i < n; ++i) m[i] = rd_value(r, 0) * scale;
  return m;
}

static inline int all_bytes(const void *p, size_t n, unsigned char b) {
  for (size_t i = 0; i < n; ++i)
    if (((const unsigned char *)p)[i] != b) return 0;
  return 1;
}

/* A status must be one of vecattn_status's, and a failure leaves a detail. */
static inline void fuzz_check_status(const char *harness, vecattn_status st) {
  if (st != VECATTN_OK && st != VECATTN_EINVAL && st != VECATTN_ENOMEM && st != VECATTN_EUNSUPPORTED &&
      st != VECATTN_EOVERFLOW && st != VECATTN_ENOSPC)
    fuzz_fail(harness, "status is not a vecattn_status");
  if (st != VECATTN_OK && !vecattn_last_error()[0]) fuzz_fail(harness, "a failed call left no detail message");
}

#endif
