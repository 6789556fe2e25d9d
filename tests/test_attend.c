/* vecattn_attend: the four score functions (dot, scaled dot, general,
 * additive) on every supported ISA against the float64 reference in
 * ref_attend.c: odd sizes, Dq != Dk, several attention dims, every mask
 * mode, GQA, lse, strided layouts; bitwise determinism across thread counts;
 * bad inputs rejected without writing anything.
 *
 * Tolerance: relative L2 <= 1e-5 for every kind, additive included. SLEEF's
 * tanhf_u10 is within 1 ULP (6e-8 relative), no worse than the float32
 * rounding of the projections feeding it, so it needs no looser bar; the
 * largest errors measured were about 1e-6 (see the summary lines printed
 * per test). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref_attend.h"
#include "testutil.h"

#define TOL 1e-5
#define NKIND 4

static const char *kind_name(vecattn_score k) {
  static const char *names[NKIND] = {"dot", "scaled_dot", "general", "additive"};
  return (int)k >= 0 && (int)k < NKIND ? names[k] : "?";
}

/* Max errors seen in one test, per ISA and kind, printed when it ends. */
static double g_err[VECATTN_ISA_COUNT][NKIND];

static void report_errors(const char *test) {
  for (int i = 0; i < VECATTN_ISA_COUNT; i++) {
    int any = 0;
    for (int k = 0; k < NKIND; k++) any |= g_err[i][k] > 0;
    if (!any) continue;
    printf("%s [isa %s] max rel L2 (out or lse):", test, vecattn_isa_name((vecattn_isa)i));
    for (int k = 0; k < NKIND; k++) printf(" %s %.2e", kind_name((vecattn_score)k), g_err[i][k]);
    printf("\n");
  }
  fflush(stdout);
  memset(g_err, 0, sizeof g_err);
}

/* ---- score-function weights: N(0,1) scaled so pre-activations are O(1) ---- */
typedef struct {
  vecattn_score_fn fn;
  float *w, *u, *va;
} score_weights;

static float *normal_array(size_t n, double scale) {
  float *p = malloc((n ? n : 1) * sizeof(float));
  ck_assert(p != NULL);
  tu_fill_normal(p, n);
  for (size_t i = 0; i < n; i++) p[i] = (float)(p[i] * scale);
  return p;
}

static void weights_make(score_weights *sw, vecattn_score kind, int64_t dq, int64_t dk, int64_t da) {
  memset(sw, 0, sizeof *sw);
  sw->fn.kind = kind;
  if (kind == VECATTN_SCORE_GENERAL) {
    sw->w = normal_array((size_t)(dq * dk), 1.0 / sqrt((double)dq));
  } else if (kind == VECATTN_SCORE_ADDITIVE) {
    sw->w = normal_array((size_t)(da * dq), 1.0 / sqrt((double)dq));
    sw->u = normal_array((size_t)(da * dk), 1.0 / sqrt((double)dk));
    sw->va = normal_array((size_t)da, 1.0);
    sw->fn.attn_dim = da;
  }
  sw->fn.w = sw->w, sw->fn.u = sw->u, sw->fn.v_a = sw->va;
}

static void weights_free(score_weights *sw) { free(sw->w), free(sw->u), free(sw->va); }

/* ---- one problem, every ISA ---- */
enum { KV_NONE, KV_HALF, KV_ZERO };
enum { BIAS_NONE, BIAS_FULL, BIAS_BCAST, BIAS_NEGINF };

typedef struct {
  int b, hq, hkv, nq, nk, dq, dk, dv, da; /* dk is used by general/additive; dot kinds use dq */
  tu_layout layout;
  int causal, window, kv, bias, alibi;
  float scale;
} acase;

