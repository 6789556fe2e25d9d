/* The paged KV cache's operations against a model that keeps every
 * sequence's expected stored rows: append (every input type into every
 * stored type, copy on write after copy_seq and after set_seq sharing),
 * truncate, copy_seq, release, the slot-mapped write and read, at block
 * sizes 1, 3, 16, 32 and 128 on every ISA. After each operation every
 * sequence reads back as the model says and the free blocks are those no
 * table holds; every rejected call leaves the pools, tables and lengths as
 * they were. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

/* MAXP: positions a modelled sequence may reach; RANDOM_MAXP in the random walk. */
enum { HKV = 2, HD = 32, MAXS = 5, MAXP = 320, RANDOM_MAXP = 96 };

static const int64_t block_sizes[] = {1, 3, 16, 32, 128};
enum { N_BS = sizeof block_sizes / sizeof block_sizes[0] };

static size_t row_bytes(vecattn_dtype t) { return vecattn_dtype_bytes(t, HD); }

/* A cache and what each sequence must read back: model rows [seq][pos][h]. */
typedef struct {
  vecattn_paged_cache *c;
  int64_t bs, n_blocks;
  vecattn_dtype kt, vt;
  unsigned char *kpool, *vpool; /* caller-owned, or NULL */
  size_t kpool_bytes, vpool_bytes;
  unsigned char *km, *vm;
  int64_t len[MAXS];
} model;

static unsigned char *model_k(model *m, int64_t s, int64_t p, int64_t h) {
  return m->km + ((size_t)(s * MAXP + p) * HKV + (size_t)h) * row_bytes(m->kt);
}
static unsigned char *model_v(model *m, int64_t s, int64_t p, int64_t h) {
  return m->vm + ((size_t)(s * MAXP + p) * HKV + (size_t)h) * row_bytes(m->vt);
}

static void model_init(model *m, int64_t bs, int64_t n_blocks, vecattn_dtype kt, vecattn_dtype vt, int own_pools) {
  memset(m, 0, sizeof *m);
  m->bs = bs, m->n_blocks = n_blocks, m->kt = kt, m->vt = vt;
  vecattn_paged_cache_desc d = {n_blocks, bs, HKV, HD, kt, vt, MAXS, NULL, NULL};
  if (own_pools) {
    m->kpool_bytes = vecattn_dtype_bytes(kt, n_blocks * bs * HKV * HD);
    m->vpool_bytes = vecattn_dtype_bytes(vt, n_blocks * bs * HKV * HD);
    m->kpool = malloc(m->kpool_bytes), m->vpool = malloc(m->vpool_bytes);
    ck_assert(m->kpool && m->vpool);
    memset(m->kpool, 0x5a, m->kpool_bytes), memset(m->vpool, 0xa5, m->vpool_bytes);
    d.k_pool = m->kpool, d.v_pool = m->vpool;
  }
  ck_assert_int_eq(vecattn_paged_cache_create(&m->c, &d), VECATTN_OK);
  m->km = calloc((size_t)MAXS * MAXP * HKV, row_bytes(kt));
  m->vm = calloc((size_t)MAXS * MAXP * HKV, row_bytes(vt));
  ck_assert(m->km && m->vm);
}

static void model_free(model *m) {
  vecattn_paged_cache_destroy(m->c);
  free(m->kpool), free(m->vpool), free(m->km), free(m->vm);
}

/* Table entries per block over every sequence. */
static void count_holders(const model *m, int64_t *holders) {
  memset(holders, 0, (size_t)m->n_blocks * sizeof *holders);
  for (int64_t s = 0; s < MAXS; ++s) {
    const int32_t *t;
    int64_t n;
    ck_assert_int_eq(vecattn_paged_cache_table(m->c, s, &t, &n), VECATTN_OK);
    for (int64_t j = 0; j < n; ++j) {
      ck_assert(t[j] >= 0 && t[j] < m->n_blocks);
      holders[t[j]]++;
    }
  }
}

static const vecattn_dtype other_type[VECATTN_DTYPE_COUNT] = {VECATTN_BF16, VECATTN_Q8_0, VECATTN_F16, VECATTN_F16};

/* Every sequence reads back as modelled: stored bytes, f32 and one more type
 * as vecattn_convert converts; free blocks are those no table holds. */
static void model_check(model *m, const char *label) {
  static unsigned char kb[4 * HKV * MAXP * HD], vb[4 * HKV * MAXP * HD], want[4 * HKV * MAXP * HD];
  for (int64_t s = 0; s < MAXS; ++s) {
    const int64_t n = m->len[s];
    ck_assert_msg(vecattn_paged_cache_seq_len(m->c, s) == n, "%s: seq %lld len %lld, want %lld", label, (long long)s,
                  (long long)vecattn_paged_cache_seq_len(m->c, s), (long long)n);
    const int32_t *t;
    int64_t nb;
    ck_assert_int_eq(vecattn_paged_cache_table(m->c, s, &t, &nb), VECATTN_OK);
    ck_assert_msg(nb * m->bs >= n, "%s: seq %lld: %lld blocks for %lld positions", label, (long long)s, (long long)nb,
                  (long long)n);
    if (n == 0) continue;
    for (int pass = 0; pass < 3; ++pass) {
      const vecattn_dtype kt = pass == 0 ? m->kt : pass == 1 ? VECATTN_F32 : other_type[m->kt];
      const vecattn_dtype vt = pass == 0 ? m->vt : pass == 1 ? VECATTN_F32 : other_type[m->vt];
      ck_assert_int_eq(vecattn_paged_cache_read(m->c, s, 0, n, kb, kt, vb, vt), VECATTN_OK);
      for (int which = 0; which < 2; ++which) {
        const vecattn_dtype from = which ? m->vt : m->kt, to = which ? vt : kt;
        const size_t out_row = vecattn_dtype_bytes(to, HD);
        for (int64_t h = 0; h < HKV; ++h)
          for (int64_t p = 0; p < n; ++p) {
            const unsigned char *src = which ? model_v(m, s, p, h) : model_k(m, s, p, h);
            unsigned char *w = want + (size_t)(h * n + p) * out_row;
            if (from == to)
              memcpy(w, src, out_row);
            else
              ck_assert_int_eq(vecattn_convert(src, from, w, to, HD), VECATTN_OK);
          }
        ck_assert_msg(memcmp(which ? vb : kb, want, out_row * (size_t)(HKV * n)) == 0,
                      "%s: seq %lld %s read as %s differs from the model", label, (long long)s, which ? "V" : "K",
                      vecattn_dtype_name(to));
      }
    }
    /* A window in the middle: positions [p0, p0 + k). */
    const int64_t p0 = tu_rand_int(0, n - 1), k = tu_rand_int(0, n - p0);
    ck_assert_int_eq(vecattn_paged_cache_read(m->c, s, p0, k, kb, m->kt, NULL, VECATTN_F32), VECATTN_OK);
    for (int64_t h = 0; h < HKV; ++h)
      for (int64_t p = 0; p < k; ++p)
        ck_assert(memcmp(kb + (size_t)(h * k + p) * row_bytes(m->kt), model_k(m, s, p0 + p, h), row_bytes(m->kt)) == 0);
  }
  int64_t *holders = malloc((size_t)m->n_blocks * sizeof *holders);
  count_holders(m, holders);
  int64_t free_blocks = 0;
  for (int64_t b = 0; b < m->n_blocks; ++b) free_blocks += holders[b] == 0;
  free(holders);
  ck_assert_msg(vecattn_paged_cache_free_blocks(m->c) == free_blocks, "%s: free_blocks %lld, want %lld", label,
                (long long)vecattn_paged_cache_free_blocks(m->c), (long long)free_blocks);
  ck_assert_int_eq(vecattn_paged_cache_capacity(m->c), m->n_blocks * m->bs);
}

