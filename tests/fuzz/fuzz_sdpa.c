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
 *   call   %3: sdpa, weights, attend      isa  %6: auto, scalar, sse2, ...
 *   threads 1 + %3
 *   B 1+%2, Hkv 1+%3, group (>= 240: Hq = 1+%6, maybe not a multiple),
 *   Nq, Nk, D, Dv each 1+%64; attend: score kind %5, Dk 1+%64, Da 1+%64
 *   per tensor q, k, v, out: layout %4 (bhsd, bshd, padded, raw: then per
 *   stride[0..2] one byte: >= 224 a whole int64 from the next 8 bytes (any
 *   value, so extents reach past the address space), else that byte as a
 *   signed stride; stride[3] = 1 unless the next byte is odd)
 *   window, kv_len[b], bias broadcast mask + stride-0 mask (+ one byte: >= 240
 *   a whole-int64 stride on dim byte % 4), scale, data. */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vecattn.h"

enum { MAX_DIM = 64 };

typedef struct {
  const uint8_t *p;
  size_t n;
  uint64_t rng;
} reader;

static uint8_t rd(reader *r) {
  if (r->n) {
    r->n--;
    return *r->p++;
  }
  r->rng = r->rng * 6364136223846793005ull + 1442695040888963407ull;
  return (uint8_t)(r->rng >> 56);
}

static int64_t rd_dim(reader *r) { return 1 + rd(r) % MAX_DIM; }

static int64_t rd_i64(reader *r) {
  uint64_t u = 0;
  for (int i = 0; i < 8; ++i) u = u << 8 | rd(r);
  return (int64_t)u;
}

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

static float rd_value(reader *r, int specials) {
  const uint8_t b = rd(r);
  if (specials && b >= 250) {
    static const float special[] = {NAN, INFINITY, -INFINITY, 1e30f, 1e-40f, -FLT_MAX};
    return special[b - 250];
  }
  return (float)((int)b - 128) / 32.0f;
}

static _Noreturn void fail(const char *what) {
  fprintf(stderr, "fuzz_sdpa: %s\n", what);
  abort();
}

typedef struct {
  vecattn_tensor t;
  float *buf;
  size_t n;   /* floats in buf */
  int hostile; /* strides the library must reject */
  int huge;    /* extent past any address space: buf holds one element only */
} ftensor;

/* Layout from the input; the buffer covers every element the strides reach,
 * so an accepted call stays in bounds unless the library errs. */