static void make_bias(tu_tensor *bt, const acase *c, int mode) {
  const int bc = mode == BIAS_BCAST; /* broadcast over batch and head through stride 0 */
  tu_tensor_make(bt, TU_BHSD, bc ? 1 : c->b, bc ? 1 : c->hq, c->nq, c->nk);
  tu_tensor_fill_normal(bt);
  if (mode == BIAS_NEGINF) /* about a quarter of keys, and one whole row per head */
    for (int64_t b = 0; b < c->b; b++)
      for (int64_t h = 0; h < c->hq; h++)
        for (int64_t i = 0; i < c->nq; i++)
          for (int64_t j = 0; j < c->nk; j++)
            if (i == c->nq / 2 || tu_rand_uniform() < 0.25) *tu_at(&bt->t, b, h, i, j) = -INFINITY;
  bt->t.shape[0] = c->b, bt->t.shape[1] = c->hq;
  if (bc) bt->t.stride[0] = bt->t.stride[1] = 0;
}

static void run_case(const char *test, vecattn_score kind, const acase *c, uint64_t salt) {
  const int dot = kind == VECATTN_SCORE_DOT || kind == VECATTN_SCORE_SCALED_DOT;
  const int dk = dot ? c->dq : c->dk;
  char label[256];
  snprintf(label, sizeof label,
           "%s kind=%s B=%d Hq=%d Hkv=%d Nq=%d Nk=%d Dq=%d Dk=%d Dv=%d Da=%d %s causal=%d window=%d kv=%d "
           "bias=%d alibi=%d scale=%g",
           test, kind_name(kind), c->b, c->hq, c->hkv, c->nq, c->nk, c->dq, dk, c->dv, c->da,
           tu_layout_name(c->layout), c->causal, c->window, c->kv, c->bias, c->alibi, (double)c->scale);
  tu_reseed(salt);
  tu_tensor q, k, v, out, bias;
  tu_tensor_make(&q, c->layout, c->b, c->hq, c->nq, c->dq);
  tu_tensor_make(&k, c->layout, c->b, c->hkv, c->nk, dk);
  tu_tensor_make(&v, c->layout, c->b, c->hkv, c->nk, c->dv);
  tu_tensor_make(&out, c->layout, c->b, c->hq, c->nq, c->dv);
  tu_tensor_fill_normal(&q), tu_tensor_fill_normal(&k), tu_tensor_fill_normal(&v);
  score_weights sw;
  weights_make(&sw, kind, c->dq, dk, c->da);

  vecattn_sdpa_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.scale = c->scale;
  opts.causal = c->causal;
  opts.window = c->window;
  int32_t kv_len[2] = {c->nk, c->kv == KV_ZERO ? 0 : c->nk / 2 + 1};
  ck_assert(c->kv == KV_NONE || c->b == 2);
  if (c->kv != KV_NONE) opts.kv_len = kv_len;
  if (c->bias != BIAS_NONE) make_bias(&bias, c, c->bias), opts.bias = &bias.t;
  float *slopes = malloc(sizeof(float) * (size_t)c->hq);
  for (int h = 0; h < c->hq; h++) slopes[h] = powf(2.0f, -8.0f * (float)(h + 1) / (float)c->hq);
  if (c->alibi) opts.alibi_slopes = slopes;

  const size_t rows = (size_t)c->b * c->hq * c->nq;
  float *lse = tu_guarded_alloc(rows * sizeof(float), 4);
  double *ref_out = malloc(sizeof(double) * rows * (size_t)c->dv), *ref_lse = malloc(sizeof(double) * rows);
  ck_assert(ref_out && ref_lse);
  ref_attend(&sw.fn, &q.t, &k.t, &v.t, &opts, ref_out, ref_lse);
  opts.lse = lse;

  TU_FOR_EACH_ISA(isa) {
    tu_tensor_poison(&out);
    tu_poison(lse, rows);
    const vecattn_status st = vecattn_attend(&sw.fn, &q.t, &k.t, &v.t, &out.t, &opts);
    ck_assert_msg(st == VECATTN_OK, "%s [isa %s]: status %d (%s)", label, vecattn_isa_name(isa), (int)st,
                  vecattn_strerror(st));
    tu_check_sdpa_result(label, isa, &out, lse, ref_out, ref_lse, TOL);
    size_t mism = 0;
    double e = tu_rel_l2_tensor(&out.t, ref_out), el = tu_rel_l2_lse(lse, ref_lse, rows, &mism);
    e = e > el ? e : el;
    if (e > g_err[isa][kind]) g_err[isa][kind] = e;
  }
  if (c->bias != BIAS_NONE) tu_tensor_free(&bias);
  weights_free(&sw);
  free(slopes), free(ref_out), free(ref_lse);
  tu_guarded_free(lse);
  tu_tensor_free(&q), tu_tensor_free(&k), tu_tensor_free(&v), tu_tensor_free(&out);
}

