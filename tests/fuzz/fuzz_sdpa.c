/* libFuzzer harness for vecattn_sdpa, vecattn_attention_weights and
 * vecattn_attend. The input picks the call, ISA, shapes (<= 64), layouts
 * (strides may be hostile), options and data; what it does not cover comes
 * from a generator seeded by the input, so short inputs still make full
 * calls. The harness aborts when
 *   - a status is not a vecattn_status, or an argument the harness knows to
 *     be invalid is accepted, or an accepted output layout aliases itself;
 *   - a rejected call wrote to its output or lse;
 *   - on valid, finite input, the result differs from the scalar path's.
 * Memory errors are AddressSanitizer's to catch.
 *
 * Input bytes, in order (see corpus/ for examples):
 *   flags  bit0 causal, 1 window, 2 kv_len, 3 bias, 4 alibi, 5 lse,
 *          6 special values (NaN, Inf, 1e30, denormals), 7 explicit scale
 *   call   %3: sdpa, weights, attend; then /3: K type %4 (f32, f16, bf16,
 *          q8_0), V type /4 %4, Q type /16 %3 (f32, f16, bf16), out /48:
 *          f32 or Q's type (so bytes 0..2 keep everything f32)
 *   isa    %VECATTN_ISA_COUNT: auto, scalar, sse2, ...; bit 0 of the rest:
 *          opts.reduced_precision
 *   threads 1 + %3
 *   B 1+%2, Hkv 1+%3, group (>= 240: Hq = 1+%6, maybe not a multiple),
 *   Nq, Nk, D, Dv each 1+%64; attend: score kind %5, Dk 1+%64, Da 1+%64
 *   per tensor q, k, v, out: layout %4 (bhsd, bshd, padded, raw: then per
 *   stride[0..2] one byte: >= 224 a whole int64 from the next 8 bytes (any
 *   value, so extents reach past the address space), else that byte as a
 *   signed stride; stride[3] = 1 unless the next byte is odd); bit 2 of
 *   the layout byte puts the data one byte past an aligned address
 *   window, kv_len[b], bias broadcast mask + stride-0 mask (+ one byte: >= 240
 *   a whole-int64 stride on dim byte % 4), scale, data.
 * A q8_0 K or V makes its head dim 32 or 64 unless that dim's byte % 4 is 3,
 * and pads layout 2 by whole blocks, so most such calls are valid. Results
 * with opts.reduced_precision (int8 and bf16 products) are not compared with
 * the scalar path, only bounded: each output row is a convex combination of
 * V rows (weights: probabilities). An accepted sdpa call without masks is
 * also split at a key into two shards, computed with their lse and merged
 * (vecattn_merge): that must give the whole call's result. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_input.h"
#include "vecattn.h"

enum { MAX_DIM = 64 };

static int64_t rd_dim(reader *r) { return 1 + rd(r) % MAX_DIM; }

/* Extents (bytes) from this far up cannot fit any user address space the
 * library knows (x86-64: 2^47, aarch64: 2^48, from a base near 0): such a
 * call must be rejected. Between what can be allocated here and this, a
 * call would be valid but unbacked, so the harness never makes one. */
#define UNMAPPABLE_BYTES ((__int128)1 << 48)
#define ALLOCATABLE_ELEMS ((__int128)1 << 24)

/* Elements a layout spans through its positive strides (negative ones make
 * the call hostile anyway; the buffer covers what the others reach). */
static __int128 extent_elems(const int64_t shape[4], const int64_t st[4]) {
  __int128 last = 0;
  for (int i = 0; i < 4; ++i)
    if (st[i] > 0) last += (__int128)(shape[i] - 1) * st[i];
  return last + 1;
}

static _Noreturn void fail(const char *what) { fuzz_fail("fuzz_sdpa", what); }

typedef struct {
  vecattn_tensor t;
  void *raw; /* what buf is carved from (q, k, v, out) */
  void *buf;
  size_t n;    /* elements in buf (q8_0: whole blocks) */
  int hostile; /* strides the library must reject */
  int huge;    /* extent past any address space: buf holds one element (block) only */
} ftensor;

static size_t type_bytes(vecattn_dtype t, size_t n) {
  switch (t) {
  case VECATTN_F16:
  case VECATTN_BF16: return 2 * n;
  case VECATTN_Q8_0: return n / VECATTN_Q8_0_BLOCK * VECATTN_Q8_0_BLOCK_BYTES;
  default: return 4 * n;
  }
}