/* Everything a rejected call must leave alone. */
typedef struct {
  unsigned char *k, *v;
  int32_t *tables[MAXS];
  int64_t n[MAXS], len[MAXS], free_blocks;
} snap;

static void snap_take(const model *m, snap *s) {
  s->k = m->kpool ? tu_snapshot(m->kpool, m->kpool_bytes) : NULL;
  s->v = m->vpool ? tu_snapshot(m->vpool, m->vpool_bytes) : NULL;
  for (int64_t q = 0; q < MAXS; ++q) {
    const int32_t *t;
    ck_assert_int_eq(vecattn_paged_cache_table(m->c, q, &t, &s->n[q]), VECATTN_OK);
    s->tables[q] = s->n[q] ? tu_snapshot(t, (size_t)s->n[q] * sizeof *t) : calloc(1, 1);
    s->len[q] = vecattn_paged_cache_seq_len(m->c, q);
  }
  s->free_blocks = vecattn_paged_cache_free_blocks(m->c);
}

static void snap_same(const model *m, snap *s, const char *label) {
  if (m->kpool) ck_assert_msg(memcmp(s->k, m->kpool, m->kpool_bytes) == 0, "%s: K pool changed", label);
  if (m->vpool) ck_assert_msg(memcmp(s->v, m->vpool, m->vpool_bytes) == 0, "%s: V pool changed", label);
  for (int64_t q = 0; q < MAXS; ++q) {
    const int32_t *t;
    int64_t n;
    ck_assert_int_eq(vecattn_paged_cache_table(m->c, q, &t, &n), VECATTN_OK);
    ck_assert_msg(n == s->n[q] && (n == 0 || memcmp(t, s->tables[q], (size_t)n * sizeof *t) == 0), "%s: table %lld changed",
                  label, (long long)q);
    ck_assert_msg(vecattn_paged_cache_seq_len(m->c, q) == s->len[q], "%s: length %lld changed", label, (long long)q);
    free(s->tables[q]);
  }
  ck_assert_msg(vecattn_paged_cache_free_blocks(m->c) == s->free_blocks, "%s: free blocks changed", label);
  free(s->k), free(s->v);
}

/* New rows: packed [rows][HKV][HD] of type `in`, and the rows the cache must
 * store for them (`stored`), [rows][HKV]. */
typedef struct {
  void *k, *v;
  vecattn_dtype kin, vin;
  unsigned char *k_want, *v_want;
  int64_t rows;
  vecattn_tensor kt, vt;
} new_rows;

static void *typed_rows(vecattn_dtype in, vecattn_dtype stored, int64_t rows, unsigned char **want) {
  const int64_t n = rows * HKV * HD;
  float *f = malloc((size_t)n * sizeof *f);
  void *buf = malloc(vecattn_dtype_bytes(in, n));
  *want = malloc(vecattn_dtype_bytes(stored, n));
  ck_assert(f && buf && *want);
  tu_fill_normal(f, (size_t)n);
  if (in == VECATTN_F32)
    memcpy(buf, f, (size_t)n * sizeof *f);
  else
    ck_assert_int_eq(vecattn_convert(f, VECATTN_F32, buf, in, n), VECATTN_OK);
  for (int64_t r = 0; r < rows * HKV; ++r) {
    const unsigned char *src = (const unsigned char *)buf + vecattn_dtype_bytes(in, r * HD);
    unsigned char *dst = *want + vecattn_dtype_bytes(stored, r * HD);
    if (in == stored) /* the cache's own type: stored as given */
      memcpy(dst, src, vecattn_dtype_bytes(in, HD));
    else
      ck_assert_int_eq(vecattn_convert(src, in, dst, stored, HD), VECATTN_OK);
  }
  free(f);
  return buf;
}

/* Input types: f32, f16, bf16 or the stored type, rotating with `pick`. */
static vecattn_dtype input_type(vecattn_dtype stored, int64_t pick) {
  const vecattn_dtype choice[4] = {VECATTN_F32, VECATTN_F16, VECATTN_BF16, stored};
  return choice[pick % 4];
}

static void rows_make(new_rows *r, const model *m, int64_t rows, int64_t pick) {
  r->rows = rows;
  r->kin = input_type(m->kt, pick), r->vin = input_type(m->vt, pick + 1);
  r->k = typed_rows(r->kin, m->kt, rows, &r->k_want);
  r->v = typed_rows(r->vin, m->vt, rows, &r->v_want);
  r->kt = vecattn_tensor_bshd_typed(r->k, r->kin, 1, rows, HKV, HD);
  r->vt = vecattn_tensor_bshd_typed(r->v, r->vin, 1, rows, HKV, HD);
}

static void rows_free(new_rows *r) { free(r->k), free(r->v), free(r->k_want), free(r->v_want); }

/* Row `row` of the new rows lands at position pos of seq s in the model. */
static void model_put(model *m, const new_rows *r, int64_t row, int64_t s, int64_t pos) {
  for (int64_t h = 0; h < HKV; ++h) {
    memcpy(model_k(m, s, pos, h), r->k_want + (size_t)(row * HKV + h) * row_bytes(m->kt), row_bytes(m->kt));
    memcpy(model_v(m, s, pos, h), r->v_want + (size_t)(row * HKV + h) * row_bytes(m->vt), row_bytes(m->vt));
  }
}

/* Blocks an append of add[s] rows to each sequence needs: entries past the
 * tables, and a copy of every written entry whose block another entry holds. */
static int64_t blocks_needed(const model *m, const int64_t *add) {
  int64_t *holders = malloc((size_t)m->n_blocks * sizeof *holders);
  count_holders(m, holders);
  int64_t need = 0;
  for (int64_t s = 0; s < MAXS; ++s) {
    if (!add[s]) continue;
    const int32_t *t;
    int64_t nb;
    ck_assert_int_eq(vecattn_paged_cache_table(m->c, s, &t, &nb), VECATTN_OK);
    const int64_t first = m->len[s] / m->bs, end = (m->len[s] + add[s] + m->bs - 1) / m->bs;
    for (int64_t j = first; j < end; ++j) need += j >= nb || holders[t[j]] > 1;
  }
  free(holders);
  return need;
}

