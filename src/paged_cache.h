/* The paged KV cache behind vecattn_paged_cache: a pool of blocks, one block
 * table and length per sequence, and per-block holder counts that decide
 * which blocks are free and when a write must copy first. Layout of a block
 * (vecattn.h): [n_kv_heads][block_size][head_dim] elements of its type. */
#ifndef VECATTN_PAGED_CACHE_H
#define VECATTN_PAGED_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "generic/dtype_scalar.h"
#include "kernels.h"
#include "validate.h"
#include "vecattn.h"

typedef struct {
  int32_t *blocks;  /* table: position p lives in blocks[p / block_size] */
  int64_t n_blocks; /* entries in use */
  int64_t cap;      /* entries allocated */
  int64_t len;      /* positions stored */
} paged_seq;

struct vecattn_paged_cache {
  int64_t n_blocks, block_size, n_kv_heads, head_dim, max_seqs;
  vecattn_dtype k_type, v_type;
  unsigned char *k_pool, *v_pool;
  int owns_pools;
  size_t k_block_bytes, v_block_bytes; /* one block of all heads */
  int32_t *holders; /* [n_blocks]: table entries that hold each block; 0 = free */
  int32_t *free_stack; /* blocks that were free when pushed; a popped one may be held since */
  unsigned char *stacked; /* [n_blocks]: 1 while on free_stack, so it is pushed once */
  int64_t free_top;
  paged_seq *seqs;  /* [max_seqs] */
  int64_t free_count; /* blocks with holders == 0 */
};

/* One more table entry holds block b / one fewer (a block whose last holder
 * lets go goes back to the free stack). */
void paged_hold(vecattn_paged_cache *c, int32_t b);
void paged_drop(vecattn_paged_cache *c, int32_t b);
/* A free block, now held once; -1 when none is free (free_count == 0).
 * The lowest-numbered free blocks go first on a fresh cache, then the most
 * recently freed: the same calls always give the same blocks. */
int32_t paged_take(vecattn_paged_cache *c);
/* Makes room for n table entries in s (the table only grows; ENOMEM). */
vecattn_status paged_seq_reserve(paged_seq *s, int64_t n);
/* The bytes of the K and V pools (what a call's inputs and outputs must avoid;
 * checked against the address space at create). */
void paged_pool_spans(const vecattn_paged_cache *c, byte_span *k, byte_span *v);
/* EINVAL unless c is non-NULL and 0 <= seq < max_seqs; `what` names the call. */
vecattn_status paged_check_seq(const vecattn_paged_cache *c, int64_t seq, const char *what);

/* An append worked out before anything changes, and its undo log.
 * prepare: every check (EINVAL), the blocks it needs against the free ones
 * (ENOSPC), tables' room and the log (ENOMEM); nothing visible changes.
 * stage: takes blocks (a copy of each written block another entry holds),
 * stores the rows, sets tables and lengths; the blocks it replaced stay held.
 * commit lets them go; undo restores the cache exactly (written rows lie past
 * the old lengths or in blocks that go back to the pool). Either ends a
 * prepared append, staged or not. */
typedef struct {
  int64_t seq, entry; /* index into seq_ids, table entry */
  int32_t old;        /* the shared block it replaced */
} paged_cow;
typedef struct {
  const int32_t *seq_ids, *cu_new;
  int64_t n_seqs;
  int64_t *old_len, *old_n_blocks; /* [n_seqs] */
  paged_cow *cow;
  int32_t *taken; /* blocks taken, in order */
  int64_t n_cow, n_taken;
  void *mem;
} paged_append;
vecattn_status paged_append_prepare(vecattn_paged_cache *c, const int32_t *seq_ids, const int32_t *cu_new,
                                    int64_t n_seqs, int64_t total_new, paged_append *a);
/* k_new, v_new: checked [1, n_kv_heads, >= cu_new[n_seqs], head_dim] tensors. */
void paged_append_stage(const struct vecattn_kernels *kern, vecattn_paged_cache *c, paged_append *a,
                        const vecattn_tensor *k_new, const vecattn_tensor *v_new, int num_threads);
void paged_append_commit(vecattn_paged_cache *c, paged_append *a);
void paged_append_undo(vecattn_paged_cache *c, paged_append *a);

/* Row of kv head h at position i of block b, in elements of the pool's type:
 * what dt_bytes turns into a byte offset. */
static inline int64_t paged_row_elems(const vecattn_paged_cache *c, int64_t b, int64_t h, int64_t i) {
  return ((b * c->n_kv_heads + h) * c->block_size + i) * c->head_dim;
}
static inline const void *paged_key_row(const vecattn_paged_cache *c, int64_t b, int64_t h, int64_t i) {
  return c->k_pool + dt_bytes(c->k_type, paged_row_elems(c, b, h, i));
}
static inline const void *paged_value_row(const vecattn_paged_cache *c, int64_t b, int64_t h, int64_t i) {
  return c->v_pool + dt_bytes(c->v_type, paged_row_elems(c, b, h, i));
}

#endif
