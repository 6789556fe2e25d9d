/* libFuzzer harness for the paged KV cache: a small pool (1..8 blocks of
 * 1..17 positions, any K/V types), then up to 16 operations on it chosen by
 * the input: append, write (slots), set_seq, truncate, copy_seq, release,
 * read, vecattn_sdpa_paged and the layer over it (vecattn_mha_forward_varlen,
 * small random weights, RoPE or not, positions given or not), with arguments
 * that are often out of range.
 * The harness keeps its own model of every sequence's length and aborts when
 *   - a call the contract says must fail succeeds (an id out of range, an id
 *     listed twice in an append, a slot outside the pool or written twice, a
 *     block outside the pool, a length past the table, a truncation or read
 *     past the length, more queries than positions, query offsets that do not
 *     start at 0 or that decrease, a negative position, RoPE over an odd head
 *     dim), or a status is not a vecattn_status;
 *   - a failed call changed a length or wrote to its outputs;
 *   - a length differs from the model after a successful call, or the free
 *     blocks leave [0, n_blocks], or releasing every sequence does not give
 *     every block back;
 *   - vecattn_sdpa_paged differs, bit for bit, from vecattn_sdpa_varlen over
 *     the same positions read back into contiguous rows;
 *   - the layer's output is not finite (finite inputs, weights of |w| <= 1/8).
 * Memory errors are AddressSanitizer's to catch. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "vecattn.h"

enum { MAX_SEQS = 4, MAX_OPS = 16 };

static _Noreturn void fail(const char *what) { fuzz_fail("fuzz_paged", what); }

static void check_status(vecattn_status st) { fuzz_check_status("fuzz_paged", st); }

typedef struct {
  vecattn_paged_cache *c;
  vecattn_paged_cache_desc d;
  int64_t len[MAX_SEQS]; /* the model */
} pool;

static void check_model(const pool *p) {
  for (int64_t s = 0; s < p->d.max_seqs; ++s)
    if (vecattn_paged_cache_seq_len(p->c, s) != p->len[s]) fail("a length differs from the model");
  const int64_t free_blocks = vecattn_paged_cache_free_blocks(p->c);
  if (free_blocks < 0 || free_blocks > p->d.n_blocks) fail("free blocks outside [0, n_blocks]");
}

/* A sequence id: one past the last now and then. */
static int32_t rd_seq(reader *r, const pool *p) { return (int32_t)(rd(r) % (p->d.max_seqs + 1)); }

/* n sequence ids (one past the last now and then, maybe one twice) and
 * offsets cu of 0 .. max_new rows each: returns whether an id is out of
 * range or listed twice, which calls that append must reject. */
static int rd_batch(reader *r, const pool *p, int64_t n, int max_new, int32_t *ids, int32_t *cu) {
  int bad = 0;
  cu[0] = 0;
  for (int64_t i = 0; i < n; ++i) {
    ids[i] = rd_seq(r, p);
    cu[i + 1] = cu[i] + rd(r) % (max_new + 1);
    bad |= ids[i] >= p->d.max_seqs;
    for (int64_t j = 0; j < i; ++j) bad |= ids[j] == ids[i];
  }
  return bad;
}

/* [1, Hkv, n, D] f32 rows (packed [n, Hkv, D]) of values from the input. */
static float *rd_rows(reader *r, const pool *p, int64_t n, vecattn_tensor *t) {
  const size_t count = (size_t)(n * p->d.n_kv_heads * p->d.head_dim);
  float *x = malloc((count ? count : 1) * sizeof(float));
  for (size_t i = 0; i < count; ++i) x[i] = rd_value(r, 0);
  *t = vecattn_tensor_bshd(x, 1, n ? n : 1, p->d.n_kv_heads, p->d.head_dim);
  t->shape[2] = n; /* 0 rows: the call must manage, or reject it */
  return x;
}

