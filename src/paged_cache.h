/* The paged KV cache behind vecattn_paged_cache: a pool of blocks, one block
 * table and length per sequence, and per-block holder counts that decide
 * which blocks are free and when a write must copy first. Layout of a block
 * (vecattn.h): [n_kv_heads][block_size][head_dim] elements of its type. */
#ifndef VECATTN_PAGED_CACHE_H
#define VECATTN_PAGED_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "generic/dtype_scalar.h"
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
  int32_t *holders; /* [n_blocks]: tables that hold each block; 0 = free */
  paged_seq *seqs;  /* [max_seqs] */
  int64_t free_count;
};

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
