/* Argument checks for the entry points that do not build an attn_problem
 * (vecattn_merge, vecattn_sdpa_varlen's sequence tables). Implemented in
 * validate.c beside the checks they share. */
#ifndef VECATTN_CHECKS_H
#define VECATTN_CHECKS_H

#include <stdint.h>

#include "validate.h"
#include "vecattn.h"

typedef byte_span check_span;

/* Element types an operand may have, one bit per vecattn_dtype. */
enum { CHECK_FLOAT_TYPES = (1 << VECATTN_F32) | (1 << VECATTN_F16) | (1 << VECATTN_BF16) };

/* EINVAL unless t has data, a type in `types`, shape > 0, stride[3] == 1, other
 * strides >= 0 and whole q8_0 blocks; for an output also elements that do not
 * alias each other. EOVERFLOW when its extent overflows or does not fit the
 * address space. Sets *span; failures name the tensor `name` in the detail. */
vecattn_status check_tensor(const char *name, const vecattn_tensor *t, unsigned types, int output, check_span *span);
/* n elements of `size` bytes at p (n >= 0): EOVERFLOW when the extent overflows
 * or does not fit the address space. */
vecattn_status check_array(const char *name, const void *p, int64_t n, size_t size, check_span *span);

/* Sequence offsets cu[0 .. n] (FlashAttention's cu_seqlens): not NULL, n >= 0,
 * within the address space, cu[0] = 0, never decreasing, and cu[n] <= total
 * (total < 0: no bound). `what` names the call in messages. Sets *span. */
vecattn_status check_offsets(const char *what, const char *name, const int32_t *cu, int64_t n, int64_t total,
                             check_span *span);

static inline int check_overlap(check_span a, check_span b) { return a.lo < b.hi && b.lo < a.hi; }

#endif