static void op_append(reader *r, pool *p) {
  const int64_t n = 1 + rd(r) % 3;
  int32_t ids[3], cu[4];
  const int hostile = rd_batch(r, p, n, 8, ids, cu);
  vecattn_tensor k, v;
  float *kb = rd_rows(r, p, cu[n], &k), *vb = rd_rows(r, p, cu[n], &v);
  const vecattn_status st = vecattn_paged_cache_append(p->c, ids, cu, n, &k, &v);
  check_status(st);
  if (hostile && st == VECATTN_OK) fail("append accepted a bad sequence id");
  if (st == VECATTN_OK)
    for (int64_t i = 0; i < n; ++i) p->len[ids[i]] += cu[i + 1] - cu[i];
  free(kb), free(vb);
}

static void op_write(reader *r, pool *p) {
  const int64_t n = rd(r) % 6, cap = p->d.n_blocks * p->d.block_size;
  int64_t slots[6];
  int hostile = 0;
  for (int64_t t = 0; t < n; ++t) {
    slots[t] = (int64_t)(rd(r) % (cap + 2)) - 1; /* -1 .. cap */
    hostile |= slots[t] < 0 || slots[t] >= cap;
    for (int64_t u = 0; u < t; ++u) hostile |= slots[u] == slots[t];
  }
  vecattn_tensor k, v;
  float *kb = rd_rows(r, p, n, &k), *vb = rd_rows(r, p, n, &v);
  const vecattn_status st = vecattn_paged_cache_write(p->c, &k, &v, slots, n);
  check_status(st);
  if (hostile && st == VECATTN_OK) fail("write accepted a slot outside the pool or twice");
  free(kb), free(vb);
}

static void op_set_seq(reader *r, pool *p) {
  const int32_t seq = rd_seq(r, p);
  const int64_t nb = rd(r) % 4;
  int32_t blocks[3];
  int hostile = seq >= p->d.max_seqs;
  for (int64_t i = 0; i < nb; ++i) {
    blocks[i] = (int32_t)(rd(r) % (p->d.n_blocks + 1));
    hostile |= blocks[i] >= p->d.n_blocks;
  }
  const int64_t len = rd(r) % (nb * p->d.block_size + 2);
  hostile |= len > nb * p->d.block_size;
  const vecattn_status st = vecattn_paged_cache_set_seq(p->c, seq, nb ? blocks : NULL, nb, len);
  check_status(st);
  if (hostile && st == VECATTN_OK) fail("set_seq accepted a bad id, block or length");
  if (st == VECATTN_OK) p->len[seq] = len;
}

static void op_truncate(reader *r, pool *p) {
  const int32_t seq = rd_seq(r, p);
  const int64_t have = seq < p->d.max_seqs ? p->len[seq] : 0, len = rd(r) % (have + 2);
  const vecattn_status st = vecattn_paged_cache_truncate(p->c, seq, len);
  check_status(st);
  if ((seq >= p->d.max_seqs || len > have) && st == VECATTN_OK) fail("truncate accepted a bad id or length");
  if (st == VECATTN_OK) p->len[seq] = len;
}

static void op_copy_release(reader *r, pool *p, int copy) {
  const int32_t src = rd_seq(r, p), dst = copy ? rd_seq(r, p) : src;
  const vecattn_status st =
      copy ? vecattn_paged_cache_copy_seq(p->c, src, dst) : vecattn_paged_cache_release(p->c, src);
  check_status(st);
  if ((src >= p->d.max_seqs || dst >= p->d.max_seqs) && st == VECATTN_OK) fail("accepted a sequence id out of range");
  if (st == VECATTN_OK) p->len[dst] = copy ? p->len[src] : 0;
}

static void op_read(reader *r, pool *p) {
  const int32_t seq = rd_seq(r, p);
  const int64_t have = seq < p->d.max_seqs ? p->len[seq] : 0;
  const int64_t pos0 = rd(r) % (have + 2), n = rd(r) % (have + 2);
  const size_t bytes = (size_t)vecattn_dtype_bytes(VECATTN_F32, (n ? n : 1) * p->d.n_kv_heads * p->d.head_dim);
  void *k = malloc(bytes), *v = malloc(bytes);
  memset(k, 0x7F, bytes), memset(v, 0x7F, bytes);
  const vecattn_status st = vecattn_paged_cache_read(p->c, seq, pos0, n, k, VECATTN_F32, v, VECATTN_F32);
  check_status(st);
  if ((seq >= p->d.max_seqs || pos0 + n > have) && st == VECATTN_OK) fail("read accepted positions past the length");
  if (st != VECATTN_OK && !(all_bytes(k, bytes, 0x7F) && all_bytes(v, bytes, 0x7F))) fail("failed read wrote");
  free(k), free(v);
}

