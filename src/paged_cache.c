/* Paged KV cache: creation, the block holder counts and free stack, and the
 * calls that set or inspect a sequence's table. The operations that move
 * rows (append, write, truncate, copy, read) live in paged_cache_ops.c. */
#include "paged_cache.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "buffer.h"
#include "checks.h"
#include "status.h"

static vecattn_status check_desc(const vecattn_paged_cache_desc *d, size_t *k_bytes, size_t *v_bytes) {
  const int64_t sizes[5] = {d->n_blocks, d->block_size, d->n_kv_heads, d->head_dim, d->max_seqs};
  static const char *const names[5] = {"n_blocks", "block_size", "n_kv_heads", "head_dim", "max_seqs"};
  for (int i = 0; i < 5; ++i)
    if (sizes[i] <= 0) return status_fail(VECATTN_EINVAL, "paged cache %s = %" PRId64 ": must be > 0", names[i], sizes[i]);
  if (d->n_blocks > INT32_MAX)
    return status_fail(VECATTN_EINVAL, "paged cache n_blocks = %" PRId64 ": block ids are int32", d->n_blocks);
  if ((unsigned)d->k_type >= VECATTN_DTYPE_COUNT || (unsigned)d->v_type >= VECATTN_DTYPE_COUNT)
    return status_fail(VECATTN_EINVAL, "paged cache types %d, %d: not vecattn_dtype values", (int)d->k_type,
                       (int)d->v_type);
  if ((d->k_type == VECATTN_Q8_0 || d->v_type == VECATTN_Q8_0) && d->head_dim % VECATTN_Q8_0_BLOCK != 0)
    return status_fail(VECATTN_EINVAL, "paged cache head_dim = %" PRId64 ": q8_0 needs a multiple of 32", d->head_dim);
  if (!d->k_pool != !d->v_pool)
    return status_fail(VECATTN_EINVAL, "paged cache: k_pool and v_pool are given together or not at all");
  int64_t n;
  if (__builtin_mul_overflow(d->n_blocks, d->n_kv_heads, &n) || __builtin_mul_overflow(n, d->block_size, &n) ||
      __builtin_mul_overflow(n, d->head_dim, &n))
    return status_fail(VECATTN_EOVERFLOW, "paged cache of %" PRId64 " blocks x %" PRId64 " x %" PRId64 " x %" PRId64
                       " elements overflows int64", d->n_blocks, d->block_size, d->n_kv_heads, d->head_dim);
  *k_bytes = vecattn_dtype_bytes(d->k_type, n), *v_bytes = vecattn_dtype_bytes(d->v_type, n);
  if (!*k_bytes || !*v_bytes || *k_bytes > SIZE_MAX - *v_bytes)
    return status_fail(VECATTN_EOVERFLOW, "paged cache of %" PRId64 " elements: its bytes overflow size_t", n);
  if (d->k_pool) {
    check_span ks, vs;
    vecattn_status st;
    if ((st = check_array("paged cache k_pool", d->k_pool, (int64_t)*k_bytes, 1, &ks)) != VECATTN_OK ||
        (st = check_array("paged cache v_pool", d->v_pool, (int64_t)*v_bytes, 1, &vs)) != VECATTN_OK)
      return st;
    if (check_overlap(ks, vs)) return status_fail(VECATTN_EINVAL, "paged cache: k_pool and v_pool overlap");
  }
  return VECATTN_OK;
}

vecattn_status vecattn_paged_cache_create(vecattn_paged_cache **out, const vecattn_paged_cache_desc *desc) {
  if (!out) return status_fail(VECATTN_EINVAL, "the cache pointer c is NULL");
  *out = NULL;
  if (!desc) return status_fail(VECATTN_EINVAL, "the paged cache desc is NULL");
  size_t k_bytes = 0, v_bytes = 0;
  vecattn_status st = check_desc(desc, &k_bytes, &v_bytes);
  if (st != VECATTN_OK) return st;
  const size_t nb = (size_t)desc->n_blocks;
  vecattn_paged_cache *c = calloc(1, sizeof *c);
  if (!c) return status_nomem("the paged cache");
  c->n_blocks = desc->n_blocks, c->block_size = desc->block_size, c->n_kv_heads = desc->n_kv_heads;
  c->head_dim = desc->head_dim, c->max_seqs = desc->max_seqs, c->k_type = desc->k_type, c->v_type = desc->v_type;
  c->k_block_bytes = k_bytes / nb, c->v_block_bytes = v_bytes / nb;
  c->holders = calloc(nb, sizeof *c->holders);
  c->free_stack = malloc(nb * sizeof *c->free_stack);
  c->stacked = malloc(nb);
  c->seqs = calloc((size_t)desc->max_seqs, sizeof *c->seqs);
  if (desc->k_pool) {
    c->k_pool = desc->k_pool, c->v_pool = desc->v_pool;
  } else {
    /* Zeroed, so positions never written read as zeros, not old heap bytes. */
    c->k_pool = pair_calloc(k_bytes, v_bytes, &c->v_pool);
    c->owns_pools = 1;
  }
  if (!c->holders || !c->free_stack || !c->stacked || !c->seqs || !c->k_pool) {
    vecattn_paged_cache_destroy(c);
    return status_nomem("the paged cache");
  }
  /* Stacked highest first, so block 0 is taken first. */
  for (size_t i = 0; i < nb; ++i) c->free_stack[i] = (int32_t)(nb - 1 - i);
  memset(c->stacked, 1, nb);
  c->free_top = (int64_t)nb, c->free_count = (int64_t)nb;
  *out = c;
  return VECATTN_OK;
}