/* ---- odd sizes (1, 3, 17, 63, 65, 127), Dq != Dk, Da in {1, 7, 16, 33} ---- */
static const acase size_cases[] = {
    /* b hq hkv  nq   nk  dq  dk  dv  da  layout */
    {1, 1, 1, 1, 1, 1, 3, 1, 1, TU_BHSD, 0, 0, 0, 0, 0, 0},
    {2, 4, 2, 3, 127, 17, 7, 3, 7, TU_BSHD, 0, 0, 0, 0, 0, 0},
    {1, 3, 1, 17, 65, 63, 17, 17, 16, TU_PADDED, 0, 0, 0, 0, 0, 0},
    {2, 2, 2, 63, 17, 65, 1, 1, 33, TU_SBHD, 0, 0, 0, 0, 0, 0},
    {1, 2, 1, 65, 3, 3, 65, 63, 1, TU_BHSD, 0, 0, 0, 0, 0, 0},
    {1, 1, 1, 127, 63, 7, 16, 5, 16, TU_BSHD, 0, 0, 0, 0, 0, 0},
    {1, 2, 2, 127, 127, 16, 33, 16, 33, TU_BHSD, 1, 0, 0, 0, 0, 0},
    {1, 8, 2, 1, 700, 32, 24, 16, 7, TU_BHSD, 0, 0, 0, 0, 0, 0}, /* decode: keys split across chunks */
};
#define NSIZE ((int)(sizeof size_cases / sizeof size_cases[0]))

/* Under qemu, shrink the sequences so the suite stays quick. */
static acase trimmed(acase c) {
  if (tu_emulated()) {
    if (c.nq > 65) c.nq = 65;
    if (c.nk > 65) c.nk = 65;
  }
  return c;
}

START_TEST(test_sizes) {
  for (int kind = 0; kind < NKIND; kind++)
    for (int s = 0; s < NSIZE; s++) {
      const acase c = trimmed(size_cases[s]);
      run_case("sizes", (vecattn_score)kind, &c, 0xA77E0000u + (uint64_t)(kind * 100 + s));
    }
  report_errors("sizes");
}
END_TEST

/* ---- every mask mode, with GQA, for each kind ---- */
typedef struct {
  const char *name;
  int causal, window, kv, bias, alibi;
  float scale;
} mask_cfg;

static const mask_cfg masks[] = {
    {"none", 0, 0, KV_NONE, BIAS_NONE, 0, 0.0f},
    {"scale=0.3", 0, 0, KV_NONE, BIAS_NONE, 0, 0.3f},
    {"causal", 1, 0, KV_NONE, BIAS_NONE, 0, 0.0f},
    {"window=5", 0, 5, KV_NONE, BIAS_NONE, 0, 0.0f},
    {"causal+window=8", 1, 8, KV_NONE, BIAS_NONE, 0, 0.0f},
    {"kv_len={Nk,Nk/2+1}", 0, 0, KV_HALF, BIAS_NONE, 0, 0.0f},
    {"kv_len={Nk,0}", 0, 0, KV_ZERO, BIAS_NONE, 0, 0.0f},
    {"bias", 0, 0, KV_NONE, BIAS_FULL, 0, 0.0f},
    {"bias broadcast", 0, 0, KV_NONE, BIAS_BCAST, 0, 0.0f},
    {"bias -inf", 0, 0, KV_NONE, BIAS_NEGINF, 0, 0.0f},
    {"alibi", 0, 0, KV_NONE, BIAS_NONE, 1, 0.0f},
    {"all", 1, 12, KV_HALF, BIAS_NEGINF, 1, 0.7f},
};
#define NMASK ((int)(sizeof masks / sizeof masks[0]))