/* Appends to n sequences ids[] add[ids[i]] rows each, in one call. */
static void do_append(model *m, const int32_t *ids, int64_t n, const int64_t *add_by_seq, int64_t pick,
                      const char *label) {
  int32_t cu[MAXS + 1] = {0};
  for (int64_t i = 0; i < n; ++i) cu[i + 1] = cu[i] + (int32_t)add_by_seq[ids[i]];
  const int64_t spare = tu_rand_int(0, 2); /* rows past cu[n] are not read */
  new_rows r;
  rows_make(&r, m, cu[n] + spare > 0 ? cu[n] + spare : 1, pick);
  int64_t add[MAXS] = {0};
  for (int64_t i = 0; i < n; ++i) add[ids[i]] = add_by_seq[ids[i]];
  const int64_t need = blocks_needed(m, add);
  snap before;
  snap_take(m, &before);
  const vecattn_status st = vecattn_paged_cache_append(m->c, ids, cu, n, &r.kt, &r.vt);
  if (need > before.free_blocks) {
    ck_assert_msg(st == VECATTN_ENOSPC, "%s: append needing %lld of %lld free blocks: %s", label, (long long)need,
                  (long long)before.free_blocks, vecattn_strerror(st));
    ck_assert(strstr(vecattn_last_error(), "full") != NULL);
    snap_same(m, &before, label);
  } else {
    ck_assert_msg(st == VECATTN_OK, "%s: append: %s (%s)", label, vecattn_strerror(st), vecattn_last_error());
    for (int q = 0; q < MAXS; ++q) free(before.tables[q]);
    free(before.k), free(before.v);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < add[ids[i]]; ++j) model_put(m, &r, cu[i] + j, ids[i], m->len[ids[i]] + j);
    for (int64_t i = 0; i < n; ++i) m->len[ids[i]] += add[ids[i]];
  }
  rows_free(&r);
}

/* n distinct random sequence ids. */
static void pick_ids(int32_t *ids, int64_t n) {
  int32_t all[MAXS];
  for (int i = 0; i < MAXS; ++i) all[i] = i;
  for (int i = MAXS - 1; i > 0; --i) {
    const int j = (int)tu_rand_int(0, i), t = all[i];
    all[i] = all[j], all[j] = t;
  }
  memcpy(ids, all, (size_t)n * sizeof *ids);
}

static void copy_model_seq(model *m, int64_t src, int64_t dst, int64_t len) {
  memcpy(model_k(m, dst, 0, 0), model_k(m, src, 0, 0), (size_t)len * HKV * row_bytes(m->kt));
  memcpy(model_v(m, dst, 0, 0), model_v(m, src, 0, 0), (size_t)len * HKV * row_bytes(m->vt));
  m->len[dst] = len;
}

/* One random operation; the model follows it. */
static void random_op(model *m, int64_t step) {
  char label[96];
  const int op = (int)tu_rand_int(0, 9);
  if (op <= 4) { /* append to 1..3 sequences, some with no rows */
    const int64_t n = tu_rand_int(1, 3);
    int32_t ids[MAXS];
    int64_t add[MAXS] = {0};
    pick_ids(ids, n);
    for (int64_t i = 0; i < n; ++i) {
      const int64_t room = RANDOM_MAXP - m->len[ids[i]], most = 2 * m->bs + 3 < 20 ? 2 * m->bs + 3 : 20;
      add[ids[i]] = tu_rand_int(0, room < most ? room : most);
    }
    snprintf(label, sizeof label, "step %lld append", (long long)step);
    do_append(m, ids, n, add, step, label);
    return;
  }
  const int64_t s = tu_rand_int(0, MAXS - 1), d = tu_rand_int(0, MAXS - 1);
  if (op <= 6) { /* truncate: a draft rolled back */
    const int64_t len = tu_rand_int(0, m->len[s]);
    ck_assert_int_eq(vecattn_paged_cache_truncate(m->c, s, len), VECATTN_OK);
    m->len[s] = len;
    const int32_t *t;
    int64_t nb;
    ck_assert_int_eq(vecattn_paged_cache_table(m->c, s, &t, &nb), VECATTN_OK);
    ck_assert_int_eq(nb, (len + m->bs - 1) / m->bs); /* blocks past it went back */
  } else if (op == 7) { /* copy_seq: a beam forked */
    int64_t *holders = malloc((size_t)m->n_blocks * sizeof *holders);
    count_holders(m, holders);
    const int32_t *ts, *td;
    int64_t ns, nd;
    ck_assert_int_eq(vecattn_paged_cache_table(m->c, s, &ts, &ns), VECATTN_OK);
    ck_assert_int_eq(vecattn_paged_cache_table(m->c, d, &td, &nd), VECATTN_OK);
    if (s != d) {
      for (int64_t j = 0; j < nd; ++j) holders[td[j]]--;
      for (int64_t j = 0; j < m->len[s] / m->bs; ++j) holders[ts[j]]++;
    }
    int64_t free_after = 0;
    for (int64_t b = 0; b < m->n_blocks; ++b) free_after += holders[b] == 0;
    free(holders);
    const int enospc = s != d && m->len[s] % m->bs != 0 && free_after == 0;
    snap before;
    snap_take(m, &before);
    const vecattn_status st = vecattn_paged_cache_copy_seq(m->c, s, d);
    snprintf(label, sizeof label, "step %lld copy_seq %lld -> %lld", (long long)step, (long long)s, (long long)d);
    if (enospc) {
      ck_assert_int_eq(st, VECATTN_ENOSPC);
      snap_same(m, &before, label);
    } else {
      ck_assert_msg(st == VECATTN_OK, "%s: %s", label, vecattn_last_error());
      for (int q = 0; q < MAXS; ++q) free(before.tables[q]);
      free(before.k), free(before.v);
      if (s != d) copy_model_seq(m, s, d, m->len[s]);
    }
  } else if (op == 8) { /* set_seq: d shares s's blocks (a common prefix), maybe shorter */
    const int32_t *ts;
    int64_t ns;
    ck_assert_int_eq(vecattn_paged_cache_table(m->c, s, &ts, &ns), VECATTN_OK);
    const int64_t len = tu_rand_int(0, m->len[s]), nb = (len + m->bs - 1) / m->bs;
    int32_t *copy = malloc((size_t)(nb ? nb : 1) * sizeof *copy);
    if (nb) memcpy(copy, ts, (size_t)nb * sizeof *copy);
    ck_assert_int_eq(vecattn_paged_cache_set_seq(m->c, d, copy, nb, len), VECATTN_OK);
    free(copy);
    if (s != d) copy_model_seq(m, s, d, len);
    m->len[d] = len;
  } else { /* release */
    ck_assert_int_eq(vecattn_paged_cache_release(m->c, s), VECATTN_OK);
    m->len[s] = 0;
    ck_assert_int_eq(vecattn_paged_cache_seq_len(m->c, s), 0);
  }
  snprintf(label, sizeof label, "step %lld op %d", (long long)step, op);
  model_check(m, label);
}