void vecattn_paged_cache_destroy(vecattn_paged_cache *c) {
  if (!c) return;
  if (c->seqs)
    for (int64_t s = 0; s < c->max_seqs; ++s) free(c->seqs[s].blocks);
  if (c->owns_pools) free(c->k_pool);
  free(c->seqs), free(c->stacked), free(c->free_stack), free(c->holders), free(c);
}

void paged_hold(vecattn_paged_cache *c, int32_t b) {
  if (c->holders[b]++ == 0) c->free_count--;
}

void paged_drop(vecattn_paged_cache *c, int32_t b) {
  if (--c->holders[b] != 0) return;
  c->free_count++;
  if (!c->stacked[b]) c->stacked[b] = 1, c->free_stack[c->free_top++] = b;
}

int32_t paged_take(vecattn_paged_cache *c) {
  while (c->free_top > 0) {
    const int32_t b = c->free_stack[--c->free_top];
    c->stacked[b] = 0;
    if (c->holders[b] == 0) {
      paged_hold(c, b);
      return b;
    }
  }
  return -1;
}

vecattn_status paged_seq_reserve(paged_seq *s, int64_t n) {
  if (n <= s->cap) return VECATTN_OK;
  int64_t cap = s->cap ? s->cap : 4;
  while (cap < n) cap *= 2;
  int32_t *blocks = realloc(s->blocks, (size_t)cap * sizeof *blocks);
  if (!blocks) return status_nomem("a paged cache block table");
  s->blocks = blocks, s->cap = cap;
  return VECATTN_OK;
}

vecattn_status paged_check_seq(const vecattn_paged_cache *c, int64_t seq, const char *what) {
  if (!c) return status_fail(VECATTN_EINVAL, "%s: the cache is NULL", what);
  if (seq < 0 || seq >= c->max_seqs)
    return status_fail(VECATTN_EINVAL, "%s: sequence %" PRId64 " out of range 0..%" PRId64, what, seq, c->max_seqs - 1);
  return VECATTN_OK;
}

vecattn_status vecattn_paged_cache_set_seq(vecattn_paged_cache *c, int64_t seq, const int32_t *blocks,
                                           int64_t n_blocks, int64_t len) {
  vecattn_status st = paged_check_seq(c, seq, "paged cache set_seq");
  if (st != VECATTN_OK) return st;
  if (n_blocks < 0 || (n_blocks > 0 && !blocks))
    return status_fail(VECATTN_EINVAL, "paged cache set_seq: %" PRId64 " blocks at %p", n_blocks, (const void *)blocks);
  check_span span;
  if ((st = check_array("paged cache set_seq blocks", blocks, n_blocks, sizeof *blocks, &span)) != VECATTN_OK) return st;
  for (int64_t i = 0; i < n_blocks; ++i)
    if (blocks[i] < 0 || blocks[i] >= c->n_blocks)
      return status_fail(VECATTN_EINVAL, "paged cache set_seq: blocks[%" PRId64 "] = %d outside the pool of %" PRId64
                         " blocks", i, (int)blocks[i], c->n_blocks);
  if (len < 0 || len > n_blocks * c->block_size) /* n_blocks <= the pool's: no overflow */
    return status_fail(VECATTN_EINVAL, "paged cache set_seq: len = %" PRId64 " but %" PRId64 " blocks hold %" PRId64
                       " positions", len, n_blocks, n_blocks * c->block_size);
  paged_seq *s = &c->seqs[seq];
  if ((st = paged_seq_reserve(s, n_blocks)) != VECATTN_OK) return st;
  /* Hold the new blocks before dropping the old, so a block in both is never freed. */
  for (int64_t i = 0; i < n_blocks; ++i) paged_hold(c, blocks[i]);
  for (int64_t i = 0; i < s->n_blocks; ++i) paged_drop(c, s->blocks[i]);
  if (n_blocks) memmove(s->blocks, blocks, (size_t)n_blocks * sizeof *blocks); /* an empty table may be NULL */
  s->n_blocks = n_blocks, s->len = len;
  return VECATTN_OK;
}

vecattn_status vecattn_paged_cache_table(const vecattn_paged_cache *c, int64_t seq, const int32_t **blocks,
                                         int64_t *n_blocks) {
  vecattn_status st = paged_check_seq(c, seq, "paged cache table");
  if (st != VECATTN_OK) return st;
  if (!blocks || !n_blocks) return status_fail(VECATTN_EINVAL, "paged cache table: NULL output");
  *blocks = c->seqs[seq].blocks, *n_blocks = c->seqs[seq].n_blocks;
  return VECATTN_OK;
}

int64_t vecattn_paged_cache_seq_len(const vecattn_paged_cache *c, int64_t seq) {
  if (!c || seq < 0 || seq >= c->max_seqs) return -1;
  return c->seqs[seq].len;
}

int64_t vecattn_paged_cache_capacity(const vecattn_paged_cache *c) { return c ? c->n_blocks * c->block_size : 0; }

int64_t vecattn_paged_cache_free_blocks(const vecattn_paged_cache *c) { return c ? c->free_count : 0; }

void paged_pool_spans(const vecattn_paged_cache *c, byte_span *k, byte_span *v) {
  const size_t blocks = (size_t)c->n_blocks;
  *k = (byte_span){(uintptr_t)c->k_pool, (uintptr_t)c->k_pool + c->k_block_bytes * blocks};
  *v = (byte_span){(uintptr_t)c->v_pool, (uintptr_t)c->v_pool + c->v_block_bytes * blocks};
}