static void make_tensor(ftensor *x, reader *r, int64_t b, int64_t h, int64_t s, int64_t d) {
  const int64_t shape[4] = {b, h, s, d};
  int64_t st[4];
  switch (rd(r) % 4) {
  case 0: st[3] = 1, st[2] = d, st[1] = s * d, st[0] = h * s * d; break;
  case 1: st[3] = 1, st[1] = d, st[2] = h * d, st[0] = s * h * d; break;
  case 2: st[3] = 1, st[2] = d + 1, st[1] = s * (d + 1) + 3, st[0] = h * (s * (d + 1) + 3) + 5; break;
  default:
    for (int i = 0; i < 3; ++i) {
      const uint8_t how = rd(r);
      st[i] = how >= 224 ? rd_i64(r) : (int8_t)rd(r);
    }
    st[3] = rd(r) % 2 ? (int8_t)rd(r) : 1;
  }
  const __int128 ext = extent_elems(shape, st);
  x->huge = ext * 4 >= UNMAPPABLE_BYTES;
  if (!x->huge && ext > ALLOCATABLE_ELEMS) /* valid but unbacked: keep the low bytes */
    for (int i = 0; i < 3; ++i) st[i] = (int8_t)st[i];
  x->hostile = st[3] != 1 || x->huge;
  int64_t last = 0;
  for (int i = 0; i < 4; ++i) {
    if (st[i] < 0) x->hostile = 1;
    if (!x->huge) last += (shape[i] - 1) * (st[i] > 0 ? st[i] : 0);
  }
  x->n = (size_t)last + 1;
  x->buf = malloc(x->n * sizeof(float));
  memcpy(x->t.shape, shape, sizeof shape);
  memcpy(x->t.stride, st, sizeof st);
  x->t.data = x->buf;
  x->t.dtype = VECATTN_F32;
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

static void fill(ftensor *x, reader *r, int specials) {
  for (size_t i = 0; i < x->n; ++i) x->buf[i] = rd_value(r, specials);
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
                    size_t rows, float vmax) {
  const float tol = 2e-3f * (1.0f + vmax);
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

static float *gather(const ftensor *x) { /* logical elements, contiguous */
  const int64_t *sh = x->t.shape, *st = x->t.stride;
  float *g = malloc(sizeof(float) * (size_t)(sh[0] * sh[1] * sh[2] * sh[3]));
  size_t e = 0;
  for (int64_t a = 0; a < sh[0]; ++a)
    for (int64_t b = 0; b < sh[1]; ++b)
      for (int64_t c = 0; c < sh[2]; ++c)
        for (int64_t d = 0; d < sh[3]; ++d) g[e++] = x->buf[a * st[0] + b * st[1] + c * st[2] + d * st[3]];
  return g;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint64_t seed = 0xCBF29CE484222325ull; /* FNV-1a of the input */
  for (size_t i = 0; i < size; ++i) seed = (seed ^ data[i]) * 0x100000001B3ull;
  reader r = {data, size, seed};

  const uint8_t flags = rd(&r);
  const int specials = (flags >> 6) & 1;
  call_spec c;
  memset(&c, 0, sizeof c);
  c.kind = rd(&r) % 3;
  const vecattn_isa isa = (vecattn_isa)(rd(&r) % VECATTN_ISA_COUNT);
  c.o.num_threads = 1 + rd(&r) % 3;
  int hostile = 0;

  const int64_t B = 1 + rd(&r) % 2, Hkv = 1 + rd(&r) % 3;
  const uint8_t g = rd(&r);
  const int64_t Hq = g >= 240 ? 1 + g % 6 : Hkv * (1 + g % 3);
  hostile |= Hq % Hkv != 0;
  const int64_t Nq = rd_dim(&r), Nk = rd_dim(&r), D = rd_dim(&r);
  int64_t Dv = rd_dim(&r), Dk = D;
  if (c.kind == 1) Dv = Nk;
  if (c.kind == 2) {
    c.fn.kind = (vecattn_score)(rd(&r) % 5);
    hostile |= c.fn.kind > VECATTN_SCORE_ADDITIVE;
    if (c.fn.kind == VECATTN_SCORE_GENERAL || c.fn.kind == VECATTN_SCORE_ADDITIVE) Dk = rd_dim(&r);
    c.fn.attn_dim = rd_dim(&r);
  }

  ftensor q, k, v, out;
  make_tensor(&q, &r, B, Hq, Nq, D);
  make_tensor(&k, &r, B, Hkv, Nk, Dk);
  make_tensor(&v, &r, B, Hkv, Nk, Dv);
  make_tensor(&out, &r, B, Hq, Nq, Dv);
  hostile |= q.hostile || k.hostile || out.hostile || (c.kind != 1 && v.hostile);

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
    bias.buf = bias.t.data = malloc(bias.n * sizeof(float));
    for (size_t i = 0; i < bias.n; ++i) bias.buf[i] = rd(&r) < 16 ? -INFINITY : rd_value(&r, specials);
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
  memset(out.buf, 0x7F, out.n * sizeof(float)); /* a NaN pattern: detects writes on error */
  if (lse) memset(lse, 0x7F, rows * sizeof(float));

  const int isa_ok = vecattn_set_isa(isa) == VECATTN_OK;
  const vecattn_status st = run(&c, &out.t, lse);
  if (st != VECATTN_OK && st != VECATTN_EINVAL && st != VECATTN_ENOMEM && st != VECATTN_EUNSUPPORTED &&
      st != VECATTN_EOVERFLOW && st != VECATTN_ENOSPC)
    fail("status is not a vecattn_status");
  if (st != VECATTN_OK && !vecattn_last_error()[0]) fail("a failed call left no detail message");
  if (!vecattn_strerror(st)[0]) fail("empty vecattn_strerror");
  if (hostile && st == VECATTN_OK) fail("accepted an invalid argument");
  if (getenv("FUZZ_SDPA_VERBOSE"))
    fprintf(stderr, "call %d isa %s: B=%lld Hq=%lld Hkv=%lld Nq=%lld Nk=%lld D=%lld Dk=%lld Dv=%lld -> %s\n", c.kind,
            vecattn_isa_name(isa), (long long)B, (long long)Hq, (long long)Hkv, (long long)Nq, (long long)Nk,
            (long long)D, (long long)Dk, (long long)Dv, vecattn_strerror(st));

  if (st != VECATTN_OK) {
    for (size_t i = 0; i < out.n; ++i) {
      uint32_t bits;
      memcpy(&bits, &out.buf[i], sizeof bits);
      if (bits != 0x7F7F7F7Fu) fail("rejected call wrote to out");
    }
    for (size_t i = 0; lse && i < rows; ++i) {
      uint32_t bits;
      memcpy(&bits, &lse[i], sizeof bits);
      if (bits != 0x7F7F7F7Fu) fail("rejected call wrote to lse");
    }
  } else {
    check_injective(&out);
    if (!specials && isa_ok && isa != VECATTN_ISA_SCALAR) {
      float *got = gather(&out), *got_lse = NULL;
      if (lse) {
        got_lse = malloc(sizeof(float) * rows);
        memcpy(got_lse, lse, sizeof(float) * rows);
      }
      vecattn_set_isa(VECATTN_ISA_SCALAR);
      if (run(&c, &out.t, lse) != VECATTN_OK) fail("scalar path rejected what another path accepted");
      float vmax = 0.0f;
      for (size_t i = 0; c.kind != 1 && i < v.n; ++i) vmax = fmaxf(vmax, fabsf(v.buf[i]));
      float *ref = gather(&out);
      compare(got, ref, rows * (size_t)Dv, got_lse, lse, rows, vmax);
      free(got), free(got_lse), free(ref);
    }
  }
  vecattn_set_isa(VECATTN_ISA_AUTO);

  free(q.buf), free(k.buf), free(v.buf), free(out.buf), free(bias.buf);
  free(alibi), free(fw), free(fu), free(fv), free(lse);
  return 0;
}
