/* Paged KV cache operations that move rows: append (with copy on write of
 * shared blocks), the slot-mapped write, truncate, copy_seq, release and read.
 * Every check comes before any change; an append is worked out in full (ids,
 * offsets, blocks it needs) before the first block is taken, and can be undone
 * until it is committed (the MHA layer appends before its attention runs). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "checks.h"
#include "convert.h"
#include "dispatch.h"
#include "generic/dtype_scalar.h"
#include "kv_cache.h"
#include "paged_cache.h"
#include "status.h"
#include "threads.h"

/* EINVAL when an input or output the call touches shares a byte with a pool. */
static vecattn_status off_pools(const vecattn_paged_cache *c, const char *name, check_span s) {
  check_span k, v;
  paged_pool_spans(c, &k, &v);
  vecattn_status st = check_disjoint(name, s, "the paged cache's K pool", k);
  if (st == VECATTN_OK) st = check_disjoint(name, s, "the paged cache's V pool", v);
  return st;
}

/* k_new or v_new: [1, n_kv_heads, rows, head_dim] of a float type or `stored`,
 * not in a pool. */
static vecattn_status check_rows_tensor(const vecattn_paged_cache *c, const char *what, const char *name,
                                        const vecattn_tensor *t, vecattn_dtype stored, int64_t rows) {
  if (!t) return status_fail(VECATTN_EINVAL, "%s: %s is NULL", what, name);
  check_span s;
  vecattn_status st = check_tensor(name, t, CHECK_FLOAT_TYPES | 1u << stored, 0, &s);
  if (st != VECATTN_OK) return st;
  if (t->shape[0] != 1 || t->shape[1] != c->n_kv_heads || t->shape[2] != rows || t->shape[3] != c->head_dim)
    return status_fail(VECATTN_EINVAL, "%s: %s is [%" PRId64 ", %" PRId64 ", %" PRId64 ", %" PRId64 "] but the cache"
                       " takes [1, %" PRId64 ", %" PRId64 ", %" PRId64 "]", what, name, t->shape[0], t->shape[1],
                       t->shape[2], t->shape[3], c->n_kv_heads, rows, c->head_dim);
  return off_pools(c, name, s);
}

/* Row r of kv head h of a checked [1, Hkv, rows, D] tensor. */
static const void *tensor_row(const vecattn_tensor *t, int64_t h, int64_t r) {
  return (const unsigned char *)t->data + dt_bytes(t->dtype, h * t->stride[1] + r * t->stride[2]);
}

/* Rows of both tensors for every kv head into the pools; row r goes to slot
 * slot_of(r). Each row lands in its own slot, so the split is free. */
typedef int64_t (*slot_fn)(const void *ctx, int64_t r);
typedef struct {
  const struct vecattn_kernels *kern;
  vecattn_paged_cache *c;
  const vecattn_tensor *k_new, *v_new;
  int64_t rows;
  slot_fn slot_of;
  const void *slot_ctx;
} store_ctx;

static void store_region(void *ctx) {
  const store_ctx *s = ctx;
  vecattn_paged_cache *c = s->c;
  const int64_t d = c->head_dim, bs = c->block_size;
#pragma omp for schedule(static)
  for (int64_t r = 0; r < s->rows; ++r) {
    const int64_t slot = s->slot_of(s->slot_ctx, r), b = slot / bs, i = slot % bs;
    for (int64_t h = 0; h < c->n_kv_heads; ++h) {
      copy_or_convert(s->kern, tensor_row(s->k_new, h, r), s->k_new->dtype, (void *)paged_key_row(c, b, h, i),
                      c->k_type, d);
      copy_or_convert(s->kern, tensor_row(s->v_new, h, r), s->v_new->dtype, (void *)paged_value_row(c, b, h, i),
                      c->v_type, d);
    }
  }
}

static void store_rows(const struct vecattn_kernels *kern, vecattn_paged_cache *c, const vecattn_tensor *k_new,
                       const vecattn_tensor *v_new, int64_t rows, slot_fn slot_of, const void *ctx, int num_threads) {
  const int64_t d = c->head_dim;
  const double bytes = (double)rows * (double)c->n_kv_heads *
                       (double)(dt_bytes(k_new->dtype, d) + dt_bytes(v_new->dtype, d) + dt_bytes(c->k_type, d) +
                                dt_bytes(c->v_type, d));
  store_ctx s = {kern, c, k_new, v_new, rows, slot_of, ctx};
  vecattn_run_region(vecattn_thread_count(num_threads, rows, 0, bytes), store_region, &s);
}

/* ---- append ---- */

