/* Element types: names, sizes and vecattn_convert, which runs the active ISA's
 * conversion kernels over chunks spread on OpenMP threads (each element is
 * converted on its own, so the result does not depend on the split). */
#include <stdint.h>
#include <string.h>

#include "convert.h"
#include "dispatch.h"
#include "generic/dtype_scalar.h"
#include "status.h"
#include "threads.h"
#include "validate.h"
#include "vecattn.h"

/* Elements per task: whole q8_0 blocks, large enough to amortise a task. */
enum { CONVERT_CHUNK = 1 << 14 };

static const char *const dtype_names[VECATTN_DTYPE_COUNT] = {"f32", "f16", "bf16", "q8_0"};

const char *vecattn_dtype_name(vecattn_dtype t) {
  return (unsigned)t < VECATTN_DTYPE_COUNT ? dtype_names[t] : "unknown";
}

int vecattn_dtype_from_name(const char *name, vecattn_dtype *t) {
  if (!name || !t) return -1;
  for (int i = 0; i < VECATTN_DTYPE_COUNT; ++i)
    if (strcmp(name, dtype_names[i]) == 0) {
      *t = (vecattn_dtype)i;
      return 0;
    }
  return -1;
}

size_t vecattn_dtype_bytes(vecattn_dtype t, int64_t n) {
  if ((unsigned)t >= VECATTN_DTYPE_COUNT || n < 0) return 0;
  if (t == VECATTN_Q8_0 && n % VECATTN_Q8_0_BLOCK != 0) return 0;
  const int64_t per = t == VECATTN_Q8_0 ? VECATTN_Q8_0_BLOCK_BYTES : dt_bytes(t, 1);
  const int64_t units = t == VECATTN_Q8_0 ? n / VECATTN_Q8_0_BLOCK : n;
  int64_t bytes;
  if (__builtin_mul_overflow(units, per, &bytes) || (uint64_t)bytes > SIZE_MAX) return 0;
  return (size_t)bytes;
}

void convert_elems(const struct vecattn_kernels *kern, const void *src, vecattn_dtype from, void *dst,
                   vecattn_dtype to, int64_t n) {
  if (from == VECATTN_F32) {
    kern->from_f32((const float *)src, to, dst, n);
  } else if (to == VECATTN_F32) {
    kern->to_f32(src, from, (float *)dst, n);
  } else {
    float buf[1024]; /* whole q8_0 blocks */
    for (int64_t i = 0; i < n; i += 1024) {
      const int64_t m = n - i < 1024 ? n - i : 1024;
      kern->to_f32((const unsigned char *)src + dt_bytes(from, i), from, buf, m);
      kern->from_f32(buf, to, (unsigned char *)dst + dt_bytes(to, i), m);
    }
  }
}

void copy_or_convert(const struct vecattn_kernels *kern, const void *src, vecattn_dtype from, void *dst,
                     vecattn_dtype to, int64_t n) {
  if (from == to)
    memcpy(dst, src, (size_t)dt_bytes(to, n));
  else
    convert_elems(kern, src, from, dst, to, n);
}

typedef struct {
  const struct vecattn_kernels *kern;
  const void *src;
  vecattn_dtype from;
  void *dst;
  vecattn_dtype to;
  int64_t n;
} convert_ctx;

static void convert_region(void *ctx) {
  const convert_ctx *c = ctx;
  const int64_t tasks = (c->n + CONVERT_CHUNK - 1) / CONVERT_CHUNK;
#pragma omp for schedule(static)
  for (int64_t task = 0; task < tasks; ++task) {
    const int64_t i = task * CONVERT_CHUNK, m = c->n - i < CONVERT_CHUNK ? c->n - i : CONVERT_CHUNK;
    convert_elems(c->kern, (const unsigned char *)c->src + dt_bytes(c->from, i), c->from,
                  (unsigned char *)c->dst + dt_bytes(c->to, i), c->to, m);
  }
}

vecattn_status vecattn_convert(const void *src, vecattn_dtype from, void *dst, vecattn_dtype to, int64_t n) {
  if (!src) return status_fail(VECATTN_EINVAL, "convert: src is NULL");
  if (!dst) return status_fail(VECATTN_EINVAL, "convert: dst is NULL");
  if (n < 0) return status_fail(VECATTN_EINVAL, "convert: n = %lld: must be >= 0", (long long)n);
  if ((unsigned)from >= VECATTN_DTYPE_COUNT || (unsigned)to >= VECATTN_DTYPE_COUNT)
    return status_fail(VECATTN_EINVAL, "convert: types %d -> %d: not vecattn_dtype values", (int)from, (int)to);
  if ((from == VECATTN_Q8_0 || to == VECATTN_Q8_0) && n % VECATTN_Q8_0_BLOCK != 0)
    return status_fail(VECATTN_EINVAL, "convert: n = %lld: q8_0 needs whole blocks of 32", (long long)n);
  if (n == 0) return VECATTN_OK;
  const size_t src_bytes = vecattn_dtype_bytes(from, n), dst_bytes = vecattn_dtype_bytes(to, n);
  if (!src_bytes || !dst_bytes)
    return status_fail(VECATTN_EOVERFLOW, "convert: n = %lld elements overflow size_t bytes", (long long)n);
  byte_span ss, ds;
  vecattn_status s;
  if ((s = span_bytes("convert src", src, src_bytes, &ss)) != VECATTN_OK ||
      (s = span_bytes("convert dst", dst, dst_bytes, &ds)) != VECATTN_OK ||
      (s = check_disjoint("convert dst", ds, "src", ss)) != VECATTN_OK)
    return s;

  const struct vecattn_kernels *kern = dispatch_active();
  convert_ctx ctx = {kern, src, from, dst, to, n};
  vecattn_run_region(vecattn_thread_count(0, (n + CONVERT_CHUNK - 1) / CONVERT_CHUNK, 0, (double)(src_bytes + dst_bytes)),
                     convert_region, &ctx);
  return VECATTN_OK;
}