/* Random appends, truncations, copies, shares and releases: the model holds. */
START_TEST(test_random_ops) {
  const int steps = tu_emulated() ? 25 : 60;
  TU_FOR_EACH_ISA(isa) {
    for (int bi = 0; bi < N_BS; ++bi)
      for (int ti = 0; ti < VECATTN_DTYPE_COUNT; ++ti) {
        tu_reseed(0x9A6Eu + (uint64_t)(isa * 1000 + bi * 10 + ti));
        const int64_t bs = block_sizes[bi];
        /* Room for about 2.5 full sequences: appends run out now and then. */
        const int64_t n_blocks = (5 * RANDOM_MAXP / 2 + bs - 1) / bs;
        model m;
        model_init(&m, bs, n_blocks, (vecattn_dtype)ti, (vecattn_dtype)((ti + 1) % VECATTN_DTYPE_COUNT), ti % 2);
        for (int step = 0; step < steps; ++step) random_op(&m, step);
        model_free(&m);
      }
  }
}
END_TEST

/* Copy on write: after copy_seq and after set_seq sharing, appending to one
 * sequence never changes the other; block counts as expected. */
START_TEST(test_copy_on_write) {
  TU_FOR_EACH_ISA(isa) {
    for (int bi = 0; bi < N_BS; ++bi) {
      tu_reseed(0xC0Bu + (uint64_t)(isa * 100 + bi));
      const int64_t bs = block_sizes[bi];
      model m;
      model_init(&m, bs, 2 * MAXP / bs + 4, VECATTN_F16, VECATTN_Q8_0, bi % 2);
      const int64_t total = m.n_blocks;
      /* A prefix that ends inside a block (block size 1: every block is full). */
      const int64_t L = bs == 1 ? 7 : bs + bs / 2 + 1;
      const int32_t zero[1] = {0};
      int64_t add[MAXS] = {L};
      do_append(&m, zero, 1, add, 0, "prefix");
      const int64_t full = L / bs, partial = L % bs != 0;
      ck_assert_int_eq(vecattn_paged_cache_free_blocks(m.c), total - full - partial);
      ck_assert_int_eq(vecattn_paged_cache_copy_seq(m.c, 0, 1), VECATTN_OK);
      copy_model_seq(&m, 0, 1, L);
      /* Full blocks shared, the partial one copied. */
      ck_assert_int_eq(vecattn_paged_cache_free_blocks(m.c), total - full - 2 * partial);
      const int32_t *t0, *t1;
      int64_t n0, n1;
      ck_assert_int_eq(vecattn_paged_cache_table(m.c, 0, &t0, &n0), VECATTN_OK);
      ck_assert_int_eq(vecattn_paged_cache_table(m.c, 1, &t1, &n1), VECATTN_OK);
      ck_assert_int_eq(n0, n1);
      ck_assert(memcmp(t0, t1, (size_t)full * sizeof *t0) == 0);
      if (partial) ck_assert_int_ne(t0[full], t1[full]);
      model_check(&m, "after copy_seq");
      /* Both beams go on differently. */
      const int32_t one[1] = {1};
      int64_t add1[MAXS] = {0, 2};
      do_append(&m, one, 1, add1, 1, "beam 1");
      model_check(&m, "beam 1 appended");
      add1[1] = 0, add1[0] = 3;
      do_append(&m, zero, 1, add1, 2, "beam 0");
      model_check(&m, "beam 0 appended");
      /* set_seq: seq 2 shares seq 0's blocks up to a length inside a shared
       * block, so its append must copy that block first. */
      ck_assert_int_eq(vecattn_paged_cache_table(m.c, 0, &t0, &n0), VECATTN_OK);
      const int64_t L2 = bs == 1 ? 4 : bs / 2 + 1, n2 = (L2 + bs - 1) / bs;
      const int64_t free_before = vecattn_paged_cache_free_blocks(m.c);
      ck_assert_int_eq(vecattn_paged_cache_set_seq(m.c, 2, t0, n2, L2), VECATTN_OK);
      copy_model_seq(&m, 0, 2, L2);
      ck_assert_int_eq(vecattn_paged_cache_free_blocks(m.c), free_before);
      int64_t add2[MAXS] = {0, 0, 2};
      const int32_t two[1] = {2};
      do_append(&m, two, 1, add2, 3, "shared by set_seq");
      model_check(&m, "after set_seq sharing");
      /* Seq 0 and seq 3 share everything, both append in one call: each copies. */
      ck_assert_int_eq(vecattn_paged_cache_copy_seq(m.c, 0, 3), VECATTN_OK);
      copy_model_seq(&m, 0, 3, m.len[0]);
      ck_assert_int_eq(vecattn_paged_cache_table(m.c, 0, &t0, &n0), VECATTN_OK);
      ck_assert_int_eq(vecattn_paged_cache_set_seq(m.c, 3, t0, n0, m.len[0]), VECATTN_OK);
      const int32_t both[2] = {3, 0};
      int64_t add3[MAXS] = {1, 0, 0, 2};
      do_append(&m, both, 2, add3, 4, "both sharers");
      model_check(&m, "both sharers appended");
      model_free(&m);
    }
  }
}
END_TEST

/* Truncate then append equals never having appended the draft: the same rows
 * and the same blocks back; release returns every block. */
