/* Byte extents of the buffers a call reads and writes: each must fit the
 * user address space from its base pointer, and outputs must not overlap
 * inputs. Shared by every entry point; failures carry a detail message. */
#ifndef VECATTN_VALIDATE_H
#define VECATTN_VALIDATE_H

#include <stdint.h>

#include "vecattn.h"

typedef struct {
  uintptr_t lo, hi; /* byte range [lo, hi); empty when lo == hi */
} byte_span;

/* [p, p + bytes): EOVERFLOW (naming `what`) when it wraps or ends past the
 * platform's user address space. */
vecattn_status span_bytes(const char *what, const void *p, uint64_t bytes, byte_span *span);
/* The same for n elements of `size` bytes (n >= 0). */
vecattn_status span_elems(const char *what, const void *p, int64_t n, int64_t size, byte_span *span);
/* Every byte a strided tensor of element type t may touch (shape > 0,
 * strides >= 0); EOVERFLOW when its element count or bytes exceed int64 or
 * size_t, or its extent does not fit the address space. */
vecattn_status tensor_span(const char *what, const void *data, vecattn_dtype t, const int64_t shape[4],
                           const int64_t stride[4], byte_span *span);

static inline int spans_overlap(byte_span a, byte_span b) { return a.lo < b.hi && b.lo < a.hi; }
/* EINVAL "<out> overlaps <in>" when they share a byte. */
vecattn_status check_disjoint(const char *out, byte_span out_span, const char *in, byte_span in_span);

#endif