/* One element of any float type (not q8_0) as f32. */
static float load_elem(const void *buf, vecattn_dtype t, int64_t at) {
  float f; /* buf may be one byte off: vecattn_convert reads it as bytes */
  if (vecattn_convert((const unsigned char *)buf + (t == VECATTN_F32 ? 4 : 2) * at, t, &f, VECATTN_F32, 1) != VECATTN_OK)
    fail("convert failed");
  return f;
}

/* Layout from the input; the buffer covers every element the strides reach,
 * so an accepted call stays in bounds unless the library errs. */
static void make_tensor(ftensor *x, reader *r, int64_t b, int64_t h, int64_t s, int64_t d, vecattn_dtype t) {
  const int64_t shape[4] = {b, h, s, d};
  const int64_t pad = t == VECATTN_Q8_0 ? VECATTN_Q8_0_BLOCK : 1; /* padding in whole blocks */
  int64_t st[4];
  const uint8_t layout = rd(r);
  switch (layout % 4) {
  case 0: st[3] = 1, st[2] = d, st[1] = s * d, st[0] = h * s * d; break;
  case 1: st[3] = 1, st[1] = d, st[2] = h * d, st[0] = s * h * d; break;
  case 2:
    st[3] = 1, st[2] = d + pad, st[1] = s * (d + pad) + 3 * pad, st[0] = h * (s * (d + pad) + 3 * pad) + 5 * pad;
    break;
  default:
    for (int i = 0; i < 3; ++i) {
      const uint8_t how = rd(r);
      st[i] = how >= 224 ? rd_i64(r) : (int8_t)rd(r);
    }
    st[3] = rd(r) % 2 ? (int8_t)rd(r) : 1;
  }
  const __int128 ext = extent_elems(shape, st);
  const __int128 ext_bytes = t == VECATTN_Q8_0 ? (ext + VECATTN_Q8_0_BLOCK - 1) / VECATTN_Q8_0_BLOCK * VECATTN_Q8_0_BLOCK_BYTES
                                                : ext * (t == VECATTN_F32 ? 4 : 2);
  x->huge = ext_bytes >= UNMAPPABLE_BYTES;
  if (!x->huge && ext > ALLOCATABLE_ELEMS) /* valid but unbacked: keep the low bytes */
    for (int i = 0; i < 3; ++i) st[i] = (int8_t)st[i];
  x->hostile = st[3] != 1 || x->huge;
  if (t == VECATTN_Q8_0) { /* whole blocks: the row, and every stride that moves */
    x->hostile |= d % VECATTN_Q8_0_BLOCK != 0;
    for (int i = 0; i < 3; ++i) x->hostile |= shape[i] > 1 && st[i] % VECATTN_Q8_0_BLOCK != 0;
  }
  int64_t last = 0;
  for (int i = 0; i < 4; ++i) {
    if (st[i] < 0) x->hostile = 1;
    if (!x->huge) last += (shape[i] - 1) * (st[i] > 0 ? st[i] : 0);
  }
  x->n = (size_t)last + 1;
  if (t == VECATTN_Q8_0) x->n = (x->n + VECATTN_Q8_0_BLOCK - 1) / VECATTN_Q8_0_BLOCK * VECATTN_Q8_0_BLOCK;
  /* bit 2 of the layout byte: data one byte past an aligned address (no
   * alignment is required of data, not even the element's) */
  const size_t off = layout >> 2 & 1;
  x->raw = malloc(type_bytes(t, x->n) + off);
  x->buf = (unsigned char *)x->raw + off;
  memcpy(x->t.shape, shape, sizeof shape);
  memcpy(x->t.stride, st, sizeof st);
  x->t.data = x->buf;
  x->t.dtype = t;
}

/* A bias with one whole-int64 stride: hostile when negative or past the
 * address space, else its buffer covers every element (a valid but
 * unbackable stride keeps its low byte). Returns 1 when the call must fail
 * before reading it. */
static int ext_huge(ftensor *b, int *hostile) {
  __int128 ext = extent_elems(b->t.shape, b->t.stride);
  for (int d = 0; d < 4; ++d)
    if (b->t.stride[d] < 0) *hostile = 1;
  if (ext * 4 >= UNMAPPABLE_BYTES) return *hostile = b->huge = 1;
  if (ext > ALLOCATABLE_ELEMS) {
    for (int d = 0; d < 4; ++d) b->t.stride[d] = (int8_t)b->t.stride[d];
    for (int d = 0; d < 4; ++d)
      if (b->t.stride[d] < 0) *hostile = 1;
    ext = extent_elems(b->t.shape, b->t.stride);
  }
  if (ext > (__int128)b->n) b->n = (size_t)ext;
  return 0;
}

