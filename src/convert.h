/* Element conversion on a kernel table the caller read once: what
 * vecattn_convert runs on each chunk, shared by the caches' appends and reads. */
#ifndef VECATTN_CONVERT_H
#define VECATTN_CONVERT_H

#include <stdint.h>

#include "kernels.h"
#include "vecattn.h"

/* n elements (whole q8_0 blocks when a type is Q8_0) from src to dst, not
 * overlapping, as vecattn_convert converts: two non-f32 types meet in f32
 * (equal types too; callers that keep stored bytes copy them instead). */
void convert_elems(const struct vecattn_kernels *kern, const void *src, vecattn_dtype from, void *dst,
                   vecattn_dtype to, int64_t n);
/* What the caches store and read back: the bytes as they are when the types
 * match (a q8_0 row is not quantised again), else convert_elems. */
void copy_or_convert(const struct vecattn_kernels *kern, const void *src, vecattn_dtype from, void *dst,
                     vecattn_dtype to, int64_t n);

#endif