static const acase mask_shapes[] = {
    {2, 4, 2, 37, 45, 12, 20, 9, 16, TU_BSHD, 0, 0, 0, 0, 0, 0},   /* Nq < Nk */
    {2, 4, 1, 45, 20, 20, 12, 9, 7, TU_PADDED, 0, 0, 0, 0, 0, 0},  /* Nq > Nk: causal empties rows */
};
#define NMSHAPE ((int)(sizeof mask_shapes / sizeof mask_shapes[0]))

START_TEST(test_masks) {
  const mask_cfg *m = &masks[_i];
  for (int kind = 0; kind < NKIND; kind++)
    for (int s = 0; s < NMSHAPE; s++) {
      acase c = mask_shapes[s];
      c.causal = m->causal, c.window = m->window, c.kv = m->kv, c.bias = m->bias, c.alibi = m->alibi;
      c.scale = m->scale;
      char test[64];
      snprintf(test, sizeof test, "mask '%s'", m->name);
      run_case(test, (vecattn_score)kind, &c, 0xA77E1000u + (uint64_t)(_i * 100 + kind * 10 + s));
    }
  if (getenv("VECATTN_TEST_VERBOSE")) {
    char test[64];
    snprintf(test, sizeof test, "mask '%s'", m->name);
    report_errors(test);
  }
}
END_TEST

/* ---- bitwise identical for num_threads 1, 2, 3, 7 ---- */
static const acase det_shapes[] = {
    {1, 4, 2, 150, 150, 24, 40, 20, 33, TU_BHSD, 1, 0, 0, 0, 0, 0}, /* prefill: many tiles */
    {1, 2, 1, 1, 900, 16, 8, 16, 16, TU_BHSD, 0, 0, 0, 0, 0, 0},    /* decode: split keys */
};

START_TEST(test_determinism) {
  static const int threads[] = {1, 2, 3, 7};
  /* qemu-user hangs in OpenMP thread teams (see .ci/run): one thread only. */
  const int nthreads = tu_emulated() ? 1 : 4;
  if (tu_emulated()) printf("determinism: emulated, num_threads=1 only\n");
  for (int kind = 0; kind < NKIND; kind++)
    for (int s = 0; s < 2; s++) {
      const acase c = trimmed(det_shapes[s]);
      const int dk = kind <= VECATTN_SCORE_SCALED_DOT ? c.dq : c.dk;
      tu_reseed(0xA77E2000u + (uint64_t)(kind * 10 + s));
      tu_tensor q, k, v, out;
      tu_tensor_make(&q, c.layout, c.b, c.hq, c.nq, c.dq);
      tu_tensor_make(&k, c.layout, c.b, c.hkv, c.nk, dk);
      tu_tensor_make(&v, c.layout, c.b, c.hkv, c.nk, c.dv);
      tu_tensor_make(&out, c.layout, c.b, c.hq, c.nq, c.dv);
      tu_tensor_fill_normal(&q), tu_tensor_fill_normal(&k), tu_tensor_fill_normal(&v);
      score_weights sw;
      weights_make(&sw, (vecattn_score)kind, c.dq, dk, c.da);
      const size_t rows = (size_t)c.b * c.hq * c.nq;
      float *first = malloc(out.n * sizeof(float)), *lse = malloc(rows * sizeof(float)),
            *lse_first = malloc(rows * sizeof(float));
      ck_assert(first && lse && lse_first);
      vecattn_sdpa_opts opts;
      memset(&opts, 0, sizeof opts);
      opts.causal = c.causal;
      opts.lse = lse;
      TU_FOR_EACH_ISA(isa) {
        for (int t = 0; t < nthreads; t++) {
          opts.num_threads = threads[t];
          tu_tensor_poison(&out);
          tu_poison(lse, rows);
          ck_assert_int_eq(vecattn_attend(&sw.fn, &q.t, &k.t, &v.t, &out.t, &opts), VECATTN_OK);
          if (t == 0) {
            memcpy(first, out.storage, out.n * sizeof(float));
            memcpy(lse_first, lse, rows * sizeof(float));
            continue;
          }
          ck_assert_msg(memcmp(first, out.storage, out.n * sizeof(float)) == 0 &&
                            memcmp(lse_first, lse, rows * sizeof(float)) == 0,
                        "kind=%s Nq=%d Nk=%d [isa %s]: num_threads=%d differs bitwise from num_threads=1",
                        kind_name((vecattn_score)kind), c.nq, c.nk, vecattn_isa_name(isa), threads[t]);
        }
      }
      weights_free(&sw);
      free(first), free(lse), free(lse_first);
      tu_tensor_free(&q), tu_tensor_free(&k), tu_tensor_free(&v), tu_tensor_free(&out);
    }
}
END_TEST

