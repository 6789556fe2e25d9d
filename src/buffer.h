/* Large temporary buffers (packed weights, projections). */
#ifndef VECATTN_BUFFER_H
#define VECATTN_BUFFER_H

#include <stddef.h>

/* 64-byte aligned, NULL on failure or zero/overflowing sizes; release with free().
 * Buffers of 2 MiB and more are 2 MiB aligned and asked to use transparent huge
 * pages: a fresh 4 KiB page costs a fault on first touch (about 12 us inside
 * this project's VMs), which made packing W slower than the GEMM it feeds. */
void *buffer_alloc(size_t bytes);

/* A call's own scratch, 64-byte aligned, NULL on failure or zero/overflowing
 * sizes; release *base with free(). From a plain malloc: aligned_alloc splits
 * off and frees the head of its chunk, and small frees pile up until glibc
 * consolidates them on the next big request, every call (7% of a one-key
 * decode). */
void *scratch_alloc(size_t bytes, void **base);

/* One zeroed allocation for two arrays (a cache's K and V), the second
 * starting at the first cache line past the first's end, so it is aligned
 * whatever the first's size (f32 V right after 34-byte q8_0 K rows was not):
 * *second points there. NULL on failure or overflowing sizes; free() the
 * result. */
void *pair_calloc(size_t first_bytes, size_t second_bytes, unsigned char **second);

#endif