/* Values from the input, rounded to the tensor's type as vecattn_convert rounds. */
static void fill(ftensor *x, reader *r, int specials) {
  float *f = malloc(x->n * sizeof(float));
  for (size_t i = 0; i < x->n; ++i) f[i] = rd_value(r, specials);
  if (vecattn_convert(f, VECATTN_F32, x->buf, x->t.dtype, (int64_t)x->n) != VECATTN_OK) fail("convert failed");
  free(f);
}

/* max |x| over the buffer, widened. */
static float max_abs(const ftensor *x) {
  float *f = malloc(x->n * sizeof(float)), m = 0.0f;
  if (vecattn_convert(x->buf, x->t.dtype, f, VECATTN_F32, (int64_t)x->n) != VECATTN_OK) fail("convert failed");
  for (size_t i = 0; i < x->n; ++i) m = fmaxf(m, fabsf(f[i]));
  free(f);
  return m;
}

/* Every logical element of an accepted output must have its own address. */
static void check_injective(const ftensor *x) {
  unsigned char *hit = calloc(x->n, 1);
  const int64_t *sh = x->t.shape, *st = x->t.stride;
  for (int64_t a = 0; a < sh[0]; ++a)
    for (int64_t b = 0; b < sh[1]; ++b)
      for (int64_t c = 0; c < sh[2]; ++c)
        for (int64_t d = 0; d < sh[3]; ++d) {
          const int64_t at = a * st[0] + b * st[1] + c * st[2] + d * st[3];
          if (hit[at]++) fail("accepted an output layout whose elements alias");
        }
  free(hit);
}

typedef struct {
  int kind; /* 0 sdpa, 1 weights, 2 attend */
  vecattn_score_fn fn;
  const vecattn_tensor *q, *k, *v;
  vecattn_sdpa_opts o;
} call_spec;

static vecattn_status run(const call_spec *c, vecattn_tensor *out, float *lse) {
  vecattn_sdpa_opts o = c->o;
  o.lse = lse;
  switch (c->kind) {
  case 0: return vecattn_sdpa(c->q, c->k, c->v, out, &o);
  case 1: return vecattn_attention_weights(c->q, c->k, out, &o);
  default: return vecattn_attend(&c->fn, c->q, c->k, c->v, out, &o);
  }
}

/* Outputs are convex combinations of v rows (or probabilities): judge the
 * difference against the largest |v|. Both sides are contiguous copies. */
static void compare(const float *got, const float *ref, size_t n, const float *lse, const float *ref_lse,
                    size_t rows, float vmax, float rel) {
  const float tol = rel * (1.0f + vmax);
  for (size_t e = 0; e < n; ++e)
    if (!(fabsf(got[e] - ref[e]) <= tol)) {
      fprintf(stderr, "element %zu: %g, scalar path %g\n", e, (double)got[e], (double)ref[e]);
      fail("result differs from the scalar path");
    }
  for (size_t i = 0; lse && i < rows; ++i) {
    const int both_masked = lse[i] == -INFINITY && ref_lse[i] == -INFINITY;
    if (!both_masked && !(fabsf(lse[i] - ref_lse[i]) <= 2e-3f * (1.0f + fabsf(ref_lse[i]))))
      fail("lse differs from the scalar path");
  }
}

static float *gather(const ftensor *x) { /* logical elements as f32, contiguous */
  const int64_t *sh = x->t.shape, *st = x->t.stride;
  float *g = malloc(sizeof(float) * (size_t)(sh[0] * sh[1] * sh[2] * sh[3]));
  size_t e = 0;
  for (int64_t a = 0; a < sh[0]; ++a)
    for (int64_t b = 0; b < sh[1]; ++b)
      for (int64_t c = 0; c < sh[2]; ++c)
        for (int64_t d = 0; d < sh[3]; ++d)
          g[e++] = load_elem(x->buf, x->t.dtype, a * st[0] + b * st[1] + c * st[2] + d * st[3]);
  return g;
}

/* Reduced-precision results: each element within the convex hull's bound. */
static void check_bounded(const float *got, size_t n, float bound) {
  for (size_t e = 0; e < n; ++e)
    if (!(fabsf(got[e]) <= bound)) {
      fprintf(stderr, "element %zu: %g, bound %g\n", e, (double)got[e], (double)bound);
      fail("reduced-precision result outside the convex hull of its values");
    }
}