/* ---- bad inputs: the documented status, and out untouched ---- */
/* Inputs lie before out in memory: the overflow cases give out a huge span. */
typedef struct {
  float q[2 * 3 * 8], k[2 * 5 * 6], v[2 * 5 * 4], k64[64], out[2 * 3 * 4];
  float w[8 * 6], u[16 * 6], va[16];
  vecattn_tensor tq, tk, tv, tout;
} bad_fixture;

static void bad_setup(bad_fixture *f) {
  tu_fill_normal(f->q, sizeof f->q / sizeof(float));
  tu_fill_normal(f->k, sizeof f->k / sizeof(float));
  tu_fill_normal(f->v, sizeof f->v / sizeof(float));
  tu_fill_normal(f->w, sizeof f->w / sizeof(float));
  tu_fill_normal(f->u, sizeof f->u / sizeof(float));
  tu_fill_normal(f->va, sizeof f->va / sizeof(float));
  f->tq = vecattn_tensor_bhsd(f->q, 1, 2, 3, 8); /* Dq = 8 */
  f->tk = vecattn_tensor_bhsd(f->k, 1, 2, 5, 6); /* Dk = 6 */
  f->tv = vecattn_tensor_bhsd(f->v, 1, 2, 5, 4);
  f->tout = vecattn_tensor_bhsd(f->out, 1, 2, 3, 4);
}

static void expect_status(bad_fixture *f, const vecattn_score_fn *fn, const vecattn_tensor *k,
                          const vecattn_tensor *v, const vecattn_sdpa_opts *o, vecattn_status want, const char *what) {
  TU_FOR_EACH_ISA(isa) {
    tu_poison(f->out, sizeof f->out / sizeof(float));
    const vecattn_status st = vecattn_attend(fn, &f->tq, k, v, &f->tout, o);
    ck_assert_msg(st == want, "%s [isa %s]: status %d (%s), want %d", what, vecattn_isa_name(isa), (int)st,
                  vecattn_strerror(st), (int)want);
    for (size_t i = 0; i < sizeof f->out / sizeof(float); i++)
      ck_assert_msg(want == VECATTN_OK ? !tu_is_poison(f->out[i]) : tu_is_poison(f->out[i]),
                    "%s [isa %s]: out[%zu] %s", what, vecattn_isa_name(isa), i,
                    want == VECATTN_OK ? "not written" : "written by a rejected call");
  }
}