START_TEST(test_truncate_round_trip) {
  for (int bi = 0; bi < N_BS; ++bi) {
    tu_reseed(0x7C4u + (uint64_t)bi);
    const int64_t bs = block_sizes[bi];
    model a, b;
    model_init(&a, bs, 2 * MAXP / bs + 4, VECATTN_BF16, VECATTN_F32, 0);
    model_init(&b, bs, 2 * MAXP / bs + 4, VECATTN_BF16, VECATTN_F32, 0);
    const int32_t zero[1] = {0};
    int64_t add[MAXS] = {bs + 2};
    tu_reseed(1);
    do_append(&a, zero, 1, add, 0, "a prefix");
    tu_reseed(1);
    do_append(&b, zero, 1, add, 0, "b prefix");
    const int64_t L = a.len[0];
    int64_t draft[MAXS] = {bs + 1};
    do_append(&a, zero, 1, draft, 1, "draft");
    ck_assert_int_eq(vecattn_paged_cache_truncate(a.c, 0, L + 1 + a.len[0]), VECATTN_EINVAL);
    ck_assert_int_eq(vecattn_paged_cache_truncate(a.c, 0, -1), VECATTN_EINVAL);
    ck_assert_int_eq(vecattn_paged_cache_truncate(a.c, 0, L), VECATTN_OK);
    a.len[0] = L;
    ck_assert_int_eq(vecattn_paged_cache_free_blocks(a.c), vecattn_paged_cache_free_blocks(b.c));
    int64_t next[MAXS] = {3};
    tu_reseed(2);
    do_append(&a, zero, 1, next, 2, "a next");
    tu_reseed(2);
    do_append(&b, zero, 1, next, 2, "b next");
    model_check(&a, "a"), model_check(&b, "b");
    const int32_t *ta, *tb;
    int64_t na, nb;
    ck_assert_int_eq(vecattn_paged_cache_table(a.c, 0, &ta, &na), VECATTN_OK);
    ck_assert_int_eq(vecattn_paged_cache_table(b.c, 0, &tb, &nb), VECATTN_OK);
    ck_assert_int_eq(na, nb);
    ck_assert(memcmp(ta, tb, (size_t)na * sizeof *ta) == 0);
    /* Copy then truncate the copy: the source keeps everything. */
    ck_assert_int_eq(vecattn_paged_cache_copy_seq(a.c, 0, 1), VECATTN_OK);
    copy_model_seq(&a, 0, 1, a.len[0]);
    ck_assert_int_eq(vecattn_paged_cache_truncate(a.c, 1, 1), VECATTN_OK);
    a.len[1] = 1;
    model_check(&a, "copy truncated");
    ck_assert_int_eq(vecattn_paged_cache_copy_seq(a.c, 1, 1), VECATTN_OK); /* itself: no-op */
    model_check(&a, "self copy");
    ck_assert_int_eq(vecattn_paged_cache_release(a.c, 0), VECATTN_OK);
    ck_assert_int_eq(vecattn_paged_cache_release(a.c, 1), VECATTN_OK);
    a.len[0] = a.len[1] = 0;
    ck_assert_int_eq(vecattn_paged_cache_free_blocks(a.c), a.n_blocks);
    model_check(&a, "released");
    model_free(&a), model_free(&b);
  }
}
END_TEST

/* Appends that do not fit: ENOSPC with nothing changed, including when only
 * the copy of a shared block is missing; copy_seq without a free block. */
START_TEST(test_enospc) {
  tu_reseed(0xE5Cu);
  for (int bi = 1; bi < N_BS; ++bi) { /* block size 1 has no partly filled blocks */
    const int64_t bs = block_sizes[bi];
    model m;
    model_init(&m, bs, 4, VECATTN_F32, VECATTN_F16, 1);
    const int32_t zero[1] = {0}, both[2] = {0, 1};
    int64_t add[MAXS] = {bs + 1};
    do_append(&m, zero, 1, add, 0, "two blocks");
    ck_assert_int_eq(vecattn_paged_cache_copy_seq(m.c, 0, 1), VECATTN_OK); /* the third block */
    copy_model_seq(&m, 0, 1, m.len[0]);
    ck_assert_int_eq(vecattn_paged_cache_free_blocks(m.c), 1);
    /* Seq 0 needs one new block, seq 1 one more: two, one free. */
    int64_t add2[MAXS] = {bs, bs};
    snap before;
    snap_take(&m, &before);
    new_rows r;
    rows_make(&r, &m, 2 * bs, 0);
    const int32_t cu[3] = {0, (int32_t)bs, (int32_t)(2 * bs)};
    ck_assert_int_eq(vecattn_paged_cache_append(m.c, both, cu, 2, &r.kt, &r.vt), VECATTN_ENOSPC);
    snap_same(&m, &before, "two blocks needed, one free");
    rows_free(&r);
    do_append(&m, both, 2, add2, 1, "two blocks needed, one free (model)");
    /* Fill the last block: seq 0 grows into it. */
    int64_t add3[MAXS] = {bs};
    do_append(&m, zero, 1, add3, 2, "last block");
    ck_assert_int_eq(vecattn_paged_cache_free_blocks(m.c), 0);
    /* Seq 2 shares seq 1's partly filled block: its append needs a copy, and none is free. */
    const int32_t *t1;
    int64_t n1;
    ck_assert_int_eq(vecattn_paged_cache_table(m.c, 1, &t1, &n1), VECATTN_OK);
    ck_assert_int_eq(vecattn_paged_cache_set_seq(m.c, 2, t1, n1, m.len[1]), VECATTN_OK);
    copy_model_seq(&m, 1, 2, m.len[1]);
    const int32_t two[1] = {2};
    int64_t add4[MAXS] = {0, 0, 1};
    do_append(&m, two, 1, add4, 3, "copy on write without a free block");
    ck_assert_int_eq(m.len[2], bs + 1); /* refused */
    snap_take(&m, &before);
    ck_assert_int_eq(vecattn_paged_cache_copy_seq(m.c, 1, 3), VECATTN_ENOSPC);
    snap_same(&m, &before, "copy_seq without a free block");
    /* Releasing seq 1 frees nothing (seq 2 holds its blocks); releasing seq 0 frees two. */
    ck_assert_int_eq(vecattn_paged_cache_release(m.c, 1), VECATTN_OK);
    m.len[1] = 0;
    ck_assert_int_eq(vecattn_paged_cache_free_blocks(m.c), 0);
    /* copy_seq onto a sequence whose release frees the block the copy needs. */
    ck_assert_int_eq(vecattn_paged_cache_copy_seq(m.c, 2, 0), VECATTN_OK);
    copy_model_seq(&m, 2, 0, m.len[2]);
    model_check(&m, "enospc");
    model_free(&m);
  }
}
END_TEST

/* Every EINVAL the header lists, with the pools, tables and lengths unchanged
 * and a message saying why. */
static void expect_einval(model *m, vecattn_status st, const char *what) {
  ck_assert_msg(st == VECATTN_EINVAL, "%s: %s, not EINVAL", what, vecattn_strerror(st));
  ck_assert_msg(vecattn_last_error()[0] != '\0', "%s: no message", what);
  if (tu_verbose()) printf("%s: %s\n", what, vecattn_last_error());
  (void)m;
}