static int cmp_i64(const void *a, const void *b) {
  const int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Sorts v[0 .. n) (the caller's copy) and finds a value that appears twice:
 * 1 and *dup, or 0. O(n log n). */
static int repeated_value(int64_t *v, int64_t n, int64_t *dup) {
  qsort(v, (size_t)n, sizeof *v, cmp_i64);
  for (int64_t i = 1; i < n; ++i)
    if (v[i] == v[i - 1]) return *dup = v[i], 1;
  return 0;
}

/* Table entries of sequence s that rows [len, len + m) fall in: [first, end). */
static void written_entries(const vecattn_paged_cache *c, const paged_seq *s, int64_t m, int64_t *first,
                            int64_t *end) {
  *first = s->len / c->block_size;
  *end = m ? (s->len + m + c->block_size - 1) / c->block_size : *first;
}

vecattn_status paged_append_prepare(vecattn_paged_cache *c, const int32_t *seq_ids, const int32_t *cu_new,
                                    int64_t n_seqs, int64_t total_new, paged_append *a) {
  memset(a, 0, sizeof *a);
  if (!c) return status_fail(VECATTN_EINVAL, "paged cache append: the cache is NULL");
  check_span ids_span, cu_span;
  vecattn_status st;
  if ((st = check_offsets("paged cache append", "cu_new", cu_new, n_seqs, total_new, &cu_span)) != VECATTN_OK)
    return st;
  if (n_seqs > 0 && !seq_ids) return status_fail(VECATTN_EINVAL, "paged cache append: seq_ids is NULL");
  if ((st = check_array("seq_ids", seq_ids, n_seqs, sizeof *seq_ids, &ids_span)) != VECATTN_OK ||
      (st = off_pools(c, "seq_ids", ids_span)) != VECATTN_OK || (st = off_pools(c, "cu_new", cu_span)) != VECATTN_OK)
    return st;
  for (int64_t i = 0; i < n_seqs; ++i)
    if ((st = paged_check_seq(c, seq_ids[i], "paged cache append")) != VECATTN_OK) return st;
  if (n_seqs == 0) return VECATTN_OK;

  /* A sequence listed twice would take its length twice. */
  int64_t *ids = malloc((size_t)n_seqs * sizeof *ids), dup;
  if (!ids) return status_nomem("the paged cache append's id check");
  for (int64_t i = 0; i < n_seqs; ++i) ids[i] = seq_ids[i];
  const int twice = repeated_value(ids, n_seqs, &dup);
  free(ids);
  if (twice)
    return status_fail(VECATTN_EINVAL, "paged cache append: sequence %" PRId64 " is listed twice in seq_ids", dup);

  /* Blocks it takes: entries past each table, and a copy of every written
   * entry whose block another entry also holds (copied even when a later
   * writer in this call would have been its last holder, so the append can
   * be undone: no block it started with is written). */
  int64_t fresh = 0, copies = 0;
  for (int64_t i = 0; i < n_seqs; ++i) {
    const paged_seq *s = &c->seqs[seq_ids[i]];
    const int64_t m = cu_new[i + 1] - cu_new[i];
    int64_t first, end;
    written_entries(c, s, m, &first, &end);
    if (end > s->n_blocks) fresh += end - (first > s->n_blocks ? first : s->n_blocks);
    for (int64_t j = first; j < end && j < s->n_blocks; ++j) copies += c->holders[s->blocks[j]] > 1;
  }
  if (fresh + copies > c->free_count)
    return status_fail(VECATTN_ENOSPC, "paged cache full: the append needs %" PRId64 " blocks (%" PRId64
                       " new, %" PRId64 " copies of shared ones) but %" PRId64 " are free", fresh + copies, fresh,
                       copies, c->free_count);
  for (int64_t i = 0; i < n_seqs; ++i) {
    paged_seq *s = &c->seqs[seq_ids[i]];
    int64_t first, end;
    written_entries(c, s, cu_new[i + 1] - cu_new[i], &first, &end);
    if ((st = paged_seq_reserve(s, end)) != VECATTN_OK) return st; /* only capacity grows */
  }
  a->mem = malloc((size_t)n_seqs * 2 * sizeof(int64_t) + (size_t)(fresh + copies) * sizeof(int32_t) +
                  (size_t)copies * sizeof(paged_cow));
  if (!a->mem) return status_nomem("the paged cache append's undo log");
  a->old_len = a->mem;
  a->old_n_blocks = a->old_len + n_seqs;
  a->cow = (paged_cow *)(a->old_n_blocks + n_seqs);
  a->taken = (int32_t *)(a->cow + copies);
  a->seq_ids = seq_ids, a->cu_new = cu_new, a->n_seqs = n_seqs;
  for (int64_t i = 0; i < n_seqs; ++i)
    a->old_len[i] = c->seqs[seq_ids[i]].len, a->old_n_blocks[i] = c->seqs[seq_ids[i]].n_blocks;
  return VECATTN_OK;
}

typedef struct {
  const vecattn_paged_cache *c;
  const paged_append *a;
} append_ctx;

/* The sequence index of new row r: the last i with cu_new[i] <= r (rows of
 * empty sequences never ask). */
static int64_t append_slot(const void *ctx_, int64_t r) {
  const append_ctx *ctx = ctx_;
  const int32_t *cu = ctx->a->cu_new;
  int64_t lo = 0, hi = ctx->a->n_seqs; /* cu[lo] <= r < cu[hi] */
  while (hi - lo > 1) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (cu[mid] <= r) lo = mid;
    else hi = mid;
  }
  const paged_seq *s = &ctx->c->seqs[ctx->a->seq_ids[lo]];
  const int64_t pos = ctx->a->old_len[lo] + (r - cu[lo]), bs = ctx->c->block_size;
  return (int64_t)s->blocks[pos / bs] * bs + pos % bs;
}

/* Copies the first `rows` positions of every head of block `from` to `to`. */
static void copy_block_rows(vecattn_paged_cache *c, int32_t from, int32_t to, int64_t rows) {
  if (rows <= 0) return;
  const size_t kb = (size_t)dt_bytes(c->k_type, rows * c->head_dim), vb = (size_t)dt_bytes(c->v_type, rows * c->head_dim);
  for (int64_t h = 0; h < c->n_kv_heads; ++h) {
    memcpy((void *)paged_key_row(c, to, h, 0), paged_key_row(c, from, h, 0), kb);
    memcpy((void *)paged_value_row(c, to, h, 0), paged_value_row(c, from, h, 0), vb);
  }
}

void paged_append_stage(const struct vecattn_kernels *kern, vecattn_paged_cache *c, paged_append *a,
                        const vecattn_tensor *k_new, const vecattn_tensor *v_new, int num_threads) {
  const int64_t bs = c->block_size;
  for (int64_t i = 0; i < a->n_seqs; ++i) {
    paged_seq *s = &c->seqs[a->seq_ids[i]];
    const int64_t m = a->cu_new[i + 1] - a->cu_new[i];
    int64_t first, end;
    written_entries(c, s, m, &first, &end);
    for (int64_t j = first; j < end && j < s->n_blocks; ++j) {
      const int32_t old = s->blocks[j];
      if (c->holders[old] <= 1) continue; /* this entry's alone: written in place, past the length */
      const int32_t b = paged_take(c);
      a->taken[a->n_taken++] = b;
      copy_block_rows(c, old, b, s->len - j * bs);
      a->cow[a->n_cow++] = (paged_cow){i, j, old}; /* old stays held until commit */
      s->blocks[j] = b;
    }
    for (int64_t j = s->n_blocks; j < end; ++j) {
      const int32_t b = paged_take(c);
      a->taken[a->n_taken++] = b;
      s->blocks[j] = b;
    }
    if (end > s->n_blocks) s->n_blocks = end;
    s->len += m;
  }
  const int64_t rows = a->n_seqs ? a->cu_new[a->n_seqs] : 0;
  const append_ctx ctx = {c, a};
  if (rows) store_rows(kern, c, k_new, v_new, rows, append_slot, &ctx, num_threads);
}

void paged_append_commit(vecattn_paged_cache *c, paged_append *a) {
  for (int64_t i = 0; i < a->n_cow; ++i) paged_drop(c, a->cow[i].old);
  free(a->mem);
  memset(a, 0, sizeof *a);
}

void paged_append_undo(vecattn_paged_cache *c, paged_append *a) {
  for (int64_t i = 0; i < a->n_cow; ++i) c->seqs[a->seq_ids[a->cow[i].seq]].blocks[a->cow[i].entry] = a->cow[i].old;
  for (int64_t i = 0; i < a->n_seqs; ++i) {
    paged_seq *s = &c->seqs[a->seq_ids[i]];
    s->len = a->old_len[i], s->n_blocks = a->old_n_blocks[i];
  }
  /* Last taken first: the free stack is as it was. */
  for (int64_t i = a->n_taken; i-- > 0;) paged_drop(c, a->taken[i]);
  free(a->mem);
  memset(a, 0, sizeof *a);
}

vecattn_status vecattn_paged_cache_append(vecattn_paged_cache *c, const int32_t *seq_ids, const int32_t *cu_new,
                                          int64_t n_seqs, const vecattn_tensor *k_new, const vecattn_tensor *v_new) {
  if (!c) return status_fail(VECATTN_EINVAL, "paged cache append: the cache is NULL");
  vecattn_status st;
  const int64_t rows = k_new ? k_new->shape[2] : 0;
  if ((st = check_rows_tensor(c, "paged cache append", "k_new", k_new, c->k_type, rows)) != VECATTN_OK ||
      (st = check_rows_tensor(c, "paged cache append", "v_new", v_new, c->v_type, rows)) != VECATTN_OK)
    return st;
  paged_append a;
  if ((st = paged_append_prepare(c, seq_ids, cu_new, n_seqs, rows, &a)) != VECATTN_OK) return st;
  paged_append_stage(dispatch_active(), c, &a, k_new, v_new, 0);
  paged_append_commit(c, &a);
  return VECATTN_OK;
}

/* ---- write by slot ---- */

static int64_t given_slot(const void *slots, int64_t r) { return ((const int64_t *)slots)[r]; }

vecattn_status vecattn_paged_cache_write(vecattn_paged_cache *c, const vecattn_tensor *k_new,
                                         const vecattn_tensor *v_new, const int64_t *slots, int64_t n_tokens) {
  if (!c) return status_fail(VECATTN_EINVAL, "paged cache write: the cache is NULL");
  if (n_tokens < 0) return status_fail(VECATTN_EINVAL, "paged cache write: n_tokens = %" PRId64 ": must be >= 0", n_tokens);
  if (!slots) return status_fail(VECATTN_EINVAL, "paged cache write: slots is NULL");
  if (!k_new || !v_new) return status_fail(VECATTN_EINVAL, "paged cache write: k_new or v_new is NULL");
  if (n_tokens == 0) return VECATTN_OK;
  vecattn_status st;
  check_span slots_span;
  if ((st = check_rows_tensor(c, "paged cache write", "k_new", k_new, c->k_type, n_tokens)) != VECATTN_OK ||
      (st = check_rows_tensor(c, "paged cache write", "v_new", v_new, c->v_type, n_tokens)) != VECATTN_OK ||
      (st = check_array("slots", slots, n_tokens, sizeof *slots, &slots_span)) != VECATTN_OK ||
      (st = off_pools(c, "slots", slots_span)) != VECATTN_OK)
    return st;
  const int64_t n_slots = c->n_blocks * c->block_size; /* fits: the pool's elements do */
  for (int64_t t = 0; t < n_tokens; ++t)
    if (slots[t] < 0 || slots[t] >= n_slots)
      return status_fail(VECATTN_EINVAL, "paged cache write: slots[%" PRId64 "] = %" PRId64 " outside the pool's %" PRId64
                         " slots", t, slots[t], n_slots);
  /* Two rows for one slot: O(n log n) in the new rows. */
  int64_t *sorted = malloc((size_t)n_tokens * sizeof *sorted), dup;
  if (!sorted) return status_nomem("the paged cache write's slot check");
  memcpy(sorted, slots, (size_t)n_tokens * sizeof *sorted);
  const int twice = repeated_value(sorted, n_tokens, &dup);
  free(sorted);
  if (twice) return status_fail(VECATTN_EINVAL, "paged cache write: two rows for slot %" PRId64, dup);
  store_rows(dispatch_active(), c, k_new, v_new, n_tokens, given_slot, slots, 0);
  return VECATTN_OK;
}

/* ---- truncate, copy, release ---- */

/* Drops entries [keep, n_blocks) of s, last first, so a sequence that grows
 * again takes the same blocks back in the same order. */
static void drop_tail(vecattn_paged_cache *c, paged_seq *s, int64_t keep) {
  while (s->n_blocks > keep) paged_drop(c, s->blocks[--s->n_blocks]);
}

vecattn_status vecattn_paged_cache_truncate(vecattn_paged_cache *c, int64_t seq, int64_t len) {
  vecattn_status st = paged_check_seq(c, seq, "paged cache truncate");
  if (st != VECATTN_OK) return st;
  paged_seq *s = &c->seqs[seq];
  if (len < 0 || len > s->len)
    return status_fail(VECATTN_EINVAL, "paged cache truncate: sequence %" PRId64 " to %" PRId64 ": must be in 0..%" PRId64,
                       seq, len, s->len);
  drop_tail(c, s, (len + c->block_size - 1) / c->block_size);
  s->len = len;
  return VECATTN_OK;
}

vecattn_status vecattn_paged_cache_release(vecattn_paged_cache *c, int64_t seq) {
  vecattn_status st = paged_check_seq(c, seq, "paged cache release");
  if (st != VECATTN_OK) return st;
  drop_tail(c, &c->seqs[seq], 0);
  c->seqs[seq].len = 0;
  return VECATTN_OK;
}

vecattn_status vecattn_paged_cache_copy_seq(vecattn_paged_cache *c, int64_t src, int64_t dst) {
  vecattn_status st;
  if ((st = paged_check_seq(c, src, "paged cache copy_seq src")) != VECATTN_OK ||
      (st = paged_check_seq(c, dst, "paged cache copy_seq dst")) != VECATTN_OK)
    return st;
  if (src == dst) return VECATTN_OK;
  paged_seq *s = &c->seqs[src], *d = &c->seqs[dst];
  const int64_t bs = c->block_size, full = s->len / bs, partial = s->len % bs;
  if ((st = paged_seq_reserve(d, full + (partial > 0))) != VECATTN_OK) return st;
  /* Hold the shared blocks before dst lets go of its own, so none is freed
   * in between; the copy may use a block dst's release frees. */
  for (int64_t j = 0; j < full; ++j) paged_hold(c, s->blocks[j]);
  const int64_t old_n = d->n_blocks;
  for (int64_t j = old_n; j-- > 0;) paged_drop(c, d->blocks[j]);
  if (partial && c->free_count == 0) {
    /* No drop reached zero (nothing was freed): undoing the counts restores
     * the cache exactly. */
    for (int64_t j = 0; j < old_n; ++j) paged_hold(c, d->blocks[j]);
    for (int64_t j = 0; j < full; ++j) paged_drop(c, s->blocks[j]);
    return status_fail(VECATTN_ENOSPC, "paged cache full: copy_seq %" PRId64 " -> %" PRId64 " needs a block for its"
                       " last %" PRId64 " positions and none is free", src, dst, partial);
  }
  if (full) memcpy(d->blocks, s->blocks, (size_t)full * sizeof *d->blocks);
  if (partial) {
    const int32_t b = paged_take(c);
    copy_block_rows(c, s->blocks[full], b, partial);
    d->blocks[full] = b;
  }
  d->n_blocks = full + (partial > 0), d->len = s->len;
  return VECATTN_OK;
}

/* ---- read ---- */

vecattn_status vecattn_paged_cache_read(const vecattn_paged_cache *c, int64_t seq, int64_t pos0, int64_t n,
                                        void *k_out, vecattn_dtype k_type, void *v_out, vecattn_dtype v_type) {
  vecattn_status st = paged_check_seq(c, seq, "paged cache read");
  if (st != VECATTN_OK) return st;
  const paged_seq *s = &c->seqs[seq];
  if (pos0 < 0 || n < 0 || pos0 > s->len || n > s->len - pos0)
    return status_fail(VECATTN_EINVAL, "paged cache read: positions %" PRId64 " + %" PRId64 " past sequence %" PRId64
                       "'s length %" PRId64, pos0, n, seq, s->len);
  const vecattn_dtype types[2] = {k_type, v_type};
  void *const outs[2] = {k_out, v_out};
  check_span spans[2];
  if ((st = cache_read_outputs("paged cache read", c->n_kv_heads, c->head_dim, n, outs, types, spans)) != VECATTN_OK ||
      (outs[0] && (st = off_pools(c, "k_out", spans[0])) != VECATTN_OK) ||
      (outs[1] && (st = off_pools(c, "v_out", spans[1])) != VECATTN_OK))
    return st;
  const struct vecattn_kernels *kern = dispatch_active();
  const int64_t d = c->head_dim, bs = c->block_size;
  for (int i = 0; i < 2; ++i) {
    if (!outs[i]) continue;
    const vecattn_dtype from = i ? c->v_type : c->k_type, to = types[i];
    unsigned char *dst = outs[i];
    for (int64_t h = 0; h < c->n_kv_heads; ++h)
      for (int64_t p = pos0; p < pos0 + n;) { /* a block's positions of one head are contiguous */
        const int64_t b = s->blocks[p / bs], off = p % bs, run = bs - off < pos0 + n - p ? bs - off : pos0 + n - p;
        const void *src = i ? paged_value_row(c, b, h, off) : paged_key_row(c, b, h, off);
        copy_or_convert(kern, src, from, dst, to, run * d);
        dst += dt_bytes(to, run * d), p += run;
      }
  }
  return VECATTN_OK;
}
