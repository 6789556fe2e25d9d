/* libFuzzer harness for vecattn_kv_cache and the layer over it: a small
 * cache (1-2 batch rows, 1-2 kv heads, 1-12 positions, any K/V types), then up
 * to 12 operations chosen by the input: vecattn_mha_forward (appends), the
 * cross-attention layer, truncate, copy_row, read and reset, with arguments
 * that are often out of range. The harness models the cache's length and
 * aborts when
 *   - a call the contract says must fail succeeds (a row out of range, a
 *     truncation or read past the length, RoPE over an odd head dim, causal
 *     cross-attention), a cache without room does not give ENOSPC, or a
 *     status is not a vecattn_status;
 *   - a failed call changed the length or wrote to its outputs;
 *   - the length differs from the model after a successful call;
 *   - a copied row does not read back equal to its source;
 *   - a layer's output is not finite (finite inputs, weights of |w| <= 1/8).
 * Memory errors are AddressSanitizer's to catch. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "vecattn.h"

enum { MAX_OPS = 12 };

static _Noreturn void fail(const char *what) { fuzz_fail("fuzz_kv", what); }

static void check_status(vecattn_status st) { fuzz_check_status("fuzz_kv", st); }

typedef struct {
  vecattn_kv_cache *c;
  int64_t batch, hkv, d, cap, len; /* len: the model */
  vecattn_dtype kt, vt;
} cache;

/* The layer's weights for this cache: d_model 1..16, group 1..3. */
typedef struct {
  vecattn_mha_weights w;
  float *m[4];
} layer;

static void layer_make(reader *r, const cache *c, layer *l) {
  memset(l, 0, sizeof *l);
  const int64_t dm = 1 + rd(r) % 16, hq = c->hkv * (1 + rd(r) % 3);
  l->w.d_model = dm, l->w.n_heads = hq, l->w.n_kv_heads = c->hkv, l->w.head_dim = c->d;
  l->m[0] = rd_floats(r, hq * c->d * dm, 1.0f / 32), l->m[1] = rd_floats(r, c->hkv * c->d * dm, 1.0f / 32);
  l->m[2] = rd_floats(r, c->hkv * c->d * dm, 1.0f / 32), l->m[3] = rd_floats(r, dm * hq * c->d, 1.0f / 32);
  l->w.wq = l->m[0], l->w.wk = l->m[1], l->w.wv = l->m[2], l->w.wo = l->m[3];
}

static void layer_free(layer *l) {
  for (int i = 0; i < 4; ++i) free(l->m[i]);
}

static void check_finite(const float *y, int64_t n) {
  for (int64_t e = 0; e < n; ++e)
    if (!isfinite(y[e])) fail("the layer's output is not finite");
}

static void op_forward(reader *r, cache *c, int cross) {
  layer l;
  layer_make(r, c, &l);
  const uint8_t how = rd(r);
  const int64_t seq = 1 + rd(r) % 5, seq_kv = 1 + rd(r) % 6, dm = l.w.d_model, n = c->batch * seq * dm;
  l.w.rope = how & 1;
  vecattn_sdpa_opts o = {0};
  o.causal = (how >> 1) & 1;
  o.reduced_precision = (how >> 2) & 1;
  o.num_threads = 1 + (how >> 3) % 2;
  float *x = rd_floats(r, n, 1.0f), *y = malloc(sizeof(float) * (size_t)n);
  float *mem = cross ? rd_floats(r, c->batch * seq_kv * dm, 1.0f) : NULL;
  memset(y, 0x7F, sizeof(float) * (size_t)n);
  const vecattn_status st = cross ? vecattn_mha_cross(&l.w, x, c->batch, seq, mem, seq_kv, y, &o)
                                  : vecattn_mha_forward(&l.w, x, c->batch, seq, c->c, y, &o);
  check_status(st);
  if (getenv("FUZZ_KV_VERBOSE"))
    fprintf(stderr, "%s: k %s v %s B %lld D %lld Hq %lld Hkv %lld d_model %lld, len %lld + %lld of %lld%s -> %s\n",
            cross ? "cross" : "forward", vecattn_dtype_name(c->kt), vecattn_dtype_name(c->vt), (long long)c->batch,
            (long long)c->d, (long long)l.w.n_heads, (long long)c->hkv, (long long)dm, (long long)c->len,
            (long long)seq, (long long)c->cap, l.w.rope ? ", rope" : "", vecattn_strerror(st));
  const int hostile = (l.w.rope && c->d % 2) || (cross && o.causal);
  if (hostile && st == VECATTN_OK) fail("the layer accepted RoPE over an odd head dim or causal cross-attention");
  if (!hostile && !cross && c->len + seq > c->cap && st != VECATTN_ENOSPC) fail("a full cache did not give ENOSPC");
  if (st != VECATTN_OK && !all_bytes(y, sizeof(float) * (size_t)n, 0x7F)) fail("failed layer call wrote y");
  if (st == VECATTN_OK) {
    check_finite(y, n);
    if (!cross) c->len += seq;
  }
  free(x), free(y), free(mem);
  layer_free(&l);
}