/* Keys [j0, j0 + n) of x (K or V): the same tensor, its data moved on. */
static vecattn_tensor key_slice(const vecattn_tensor *x, int64_t j0, int64_t n) {
  vecattn_tensor s = *x;
  s.data = (unsigned char *)x->data + vecattn_dtype_bytes(x->dtype, j0 * x->stride[2]);
  s.shape[2] = n;
  return s;
}

/* An unmasked sdpa call split at key `split` into two shards, each with its
 * lse, and merged: what context-parallel attention does. It must give the
 * whole call's result (ref, as f32) up to rounding. */
static void check_merge(const call_spec *c, int64_t split, const float *ref, float vmax, float rel) {
  const vecattn_tensor *q = c->q;
  const int64_t B = q->shape[0], Hq = q->shape[1], Nq = q->shape[2], Nk = c->k->shape[2], Dv = c->v->shape[3];
  const size_t rows = (size_t)(B * Hq * Nq), n = rows * (size_t)Dv;
  float *part[2], *part_lse[2], *merged = malloc(n * sizeof(float));
  vecattn_tensor parts[2];
  for (int s = 0; s < 2; ++s) {
    const int64_t j0 = s ? split : 0, nk = s ? Nk - split : split;
    const vecattn_tensor k = key_slice(c->k, j0, nk), v = key_slice(c->v, j0, nk);
    part[s] = malloc(n * sizeof(float)), part_lse[s] = malloc(rows * sizeof(float));
    parts[s] = vecattn_tensor_bhsd(part[s], B, Hq, Nq, Dv);
    vecattn_sdpa_opts o = c->o;
    o.lse = part_lse[s];
    if (vecattn_sdpa(q, &k, &v, &parts[s], &o) != VECATTN_OK) fail("a shard of an accepted call was rejected");
  }
  vecattn_tensor out = vecattn_tensor_bhsd(merged, B, Hq, Nq, Dv);
  if (vecattn_merge(parts, (const float *const *)part_lse, 2, &out, NULL, c->o.num_threads) != VECATTN_OK)
    fail("merge rejected two shards");
  const float tol = rel * (1.0f + vmax);
  if (getenv("FUZZ_SDPA_VERBOSE")) fprintf(stderr, "merge: split at key %lld of %lld\n", (long long)split, (long long)Nk);
  for (size_t e = 0; e < n; ++e)
    if (!(fabsf(merged[e] - ref[e]) <= tol)) {
      fprintf(stderr, "element %zu: merged %g, whole %g (split at key %lld of %lld)\n", e, (double)merged[e],
              (double)ref[e], (long long)split, (long long)Nk);
      fail("two merged shards differ from the whole call");
    }
  free(part[0]), free(part[1]), free(part_lse[0]), free(part_lse[1]), free(merged);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  reader r = reader_of(data, size);
  const uint64_t seed_byte = r.rng >> 56; /* from the input's hash: picks the shard split */

  const uint8_t flags = rd(&r);
  const int specials = (flags >> 6) & 1;
  call_spec c;
  memset(&c, 0, sizeof c);
  const uint8_t call = rd(&r), types = call / 3;
  c.kind = call % 3;
  static const vecattn_dtype float_type[3] = {VECATTN_F32, VECATTN_F16, VECATTN_BF16};
  const vecattn_dtype kt = (vecattn_dtype)(types % 4), vt = (vecattn_dtype)(types / 4 % 4);
  const vecattn_dtype qt = float_type[types / 16 % 3], ot = types / 48 ? qt : VECATTN_F32;
  const uint8_t isa_byte = rd(&r);
  const vecattn_isa isa = (vecattn_isa)(isa_byte % VECATTN_ISA_COUNT);
  c.o.reduced_precision = isa_byte / VECATTN_ISA_COUNT % 2;
  c.o.num_threads = 1 + rd(&r) % 3;
  int hostile = 0;

  const int64_t B = 1 + rd(&r) % 2, Hkv = 1 + rd(&r) % 3;
  const uint8_t g = rd(&r);
  const int64_t Hq = g >= 240 ? 1 + g % 6 : Hkv * (1 + g % 3);
  hostile |= Hq % Hkv != 0;
  const int64_t Nq = rd_dim(&r), Nk = rd_dim(&r);
  int64_t D = rd_dim(&r), Dv = rd_dim(&r);
  if (kt == VECATTN_Q8_0 && D % 4 != 3) D = VECATTN_Q8_0_BLOCK * (1 + D % 2);
  if (vt == VECATTN_Q8_0 && Dv % 4 != 3) Dv = VECATTN_Q8_0_BLOCK * (1 + Dv % 2);
  int64_t Dk = D;
  if (c.kind == 1) Dv = Nk;
  if (c.kind == 2) {
    c.fn.kind = (vecattn_score)(rd(&r) % 5);
    hostile |= c.fn.kind > VECATTN_SCORE_ADDITIVE;
    if (c.fn.kind == VECATTN_SCORE_GENERAL || c.fn.kind == VECATTN_SCORE_ADDITIVE) {
      Dk = rd_dim(&r);
      if (kt == VECATTN_Q8_0 && Dk % 4 != 3) Dk = VECATTN_Q8_0_BLOCK * (1 + Dk % 2);
    }
    c.fn.attn_dim = rd_dim(&r);
  }

  ftensor q, k, v, out;
  make_tensor(&q, &r, B, Hq, Nq, D, qt);
  make_tensor(&k, &r, B, Hkv, Nk, Dk, kt);
  make_tensor(&v, &r, B, Hkv, Nk, Dv, vt);
  make_tensor(&out, &r, B, Hq, Nq, Dv, ot);
  hostile |= q.hostile || k.hostile || out.hostile || (c.kind != 1 && v.hostile);
  hostile |= c.kind == 1 && ot != VECATTN_F32; /* attention weights are f32 */

  /* options */
  int32_t kv_len[2] = {0, 0};
  ftensor bias = {0};
  float *alibi = NULL, *fw = NULL, *fu = NULL, *fv = NULL;
  if (flags & 1) c.o.causal = 1;
  if (flags & 2) {
    const uint8_t w = rd(&r);
    c.o.window = w == 255 ? INT64_MAX : w % (Nk + 2);
  }
  if (flags & 4) {
    for (int64_t b = 0; b < B; ++b) {
      kv_len[b] = (int32_t)(rd(&r) % (Nk + 3)) - 1; /* -1 .. Nk+1 */
      hostile |= kv_len[b] < 0 || kv_len[b] > Nk;
    }
    c.o.kv_len = kv_len;
  }
  if (flags & 8) {
    const uint8_t bc = rd(&r), zero = rd(&r);
    const int64_t full[4] = {B, Hq, Nq, Nk};
    int64_t shape[4], n = 1;
    for (int d = 0; d < 4; ++d) shape[d] = (bc >> d) & 1 ? 1 : full[d];
    bias.t.shape[3] = shape[3], bias.t.stride[3] = 1;
    for (int d = 3; d >= 0; --d) { /* contiguous, or stride 0 (broadcast by stride) */
      bias.t.shape[d] = shape[d];
      bias.t.stride[d] = (zero >> d) & 1 ? 0 : n;
      n *= shape[d];
    }
    bias.n = (size_t)n;
    const uint8_t wide = rd(&r);
    if (wide >= 240) { /* any int64 stride: negative ones and extents past the address space are hostile */
      bias.t.stride[wide % 4] = rd_i64(&r);
      if (ext_huge(&bias, &hostile)) bias.n = 1;
    }
    float *bf = malloc(bias.n * sizeof(float));
    bias.buf = bias.t.data = bf;
    for (size_t i = 0; i < bias.n; ++i) bf[i] = rd(&r) < 16 ? -INFINITY : rd_value(&r, specials);
    c.o.bias = &bias.t;
  }
  if (flags & 16) {
    alibi = malloc(sizeof(float) * (size_t)Hq);
    for (int64_t h = 0; h < Hq; ++h) alibi[h] = rd_value(&r, specials) / 8.0f;
    c.o.alibi_slopes = alibi;
  }
  if (flags & 128) c.o.scale = rd_value(&r, specials) / 8.0f; /* NaN/Inf scales must be rejected */
  hostile |= !isfinite(c.o.scale);
  fill(&q, &r, specials), fill(&k, &r, specials), fill(&v, &r, specials);
  if (c.kind == 2) {
    const int64_t da = c.fn.attn_dim;
    fw = malloc(sizeof(float) * (size_t)(D * (Dk > da ? Dk : da)));
    fu = malloc(sizeof(float) * (size_t)(Dk * da));
    fv = malloc(sizeof(float) * (size_t)da);
    /* GENERAL's scores are unscaled: keep q^T W k near the other kinds' */
    const float w_scale = c.fn.kind == VECATTN_SCORE_GENERAL ? 8.0f * (float)(D > Dk ? D : Dk) : 8.0f;
    for (int64_t i = 0; i < D * (Dk > da ? Dk : da); ++i) fw[i] = rd_value(&r, specials) / w_scale;
    for (int64_t i = 0; i < Dk * da; ++i) fu[i] = rd_value(&r, specials) / 8.0f;
    for (int64_t i = 0; i < da; ++i) fv[i] = rd_value(&r, specials);
    c.fn.w = fw, c.fn.u = fu, c.fn.v_a = fv;
  }
  c.q = &q.t, c.k = &k.t, c.v = &v.t;

  const size_t rows = (size_t)(B * Hq * Nq);
  float *lse = (flags & 32) ? malloc(sizeof(float) * rows) : NULL;
  const size_t out_bytes = type_bytes(out.t.dtype, out.n);
  memset(out.buf, 0x7F, out_bytes); /* a NaN pattern (f32, f16): detects writes on error */
  if (lse) memset(lse, 0x7F, rows * sizeof(float));

  const int isa_ok = vecattn_set_isa(isa) == VECATTN_OK;
  const vecattn_status st = run(&c, &out.t, lse);
  fuzz_check_status("fuzz_sdpa", st);
  if (!vecattn_strerror(st)[0]) fail("empty vecattn_strerror");
  if (hostile && st == VECATTN_OK) fail("accepted an invalid argument");
  if (getenv("FUZZ_SDPA_VERBOSE"))
    fprintf(stderr, "call %d isa %s%s: q %s k %s v %s out %s B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld Dk=%lld Dv=%lld -> %s\n",
            c.kind, vecattn_isa_name(isa), c.o.reduced_precision ? " (reduced precision)" : "", vecattn_dtype_name(qt),
            vecattn_dtype_name(kt), vecattn_dtype_name(vt), vecattn_dtype_name(ot), (long long)B, (long long)Hq,
            (long long)Hkv, (long long)Nq, (long long)Nk, (long long)D, (long long)Dk, (long long)Dv,
            vecattn_strerror(st));

  if (st != VECATTN_OK) {
    if (!all_bytes(out.buf, out_bytes, 0x7F)) fail("rejected call wrote to out");
    if (lse && !all_bytes(lse, rows * sizeof(float), 0x7F)) fail("rejected call wrote to lse");
  } else {
    check_injective(&out);
    const float vmax = c.kind == 1 ? 1.0f : max_abs(&v);
    if (!specials && c.o.reduced_precision) { /* out: rounded to its type, a little past the bound */
      float *got = gather(&out);
      check_bounded(got, rows * (size_t)Dv, vmax * 1.01f + 1e-6f);
      free(got);
    } else if (!specials && isa_ok && isa != VECATTN_ISA_SCALAR) {
      float *got = gather(&out), *got_lse = NULL;
      if (lse) {
        got_lse = malloc(sizeof(float) * rows);
        memcpy(got_lse, lse, sizeof(float) * rows);
      }
      vecattn_set_isa(VECATTN_ISA_SCALAR);
      if (run(&c, &out.t, lse) != VECATTN_OK) fail("scalar path rejected what another path accepted");
      float *ref = gather(&out);
      /* bf16 output: both sides round their f32 to 8 bits, maybe to neighbours */
      compare(got, ref, rows * (size_t)Dv, got_lse, lse, rows, vmax, out.t.dtype == VECATTN_BF16 ? 1e-2f : 2e-3f);
      free(got), free(got_lse), free(ref);
    }
    /* no mask that depends on where a key sits, so any split is exact */
    if (!specials && c.kind == 0 && !(flags & 0x1F) && Nk > 1) {
      float *whole = gather(&out);
      check_merge(&c, 1 + (int64_t)(seed_byte % (uint64_t)(Nk - 1)), whole, vmax,
                  c.o.reduced_precision ? 0.25f : out.t.dtype == VECATTN_BF16 ? 1e-2f : 2e-3f);
      free(whole);
    }
  }
  vecattn_set_isa(VECATTN_ISA_AUTO);

  free(q.raw), free(k.raw), free(v.raw), free(out.raw), free(bias.buf);
  free(alibi), free(fw), free(fu), free(fv), free(lse);
  return 0;
}