/* Positions [0, len) of seq in the cache's own types, into [Hkv][total][D]
 * rows starting at position at. */
static void read_into(const pool *p, int32_t seq, int64_t total, int64_t at, unsigned char *kall,
                      unsigned char *vall) {
  const int64_t len = p->len[seq], H = p->d.n_kv_heads, D = p->d.head_dim;
  if (!len) return;
  const int64_t kr = vecattn_dtype_bytes(p->d.k_type, D), vr = vecattn_dtype_bytes(p->d.v_type, D);
  unsigned char *k = malloc((size_t)(H * len * kr)), *v = malloc((size_t)(H * len * vr));
  if (vecattn_paged_cache_read(p->c, seq, 0, len, k, p->d.k_type, v, p->d.v_type) != VECATTN_OK)
    fail("reading a sequence back failed");
  for (int64_t h = 0; h < H; ++h) {
    memcpy(kall + (h * total + at) * kr, k + h * len * kr, (size_t)(len * kr));
    memcpy(vall + (h * total + at) * vr, v + h * len * vr, (size_t)(len * vr));
  }
  free(k), free(v);
}

static void op_sdpa(reader *r, pool *p, int64_t group) {
  const int64_t n = 1 + rd(r) % 3, H = p->d.n_kv_heads, Hq = H * group, D = p->d.head_dim;
  int32_t ids[3], cu[4] = {0}, cu_k[4] = {0};
  int hostile = 0;
  for (int64_t i = 0; i < n; ++i) {
    ids[i] = rd_seq(r, p);
    const int64_t have = ids[i] < p->d.max_seqs ? p->len[ids[i]] : 0;
    cu[i + 1] = cu[i] + rd(r) % 4;
    hostile |= ids[i] >= p->d.max_seqs || cu[i + 1] - cu[i] > have;
    cu_k[i + 1] = cu_k[i] + (int32_t)have;
  }
  const uint8_t how = rd(r);
  vecattn_sdpa_opts o = {0};
  o.causal = how & 1;
  o.window = how & 2 ? rd(r) % 9 : 0;
  o.reduced_precision = (how >> 2) & 1;
  o.num_threads = 1 + (how >> 3) % 2;
  const int64_t tq = cu[n] ? cu[n] : 1, rows = Hq * tq;
  float *q = malloc(sizeof(float) * (size_t)(rows * D)), *out = malloc(sizeof(float) * (size_t)(rows * D));
  float *lse = how & 32 ? malloc(sizeof(float) * (size_t)rows) : NULL;
  for (int64_t i = 0; i < rows * D; ++i) q[i] = rd_value(r, 0);
  vecattn_tensor tq_t = vecattn_tensor_bshd(q, 1, tq, Hq, D), to = vecattn_tensor_bshd(out, 1, tq, Hq, D);
  tq_t.shape[2] = to.shape[2] = cu[n];
  memset(out, 0x7F, sizeof(float) * (size_t)(rows * D));
  if (lse) memset(lse, 0x7F, sizeof(float) * (size_t)rows);
  o.lse = lse;
  int32_t cu_call[4];
  memcpy(cu_call, cu, sizeof cu);
  if (how >> 6 == 2 && n > 1) /* offsets that decrease, or run past the queries */
    cu_call[1] = cu[n] + 1, hostile = 1;
  else if (how >> 6 == 3)
    cu_call[0] = 1, hostile = 1; /* not starting at 0 */
  const vecattn_status st = vecattn_sdpa_paged(&tq_t, &to, p->c, ids, cu_call, n, &o);
  check_status(st);
  if (getenv("FUZZ_PAGED_VERBOSE"))
    fprintf(stderr, "sdpa_paged: k %s v %s D %lld Hkv %lld block %lld, %lld sequences, %d queries, %d positions%s -> %s\n",
            vecattn_dtype_name(p->d.k_type), vecattn_dtype_name(p->d.v_type), (long long)D, (long long)H,
            (long long)p->d.block_size, (long long)n, cu[n], cu_k[n], o.reduced_precision ? ", reduced precision" : "",
            vecattn_strerror(st));
  if (hostile && st == VECATTN_OK) fail("sdpa_paged accepted a bad id or more queries than positions");
  if (st != VECATTN_OK && !(all_bytes(out, sizeof(float) * (size_t)(rows * D), 0x7F) &&
                            (!lse || all_bytes(lse, sizeof(float) * (size_t)rows, 0x7F))))
    fail("failed sdpa_paged wrote");
  if (st == VECATTN_OK && cu[n] && cu_k[n]) { /* against varlen over contiguous rows */
    const int64_t tk = cu_k[n];
    unsigned char *kall = malloc((size_t)(H * tk * vecattn_dtype_bytes(p->d.k_type, D)));
    unsigned char *vall = malloc((size_t)(H * tk * vecattn_dtype_bytes(p->d.v_type, D)));
    for (int64_t i = 0; i < n; ++i) read_into(p, ids[i], tk, cu_k[i], kall, vall);
    float *out2 = malloc(sizeof(float) * (size_t)(rows * D)), *lse2 = lse ? malloc(sizeof(float) * (size_t)rows) : NULL;
    vecattn_tensor k = vecattn_tensor_bhsd_typed(kall, p->d.k_type, 1, H, tk, D);
    vecattn_tensor v = vecattn_tensor_bhsd_typed(vall, p->d.v_type, 1, H, tk, D);
    vecattn_tensor to2 = vecattn_tensor_bshd(out2, 1, tq, Hq, D);
    o.lse = lse2;
    if (vecattn_sdpa_varlen(&tq_t, &k, &v, &to2, cu, cu_k, n, &o) != VECATTN_OK)
      fail("varlen rejected what sdpa_paged accepted");
    if (memcmp(out, out2, sizeof(float) * (size_t)(Hq * cu[n] * D)) != 0) fail("sdpa_paged differs from varlen");
    if (lse && memcmp(lse, lse2, sizeof(float) * (size_t)(Hq * cu[n])) != 0) fail("sdpa_paged lse differs from varlen");
    free(kall), free(vall), free(out2), free(lse2);
  }
  free(q), free(out), free(lse);
}