static void op_truncate_reset(reader *r, cache *c, int reset) {
  const int64_t len = (int64_t)(rd(r) % (c->len + 3)) - 1;
  const vecattn_status st = reset ? vecattn_kv_cache_reset(c->c) : vecattn_kv_cache_truncate(c->c, len);
  check_status(st);
  if (!reset && (len < 0 || len > c->len) && st == VECATTN_OK) fail("truncate accepted a length past the cache's");
  if (st == VECATTN_OK) c->len = reset ? 0 : len;
}

static void op_copy_row(reader *r, cache *c) {
  const int64_t src = (int64_t)(rd(r) % (c->batch + 2)) - 1, dst = (int64_t)(rd(r) % (c->batch + 2)) - 1;
  const vecattn_status st = vecattn_kv_cache_copy_row(c->c, src, dst);
  check_status(st);
  const int bad = src < 0 || dst < 0 || src >= c->batch || dst >= c->batch;
  if (bad && st == VECATTN_OK) fail("copy_row accepted a row out of range");
  if (st != VECATTN_OK || !c->len) return;
  const size_t kb = vecattn_dtype_bytes(c->kt, c->hkv * c->len * c->d), vb = vecattn_dtype_bytes(c->vt, c->hkv * c->len * c->d);
  unsigned char *k0 = malloc(kb), *k1 = malloc(kb), *v0 = malloc(vb), *v1 = malloc(vb);
  if (vecattn_kv_cache_read(c->c, src, 0, c->len, k0, c->kt, v0, c->vt) != VECATTN_OK ||
      vecattn_kv_cache_read(c->c, dst, 0, c->len, k1, c->kt, v1, c->vt) != VECATTN_OK)
    fail("reading rows back failed");
  if (memcmp(k0, k1, kb) || memcmp(v0, v1, vb)) fail("a copied row differs from its source");
  free(k0), free(k1), free(v0), free(v1);
}

static void op_read(reader *r, cache *c) {
  const int64_t b = (int64_t)(rd(r) % (c->batch + 2)) - 1;
  const int64_t pos0 = (int64_t)(rd(r) % (c->len + 3)) - 1, n = (int64_t)(rd(r) % (c->len + 3)) - 1;
  static const vecattn_dtype types[4] = {VECATTN_F32, VECATTN_F16, VECATTN_BF16, VECATTN_Q8_0};
  const uint8_t t = rd(r);
  const vecattn_dtype kt = types[t % 4], vt = types[t / 4 % 4];
  const int64_t elems = c->hkv * (n > 0 ? n : 1) * c->d;
  const size_t bytes = vecattn_dtype_bytes(VECATTN_F32, elems) + 64; /* q8_0 of a partial block: no bytes */
  unsigned char *k = malloc(bytes), *v = malloc(bytes);
  memset(k, 0x7F, bytes), memset(v, 0x7F, bytes);
  const vecattn_status st = vecattn_kv_cache_read(c->c, b, pos0, n, t & 16 ? NULL : k, kt, v, vt);
  check_status(st);
  const int bad = b < 0 || b >= c->batch || pos0 < 0 || n < 0 || pos0 + n > c->len ||
                  ((kt == VECATTN_Q8_0 && !(t & 16)) || vt == VECATTN_Q8_0 ? c->d % 32 != 0 : 0);
  if (bad && st == VECATTN_OK) fail("read accepted a row or positions out of range, or q8_0 of part of a block");
  if (st != VECATTN_OK && !(all_bytes(k, bytes, 0x7F) && all_bytes(v, bytes, 0x7F))) fail("failed read wrote");
  free(k), free(v);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = reader_of(data, size);
  cache c;
  memset(&c, 0, sizeof c);
  c.batch = 1 + rd(&r) % 2, c.hkv = 1 + rd(&r) % 2, c.cap = 1 + rd(&r) % 12;
  const uint8_t types = rd(&r), dim = rd(&r);
  c.kt = (vecattn_dtype)(types % 4), c.vt = (vecattn_dtype)(types / 4 % 4);
  c.d = 1 + dim % 48;
  const int q8 = c.kt == VECATTN_Q8_0 || c.vt == VECATTN_Q8_0;
  if (q8 && dim % 4 != 3) c.d = 32;
  const vecattn_isa isa = (vecattn_isa)(rd(&r) % VECATTN_ISA_COUNT);
  const vecattn_status st = vecattn_kv_cache_create_typed(&c.c, c.batch, c.hkv, c.d, c.cap, c.kt, c.vt);
  check_status(st);
  if (q8 && c.d % 32) {
    if (st == VECATTN_OK) fail("create accepted q8_0 rows of part of a block");
    return 0;
  }
  if (st != VECATTN_OK) fail("create rejected a valid cache");
  vecattn_set_isa(isa); /* an ISA the machine lacks: the call fails, auto stays */

  const int ops = 1 + rd(&r) % MAX_OPS;
  for (int i = 0; i < ops; ++i) {
    switch (rd(&r) % 6) {
    case 0: op_forward(&r, &c, 0); break;
    case 1: op_forward(&r, &c, 1); break;
    case 2: op_truncate_reset(&r, &c, 0); break;
    case 3: op_truncate_reset(&r, &c, 1); break;
    case 4: op_copy_row(&r, &c); break;
    default: op_read(&r, &c); break;
    }
    if (vecattn_kv_cache_len(c.c) != c.len) fail("the length differs from the model");
  }
  vecattn_kv_cache_destroy(c.c);
  vecattn_set_isa(VECATTN_ISA_AUTO);
  return 0;
}