START_TEST(test_bad_inputs) {
  tu_reseed(0xA77E3000u);
  static bad_fixture f;
  bad_setup(&f);
  vecattn_score_fn gen = {VECATTN_SCORE_GENERAL, f.w, NULL, NULL, 0};
  vecattn_score_fn add = {VECATTN_SCORE_ADDITIVE, f.w, f.u, f.va, 16};
  vecattn_score_fn fn;
  expect_status(&f, &gen, &f.tk, &f.tv, NULL, VECATTN_OK, "general, Dq=8 Dk=6");
  expect_status(&f, &add, &f.tk, &f.tv, NULL, VECATTN_OK, "additive, Dq=8 Dk=6 Da=16");
  expect_status(&f, NULL, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "fn=NULL");
  expect_status(&f, &gen, &f.tk, NULL, NULL, VECATTN_EINVAL, "v=NULL");
  fn = gen, fn.w = NULL;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "general, w=NULL");
  fn = add, fn.w = NULL;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "additive, w=NULL");
  fn = add, fn.u = NULL;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "additive, u=NULL");
  fn = add, fn.v_a = NULL;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "additive, v_a=NULL");
  fn = add, fn.attn_dim = 0;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "additive, attn_dim=0");
  fn = add, fn.attn_dim = -3;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "additive, attn_dim=-3");
  fn = add, fn.kind = (vecattn_score)42;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "kind=42");
  fn = add, fn.kind = (vecattn_score)-1;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "kind=-1");
  fn = gen, fn.kind = VECATTN_SCORE_DOT;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "dot, Dq=8 != Dk=6");
  fn.kind = VECATTN_SCORE_SCALED_DOT;
  expect_status(&f, &fn, &f.tk, &f.tv, NULL, VECATTN_EINVAL, "scaled dot, Dq=8 != Dk=6");

  /* The same checks as vecattn_sdpa: shapes, options, overlap. */
  vecattn_tensor k3 = vecattn_tensor_bhsd(f.k, 1, 3, 5, 2); /* Hq=2 not a multiple of Hkv=3 */
  expect_status(&f, &add, &k3, &f.tv, NULL, VECATTN_EINVAL, "additive, Hq % Hkv != 0");
  vecattn_tensor vbad = vecattn_tensor_bhsd(f.v, 1, 2, 4, 5); /* Nk mismatch */
  expect_status(&f, &gen, &f.tk, &vbad, NULL, VECATTN_EINVAL, "general, v has Nk=4");
  vecattn_sdpa_opts o;
  memset(&o, 0, sizeof o);
  o.window = -1;
  expect_status(&f, &add, &f.tk, &f.tv, &o, VECATTN_EINVAL, "additive, window=-1");
  memset(&o, 0, sizeof o);
  o.scale = NAN;
  expect_status(&f, &gen, &f.tk, &f.tv, &o, VECATTN_EINVAL, "general, scale=NaN");
  o.scale = 0;
  o.lse = f.out; /* lse overlapping out */
  expect_status(&f, &add, &f.tk, &f.tv, &o, VECATTN_EINVAL, "additive, lse overlaps out");
  vecattn_tensor vout = vecattn_tensor_bhsd(f.out, 1, 2, 5, 4); /* v overlapping out */
  TU_FOR_EACH_ISA(isa) {
    ck_assert_int_eq(vecattn_attend(&add, &f.tq, &f.tk, &vout, &f.tout, NULL), VECATTN_EINVAL);
  }

  /* Projection buffers whose byte size overflows size_t, from tensors that
   * pass validation (read through stride 0; out is never touched). Additive:
   * 2^46 query rows x a 2^20-wide projection. General: 2^58 rows x Dk = 64. */
  const int64_t n45 = INT64_C(1) << 45, n57 = INT64_C(1) << 57;
  vecattn_tensor qa = f.tq, oa = vecattn_tensor_bhsd(f.out, 1, 2, n45, 4);
  qa.shape[2] = n45, qa.stride[2] = 0;
  fn = add, fn.attn_dim = INT64_C(1) << 20;
  vecattn_tensor qg = vecattn_tensor_bhsd(f.q, 1, 2, n57, 1), kg = vecattn_tensor_bhsd(f.k64, 1, 2, 5, 64);
  vecattn_tensor vg = vecattn_tensor_bhsd(f.v, 1, 2, 5, 1), og = vecattn_tensor_bhsd(f.out, 1, 2, n57, 1);
  qg.stride[0] = qg.stride[1] = qg.stride[2] = 0;
  kg.stride[0] = kg.stride[1] = kg.stride[2] = 0;
  TU_FOR_EACH_ISA(isa) {
    tu_poison(f.out, sizeof f.out / sizeof(float));
    ck_assert_int_eq(vecattn_attend(&fn, &qa, &f.tk, &f.tv, &oa, NULL), VECATTN_EOVERFLOW);
    ck_assert_int_eq(vecattn_attend(&gen, &qg, &kg, &vg, &og, NULL), VECATTN_EOVERFLOW);
    for (size_t i = 0; i < sizeof f.out / sizeof(float); i++) ck_assert(tu_is_poison(f.out[i]));
  }
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("attend");
  TCase *tc = tcase_create("attend");
  tcase_add_test(tc, test_sizes);
  tcase_add_loop_test(tc, test_masks, 0, NMASK);
  tcase_add_test(tc, test_determinism);
  tcase_add_test(tc, test_bad_inputs);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("attend");
  return tu_run_suite(make_suite());
}