static void op_layer(reader *r, pool *p, int64_t group) {
  const int64_t n = 1 + rd(r) % 3, H = p->d.n_kv_heads, Hq = H * group, D = p->d.head_dim;
  int32_t ids[3], cu[4];
  int hostile = rd_batch(r, p, n, 4, ids, cu);
  const uint8_t how = rd(r);
  vecattn_mha_weights w = {0};
  w.d_model = 1 + rd(r) % 16, w.n_heads = Hq, w.n_kv_heads = H, w.head_dim = D;
  w.rope = how & 1;
  hostile |= w.rope && D % 2;
  const int64_t dm = w.d_model, total = cu[n] ? cu[n] : 1;
  const float ws = 1.0f / 32;
  float *wq = rd_floats(r, Hq * D * dm, ws), *wk = rd_floats(r, H * D * dm, ws), *wv = rd_floats(r, H * D * dm, ws);
  float *wo = rd_floats(r, dm * Hq * D, ws), *x = rd_floats(r, total * dm, ws);
  float *y = malloc(sizeof(float) * (size_t)(total * dm));
  w.wq = wq, w.wk = wk, w.wv = wv, w.wo = wo;
  int64_t *pos = NULL;
  if (how & 2) {
    pos = malloc(sizeof(int64_t) * (size_t)total);
    for (int64_t t = 0; t < total; ++t) {
      pos[t] = (int64_t)(rd(r) % 40) - 1;
      hostile |= t < cu[n] && pos[t] < 0;
    }
  }
  vecattn_sdpa_opts o = {0};
  o.causal = (how >> 2) & 1;
  o.reduced_precision = (how >> 3) & 1;
  o.num_threads = 1 + (how >> 4) % 2;
  memset(y, 0x7F, sizeof(float) * (size_t)(total * dm));
  const vecattn_status st = vecattn_mha_forward_varlen(&w, x, cu, ids, n, pos, p->c, y, &o);
  check_status(st);
  if (getenv("FUZZ_PAGED_VERBOSE"))
    fprintf(stderr, "layer: k %s v %s D %lld Hq %lld Hkv %lld d_model %lld, %lld sequences, %d tokens%s%s -> %s\n",
            vecattn_dtype_name(p->d.k_type), vecattn_dtype_name(p->d.v_type), (long long)D, (long long)Hq,
            (long long)H, (long long)dm, (long long)n, cu[n], w.rope ? ", rope" : "", pos ? ", positions" : "",
            vecattn_strerror(st));
  if (hostile && st == VECATTN_OK) fail("the layer accepted a bad id, position or RoPE over an odd head dim");
  if (st != VECATTN_OK && !all_bytes(y, sizeof(float) * (size_t)(total * dm), 0x7F)) fail("failed layer call wrote y");
  if (st == VECATTN_OK) {
    for (int64_t i = 0; i < n; ++i) p->len[ids[i]] += cu[i + 1] - cu[i];
    for (int64_t e = 0; e < cu[n] * dm; ++e)
      if (!isfinite(y[e])) fail("the layer's output is not finite");
  }
  free(wq), free(wk), free(wv), free(wo), free(x), free(y), free(pos);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = reader_of(data, size);
  pool p;
  memset(&p, 0, sizeof p);
  p.d.n_blocks = 1 + rd(&r) % 8;
  p.d.block_size = 1 + rd(&r) % 17;
  p.d.n_kv_heads = 1 + rd(&r) % 2;
  const uint8_t types = rd(&r), dim = rd(&r);
  p.d.k_type = (vecattn_dtype)(types % 4);
  p.d.v_type = (vecattn_dtype)(types / 4 % 4);
  p.d.head_dim = 1 + dim % 64;
  const int q8 = p.d.k_type == VECATTN_Q8_0 || p.d.v_type == VECATTN_Q8_0;
  if (q8 && dim % 4 != 3) p.d.head_dim = 32 * (1 + dim % 2);
  p.d.max_seqs = 1 + rd(&r) % MAX_SEQS;
  const vecattn_isa isa = (vecattn_isa)(rd(&r) % VECATTN_ISA_COUNT);
  const int64_t group = 1 + rd(&r) % 3;

  const vecattn_status st = vecattn_paged_cache_create(&p.c, &p.d);
  check_status(st);
  if (q8 && p.d.head_dim % 32) {
    if (st == VECATTN_OK) fail("create accepted q8_0 rows of part of a block");
    return 0;
  }
  if (st != VECATTN_OK) fail("create rejected a valid pool");
  vecattn_set_isa(isa); /* an ISA the machine lacks: the call fails, auto stays */

  const int ops = 1 + rd(&r) % MAX_OPS;
  for (int i = 0; i < ops; ++i) {
    switch (rd(&r) % 9) {
    case 0: op_append(&r, &p); break;
    case 1: op_write(&r, &p); break;
    case 2: op_set_seq(&r, &p); break;
    case 3: op_truncate(&r, &p); break;
    case 4: op_copy_release(&r, &p, 1); break;
    case 5: op_copy_release(&r, &p, 0); break;
    case 6: op_read(&r, &p); break;
    case 7: op_sdpa(&r, &p, group); break;
    default: op_layer(&r, &p, group); break;
    }
    check_model(&p);
  }
  for (int64_t s = 0; s < p.d.max_seqs; ++s)
    if (vecattn_paged_cache_release(p.c, s) != VECATTN_OK) fail("release failed");
  if (vecattn_paged_cache_free_blocks(p.c) != p.d.n_blocks) fail("releasing every sequence left blocks held");
  vecattn_paged_cache_destroy(p.c);
  vecattn_set_isa(VECATTN_ISA_AUTO);
  return 0;
}