START_TEST(test_einval) {
  tu_reseed(0xE1Au);
  model m;
  model_init(&m, 3, 20, VECATTN_F16, VECATTN_Q8_0, 1);
  const int32_t ids[2] = {0, 1};
  int64_t add[MAXS] = {4, 5};
  do_append(&m, ids, 2, add, 0, "setup");
  snap before;
  snap_take(&m, &before);
  new_rows r;
  rows_make(&r, &m, 6, 0);
  const int32_t cu[3] = {0, 2, 6};
  vecattn_paged_cache *c = m.c;
  /* append */
  expect_einval(&m, vecattn_paged_cache_append(NULL, ids, cu, 2, &r.kt, &r.vt), "append NULL cache");
  expect_einval(&m, vecattn_paged_cache_append(c, NULL, cu, 2, &r.kt, &r.vt), "append NULL seq_ids");
  expect_einval(&m, vecattn_paged_cache_append(c, ids, NULL, 2, &r.kt, &r.vt), "append NULL cu_new");
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, 2, NULL, &r.vt), "append NULL k_new");
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, 2, &r.kt, NULL), "append NULL v_new");
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, -1, &r.kt, &r.vt), "append n_seqs < 0");
  const int32_t bad_ids[4][2] = {{0, MAXS}, {-1, 0}, {1, 1}, {0, 0}};
  for (int i = 0; i < 4; ++i)
    expect_einval(&m, vecattn_paged_cache_append(c, bad_ids[i], cu, 2, &r.kt, &r.vt), "append bad seq id");
  const int32_t bad_cu[3][3] = {{1, 2, 6}, {0, 4, 3}, {0, 2, 7}};
  for (int i = 0; i < 3; ++i)
    expect_einval(&m, vecattn_paged_cache_append(c, ids, bad_cu[i], 2, &r.kt, &r.vt), "append bad cu_new");
  vecattn_tensor bad = r.kt;
  bad.shape[1] = 1;
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, 2, &bad, &r.vt), "append k_new heads");
  bad = r.vt, bad.shape[3] = 16, bad.dtype = VECATTN_F32;
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, 2, &r.kt, &bad), "append v_new head_dim");
  bad = r.kt, bad.shape[0] = 2;
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, 2, &bad, &r.vt), "append batch 2");
  bad = r.vt, bad.shape[2] = 5;
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, 2, &r.kt, &bad), "append k and v rows differ");
  unsigned char q8[6 * HKV * 34];
  memset(q8, 0, sizeof q8);
  vecattn_tensor q8t = vecattn_tensor_bshd_typed(q8, VECATTN_Q8_0, 1, 6, HKV, HD);
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, 2, &q8t, &r.vt), "append q8_0 into an f16 cache");
  vecattn_tensor in_pool = vecattn_tensor_bshd_typed(m.kpool + 64, VECATTN_F16, 1, 6, HKV, HD);
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, 2, &in_pool, &r.vt), "append k_new inside the K pool");
  in_pool = vecattn_tensor_bshd_typed(m.vpool, VECATTN_F16, 1, 6, HKV, HD);
  expect_einval(&m, vecattn_paged_cache_append(c, ids, cu, 2, &r.kt, &in_pool), "append v_new inside the V pool");
  /* write */
  const int64_t slots[6] = {0, 1, 2, 30, 31, 59}, dup[6] = {0, 1, 2, 30, 2, 59};
  const int64_t out_of_pool[2][6] = {{0, 1, 2, 3, 4, 60}, {-1, 1, 2, 3, 4, 5}};
  expect_einval(&m, vecattn_paged_cache_write(NULL, &r.kt, &r.vt, slots, 6), "write NULL cache");
  expect_einval(&m, vecattn_paged_cache_write(c, NULL, &r.vt, slots, 6), "write NULL k_new");
  expect_einval(&m, vecattn_paged_cache_write(c, &r.kt, &r.vt, NULL, 6), "write NULL slots");
  expect_einval(&m, vecattn_paged_cache_write(c, &r.kt, &r.vt, slots, -1), "write n_tokens < 0");
  expect_einval(&m, vecattn_paged_cache_write(c, &r.kt, &r.vt, slots, 5), "write rows != n_tokens");
  expect_einval(&m, vecattn_paged_cache_write(c, &r.kt, &r.vt, dup, 6), "write two rows to one slot");
  for (int i = 0; i < 2; ++i)
    expect_einval(&m, vecattn_paged_cache_write(c, &r.kt, &r.vt, out_of_pool[i], 6), "write slot outside the pool");
  bad = r.kt, bad.shape[1] = 3;
  expect_einval(&m, vecattn_paged_cache_write(c, &bad, &r.vt, slots, 6), "write k_new heads");
  expect_einval(&m, vecattn_paged_cache_write(c, &r.kt, &r.vt, (const int64_t *)(void *)m.kpool, 6),
                "write slots inside the K pool");
  /* set_seq */
  const int32_t blocks[2] = {3, 4}, bad_block[2] = {3, 20}, neg_block[2] = {-1, 3};
  expect_einval(&m, vecattn_paged_cache_set_seq(c, MAXS, blocks, 2, 6), "set_seq seq out of range");
  expect_einval(&m, vecattn_paged_cache_set_seq(c, 2, bad_block, 2, 6), "set_seq block outside the pool");
  expect_einval(&m, vecattn_paged_cache_set_seq(c, 2, neg_block, 2, 6), "set_seq negative block");
  expect_einval(&m, vecattn_paged_cache_set_seq(c, 2, blocks, -1, 0), "set_seq n_blocks < 0");
  expect_einval(&m, vecattn_paged_cache_set_seq(c, 2, blocks, 2, 7), "set_seq len past the blocks");
  expect_einval(&m, vecattn_paged_cache_set_seq(c, 2, blocks, 2, -1), "set_seq len < 0");
  expect_einval(&m, vecattn_paged_cache_set_seq(c, 2, NULL, 2, 0), "set_seq NULL blocks");
  /* truncate, copy_seq, release */
  expect_einval(&m, vecattn_paged_cache_truncate(c, 0, 5), "truncate past the length");
  expect_einval(&m, vecattn_paged_cache_truncate(c, 0, -1), "truncate to < 0");
  expect_einval(&m, vecattn_paged_cache_truncate(c, -1, 0), "truncate seq out of range");
  expect_einval(&m, vecattn_paged_cache_truncate(NULL, 0, 0), "truncate NULL cache");
  expect_einval(&m, vecattn_paged_cache_copy_seq(c, 0, MAXS), "copy_seq dst out of range");
  expect_einval(&m, vecattn_paged_cache_copy_seq(c, -1, 0), "copy_seq src out of range");
  expect_einval(&m, vecattn_paged_cache_copy_seq(NULL, 0, 1), "copy_seq NULL cache");
  expect_einval(&m, vecattn_paged_cache_release(c, MAXS), "release seq out of range");
  expect_einval(&m, vecattn_paged_cache_release(NULL, 0), "release NULL cache");
  /* read */
  float out[2 * HKV * 8 * HD];
  tu_poison(out, sizeof out / sizeof *out);
  expect_einval(&m, vecattn_paged_cache_read(c, 0, 2, 3, out, VECATTN_F32, NULL, VECATTN_F32), "read past the length");
  expect_einval(&m, vecattn_paged_cache_read(c, 0, -1, 1, out, VECATTN_F32, NULL, VECATTN_F32), "read pos0 < 0");
  expect_einval(&m, vecattn_paged_cache_read(c, 0, 0, -1, out, VECATTN_F32, NULL, VECATTN_F32), "read n < 0");
  expect_einval(&m, vecattn_paged_cache_read(c, MAXS, 0, 1, out, VECATTN_F32, NULL, VECATTN_F32), "read seq out of range");
  expect_einval(&m, vecattn_paged_cache_read(c, 0, 0, 1, NULL, VECATTN_F32, NULL, VECATTN_F32), "read no outputs");
  expect_einval(&m, vecattn_paged_cache_read(c, 0, 0, 1, out, (vecattn_dtype)7, NULL, VECATTN_F32), "read bad type");
  expect_einval(&m, vecattn_paged_cache_read(c, 0, 0, 2, out, VECATTN_F32, out + 8, VECATTN_F32), "read outputs overlap");
  expect_einval(&m, vecattn_paged_cache_read(c, 0, 0, 2, m.vpool, VECATTN_F32, NULL, VECATTN_F32), "read into the V pool");
  expect_einval(&m, vecattn_paged_cache_read(NULL, 0, 0, 1, out, VECATTN_F32, NULL, VECATTN_F32), "read NULL cache");
  for (size_t i = 0; i < sizeof out / sizeof *out; ++i) ck_assert(tu_is_poison(out[i]));
  ck_assert_int_eq(vecattn_paged_cache_seq_len(NULL, 0), -1);
  ck_assert_int_eq(vecattn_paged_cache_seq_len(c, MAXS), -1);
  ck_assert_int_eq(vecattn_paged_cache_capacity(NULL), 0);
  ck_assert_int_eq(vecattn_paged_cache_free_blocks(NULL), 0);
  const int32_t *t;
  int64_t n;
  expect_einval(&m, vecattn_paged_cache_table(c, 0, NULL, &n), "table NULL output");
  expect_einval(&m, vecattn_paged_cache_table(c, MAXS, &t, &n), "table seq out of range");
  snap_same(&m, &before, "after the rejected calls");
  model_check(&m, "after the rejected calls");
  rows_free(&r);
  model_free(&m);
  /* q8_0 reads need head_dim % 32 == 0. */
  vecattn_paged_cache *c16;
  vecattn_paged_cache_desc d = {4, 2, 1, 16, VECATTN_F32, VECATTN_F32, 1, NULL, NULL};
  ck_assert_int_eq(vecattn_paged_cache_create(&c16, &d), VECATTN_OK);
  float rows16[2 * 16];
  tu_fill_normal(rows16, 32);
  const vecattn_tensor k16 = vecattn_tensor_bshd(rows16, 1, 2, 1, 16);
  const int32_t id0[1] = {0}, cu16[2] = {0, 2};
  ck_assert_int_eq(vecattn_paged_cache_append(c16, id0, cu16, 1, &k16, &k16), VECATTN_OK);
  unsigned char q[64];
  expect_einval(NULL, vecattn_paged_cache_read(c16, 0, 0, 2, q, VECATTN_Q8_0, NULL, VECATTN_F32), "read q8_0 of head_dim 16");
  vecattn_paged_cache_destroy(c16);
}
END_TEST

/* Caller-owned pools in the documented layout: rows written into the pool by
 * hand and given to sequences with set_seq (shuffled tables) read back as
 * written; rows stored with the slot-mapped write land where the layout says. */
START_TEST(test_caller_pools) {
  TU_FOR_EACH_ISA(isa) {
    for (int bi = 0; bi < N_BS; ++bi)
      for (int ti = 0; ti < VECATTN_DTYPE_COUNT; ++ti) {
        tu_reseed(0xCA11u + (uint64_t)(isa * 100 + bi * 10 + ti));
        const int64_t bs = block_sizes[bi], nb = (2 * RANDOM_MAXP + bs - 1) / bs;
        const vecattn_dtype kt = (vecattn_dtype)ti, vt = (vecattn_dtype)((ti + 2) % VECATTN_DTYPE_COUNT);
        model m;
        model_init(&m, bs, nb, kt, vt, 1);
        /* Element offset of (block, head, position) as the header documents. */
#define AT(pool, t, b, h, i) ((pool) + vecattn_dtype_bytes((t), (((b) * HKV + (h)) * bs + (i)) * HD))
        const int64_t len = tu_rand_int(1, RANDOM_MAXP), n_tab = (len + bs - 1) / bs;
        int32_t *table = malloc((size_t)n_tab * sizeof *table), *perm = malloc((size_t)nb * sizeof *perm);
        for (int64_t b = 0; b < nb; ++b) perm[b] = (int32_t)b;
        for (int64_t b = nb - 1; b > 0; --b) {
          const int64_t j = tu_rand_int(0, b);
          const int32_t x = perm[b];
          perm[b] = perm[j], perm[j] = x;
        }
        memcpy(table, perm, (size_t)n_tab * sizeof *table);
        new_rows r;
        rows_make(&r, &m, len, 3 + ti); /* stored types as given */
        for (int64_t p = 0; p < len; ++p)
          for (int64_t h = 0; h < HKV; ++h) {
            memcpy(AT(m.kpool, kt, table[p / bs], h, p % bs), r.k_want + (size_t)(p * HKV + h) * row_bytes(kt), row_bytes(kt));
            memcpy(AT(m.vpool, vt, table[p / bs], h, p % bs), r.v_want + (size_t)(p * HKV + h) * row_bytes(vt), row_bytes(vt));
          }
        ck_assert_int_eq(vecattn_paged_cache_set_seq(m.c, 3, table, n_tab, len), VECATTN_OK);
        for (int64_t p = 0; p < len; ++p) model_put(&m, &r, p, 3, p);
        m.len[3] = len;
        model_check(&m, "hand-written pool");
        rows_free(&r);
        /* Slot-mapped write into blocks no table holds, then a table over them. */
        const int64_t n_free = nb - n_tab, wlen = n_free * bs < MAXP ? n_free * bs : MAXP;
        if (wlen > 0) {
          const int64_t wtab = (wlen + bs - 1) / bs;
          int64_t *slots = malloc((size_t)wlen * sizeof *slots);
          for (int64_t p = 0; p < wlen; ++p) slots[p] = (int64_t)perm[n_tab + p / bs] * bs + p % bs;
          /* Rows in a shuffled order: row t goes to position order[t]. */
          int64_t *order = malloc((size_t)wlen * sizeof *order), *sl = malloc((size_t)wlen * sizeof *sl);
          for (int64_t p = 0; p < wlen; ++p) order[p] = p;
          for (int64_t p = wlen - 1; p > 0; --p) {
            const int64_t j = tu_rand_int(0, p), x = order[p];
            order[p] = order[j], order[j] = x;
          }
          for (int64_t t = 0; t < wlen; ++t) sl[t] = slots[order[t]];
          rows_make(&r, &m, wlen, ti);
          ck_assert_int_eq(vecattn_paged_cache_write(m.c, &r.kt, &r.vt, sl, wlen), VECATTN_OK);
          for (int64_t t = 0; t < wlen; ++t) {
            const int64_t b = sl[t] / bs, i = sl[t] % bs;
            for (int64_t h = 0; h < HKV; ++h) {
              ck_assert(memcmp(AT(m.kpool, kt, b, h, i), r.k_want + (size_t)(t * HKV + h) * row_bytes(kt), row_bytes(kt)) == 0);
              ck_assert(memcmp(AT(m.vpool, vt, b, h, i), r.v_want + (size_t)(t * HKV + h) * row_bytes(vt), row_bytes(vt)) == 0);
            }
            model_put(&m, &r, t, 1, order[t]);
          }
          int32_t *tab1 = malloc((size_t)wtab * sizeof *tab1);
          memcpy(tab1, perm + n_tab, (size_t)wtab * sizeof *tab1);
          ck_assert_int_eq(vecattn_paged_cache_set_seq(m.c, 1, tab1, wtab, wlen), VECATTN_OK);
          m.len[1] = wlen;
          model_check(&m, "slot-mapped write");
          free(tab1), free(slots), free(order), free(sl);
          rows_free(&r);
        }
#undef AT
        free(table), free(perm);
        model_free(&m);
      }
  }
}
END_TEST

/* Inputs given through strided views (heads-major, padded) store the same rows. */
START_TEST(test_strided_input) {
  tu_reseed(0x57Du);
  model m;
  model_init(&m, 16, 8, VECATTN_F32, VECATTN_BF16, 0);
  enum { R = 5 };
  float k[HKV][R + 3][HD + 4], v[HKV][R + 3][HD + 4];
  tu_fill_normal(&k[0][0][0], sizeof k / sizeof(float));
  tu_fill_normal(&v[0][0][0], sizeof v / sizeof(float));
  vecattn_tensor kt = {k, {1, HKV, R, HD}, {0, (R + 3) * (HD + 4), HD + 4, 1}, VECATTN_F32};
  vecattn_tensor vt = kt;
  vt.data = v;
  const int32_t id[1] = {2}, cu[2] = {0, R};
  ck_assert_int_eq(vecattn_paged_cache_append(m.c, id, cu, 1, &kt, &vt), VECATTN_OK);
  float kb[HKV * R * HD];
  uint16_t vb[HKV * R * HD], want[HD];
  ck_assert_int_eq(vecattn_paged_cache_read(m.c, 2, 0, R, kb, VECATTN_F32, vb, VECATTN_BF16), VECATTN_OK);
  for (int h = 0; h < HKV; ++h)
    for (int p = 0; p < R; ++p) {
      ck_assert(memcmp(kb + (h * R + p) * HD, k[h][p], HD * sizeof(float)) == 0);
      ck_assert_int_eq(vecattn_convert(v[h][p], VECATTN_F32, want, VECATTN_BF16, HD), VECATTN_OK);
      ck_assert(memcmp(vb + (h * R + p) * HD, want, sizeof want) == 0);
    }
  model_free(&m);
}
END_TEST

/* Pools the library allocates: V starts where f32 loads may read it even
 * behind K rows of 34 bytes (one q8_0 block) or 10 (5 f16), an odd number of
 * them (V once began right after K: misaligned f32, which UBSan reports
 * in the sanitizer job). The call equals vecattn_sdpa over the same rows. */
START_TEST(test_pool_alignment) {
  tu_reseed(0xA11Cu);
  static const struct { vecattn_dtype kt; int64_t d; } cases[] = {{VECATTN_Q8_0, 32}, {VECATTN_F16, 5}};
  enum { N = 3, HQ = 2 };
  TU_FOR_EACH_ISA(isa) {
    for (int c = 0; c < 2; ++c) {
      const int64_t D = cases[c].d;
      vecattn_paged_cache_desc d = {N, 1, 1, D, cases[c].kt, VECATTN_F32, 1, NULL, NULL};
      vecattn_paged_cache *pc;
      ck_assert_int_eq(vecattn_paged_cache_create(&pc, &d), VECATTN_OK);
      float k[N * 32], v[N * 32], q[HQ * 32], out[HQ * 32], want[HQ * 32];
      tu_fill_normal(k, N * D), tu_fill_normal(v, N * D), tu_fill_normal(q, HQ * D);
      const vecattn_tensor kt = vecattn_tensor_bshd(k, 1, N, 1, D), vt = vecattn_tensor_bshd(v, 1, N, 1, D);
      const int32_t id[1] = {0}, cu[2] = {0, N}, cq[2] = {0, 1};
      ck_assert_int_eq(vecattn_paged_cache_append(pc, id, cu, 1, &kt, &vt), VECATTN_OK);
      unsigned char kq[N * 34];
      ck_assert_int_eq(vecattn_paged_cache_read(pc, 0, 0, N, kq, cases[c].kt, NULL, VECATTN_F32), VECATTN_OK);
      vecattn_tensor qt = vecattn_tensor_bshd(q, 1, 1, HQ, D), ot = vecattn_tensor_bshd(out, 1, 1, HQ, D);
      vecattn_tensor wt = vecattn_tensor_bshd(want, 1, 1, HQ, D);
      const vecattn_tensor kr = vecattn_tensor_bhsd_typed(kq, cases[c].kt, 1, 1, N, D);
      const vecattn_tensor vr = vecattn_tensor_bhsd(v, 1, 1, N, D);
      ck_assert_int_eq(vecattn_sdpa(&qt, &kr, &vr, &wt, NULL), VECATTN_OK);
      ck_assert_int_eq(vecattn_sdpa_paged(&qt, &ot, pc, id, cq, 1, NULL), VECATTN_OK);
      for (int64_t i = 0; i < HQ * D; ++i)
        ck_assert_msg(fabsf(out[i] - want[i]) <= 1e-5f * (1.0f + fabsf(want[i])), "[%s] k %s: out[%lld] %g, want %g",
                      vecattn_isa_name(isa), vecattn_dtype_name(cases[c].kt), (long long)i, (double)out[i],
                      (double)want[i]);
      vecattn_paged_cache_destroy(pc);
    }
  }
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("paged_cache");
  TCase *tc = tcase_create("paged_cache");
  tcase_add_test(tc, test_random_ops);
  tcase_add_test(tc, test_copy_on_write);
  tcase_add_test(tc, test_truncate_round_trip);
  tcase_add_test(tc, test_enospc);
  tcase_add_test(tc, test_einval);
  tcase_add_test(tc, test_caller_pools);
  tcase_add_test(tc, test_strided_input);
  tcase_add_test(tc, test_pool_alignment);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("paged_cache");
  return tu_run_suite(make_suite());
}
