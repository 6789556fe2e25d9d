/* vecattn-bench-layer: the layer-level cases next to limits measured beside them.
 *   gemm         vecattn_matmul M=N=K=2048, GFLOP/s against the FMA peak
 *   mha-prefill  vecattn_mha_forward d_model=4096, 32 heads, 8 kv heads, seq 512,
 *                causal, rope; GFLOP/s against the FMA peak
 *   mha-decode   one token over a KV cache of 4096 (same layer): time per token,
 *                GB/s of weights + cache read against the read bandwidth
 * Like vecattn-bench, every call reads a different copy of its weights, inputs
 * and cache, rotating through more memory than the last-level cache holds.
 * Each limit is measured right before and right after its case, with the same
 * ISA and thread count (the bandwidth over the same copies), so a shared
 * machine's drift cannot put a case above its limit. The projection/attention
 * split comes from a composed run of the same calls (vecattn_matmul,
 * vecattn_sdpa) timed phase by phase inside each iteration, so the parts add
 * up to the whole. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MIB 1048576.0

typedef struct {
  int quick;
  double min_time, llc_mib;
  vecattn_isa isas[VECATTN_ISA_COUNT];
  int nisas;
  int threads[VB_MAX_THREAD_COUNTS];
  int nthreads;
  int run[3]; /* gemm, mha-prefill, mha-decode */
  int busy;
} options;

static const char *const case_names[3] = {"gemm", "mha-prefill", "mha-decode"};

/* Layer dimensions; --quick shrinks them, keeping the GQA ratio. */
typedef struct {
  int64_t dm, hq, hkv, d, seq, cache, gemm_n;
} dims;

static dims dims_for(int quick) {
  if (quick) return (dims){512, 8, 2, 64, 64, 256, 256};
  return (dims){4096, 32, 8, 128, 512, 4096, 2048};
}

static float *rand_floats(size_t n, float scale, uint64_t seed) {
  float *p = vb_alloc_big(n * sizeof *p);
  if (!p) return NULL;
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < n; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = scale * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
  return p;
}

/* Resident, non-zero output buffers (see vecattn-bench's data.c). */
static float *out_floats(size_t n) {
  float *p = vb_alloc_big(n * sizeof *p);
  if (p) memset(p, 0xff, n * sizeof *p);
  return p;
}

/* Rotating copies: enough that consecutive calls stream >= VB_LLC_MULTIPLE x the LLC. */
static int copies_for(size_t bytes_per_copy, size_t llc) {
  return vb_rotating_copies(bytes_per_copy, llc, vb_phys_mem_bytes() / 4, 64);
}

/* One iteration on copy `copy`; phase[0], phase[1] receive the seconds of the
 * iteration's two parts when the function splits itself (else untouched). */
typedef vecattn_status (*bench_fn)(void *ctx, int copy, int threads, double phase[2]);

typedef struct {
  double t, phase[2]; /* median iteration: total and its parts */
  int reps;
} timing;

/* --busy: threads spinning during each time_call. */
static int busy_threads;

/* Warm-up on copy 0, then >= 3 runs and ~min_time, rotating copies. The
 * reported split is that of the median iteration itself, so it adds up. */
static int time_runs(bench_fn fn, void *ctx, int copies, int threads, double min_time, timing *out,
                     vecattn_status *st) {
  double ph[2] = {NAN, NAN};
  double t0 = vb_now();
  if ((*st = fn(ctx, 0, threads, ph)) != VECATTN_OK) return -1;
  const double warm = vb_now() - t0;
  int reps = (int)ceil(min_time / (warm > 1e-7 ? warm : 1e-7));
  if (reps < 3) reps = 3;
  if (reps > 10000) reps = 10000;
  double *t = malloc((size_t)reps * 3 * sizeof *t);
  if (!t) {
    *st = VECATTN_ENOMEM;
    return -1;
  }
  int done = 0;
  for (; done < reps && !vb_stop_requested(); ++done) {
    ph[0] = ph[1] = NAN;
    t0 = vb_now();
    if ((*st = fn(ctx, (done + 1) % copies, threads, ph)) != VECATTN_OK) break;
    t[3 * done] = vb_now() - t0;
    t[3 * done + 1] = ph[0];
    t[3 * done + 2] = ph[1];
  }
  if (*st != VECATTN_OK || done < reps) {
    free(t);
    return -1;
  }
  /* The lower median iteration, found by rank (a real iteration, not a mean). */
  int med = 0;
  for (int i = 0; i < reps; ++i) {
    int below = 0, equal_before = 0;
    for (int j = 0; j < reps; ++j) {
      below += t[3 * j] < t[3 * i];
      equal_before += j < i && t[3 * j] == t[3 * i];
    }
    if (below + equal_before == (reps - 1) / 2) med = i;
  }
  out->t = t[3 * med];
  out->phase[0] = t[3 * med + 1];
  out->phase[1] = t[3 * med + 2];
  out->reps = reps;
  free(t);
  return 0;
}

static int time_call(bench_fn fn, void *ctx, int copies, int threads, double min_time, timing *out,
                     vecattn_status *st) {
  vb_busy_start(busy_threads);
  const int rc = time_runs(fn, ctx, copies, threads, min_time, out, st);
  vb_busy_stop();
  return rc;
}

/* ---- gemm ---- */
typedef struct {
  float **x, **w, **y;
  int64_t n;
} gemm_ctx;

static vecattn_status gemm_run(void *p, int copy, int threads, double phase[2]) {
  (void)phase;
  gemm_ctx *g = p;
  return vecattn_matmul(g->x[copy], g->n, g->n, g->w[copy], g->n, NULL, g->y[copy], threads);
}

/* ---- the layer ---- */
typedef struct {
  vecattn_mha_weights w; /* points into wmem */
  float *wmem, *x, *y;
  vecattn_kv_cache *cache; /* decode only */
  /* The composed run: projections into q/kp/vp, attention of q over k/v
   * (kp/vp themselves for prefill; cache-sized arrays for decode) into o. */
  float *q, *kp, *vp, *k, *v, *o;
} layer_copy;

typedef struct {
  dims dm;
  int64_t seq, nk; /* tokens per call; keys attended (prefill: seq) */
  int decode;
  int copies;
  layer_copy *c;
  size_t wbytes, kvbytes; /* one copy's weights; its K+V (cache or arrays) */
} layer_ctx;

static void layer_free(layer_ctx *l) {
  for (int i = 0; l->c && i < l->copies; ++i) {
    layer_copy *c = &l->c[i];
    vecattn_kv_cache_destroy(c->cache);
    free(c->wmem), free(c->x), free(c->y), free(c->q), free(c->kp), free(c->vp), free(c->k), free(c->v), free(c->o);
  }
  free(l->c);
  memset(l, 0, sizeof *l);
}

/* Weights, input and outputs of `copies` copies; decode also gets a cache per
 * copy, filled to dm->cache tokens by prefill calls. */
static vecattn_status layer_init(layer_ctx *l, const dims *dm, int decode, size_t llc, int threads) {
  memset(l, 0, sizeof *l);
  l->dm = *dm;
  l->decode = decode;
  l->seq = decode ? 1 : dm->seq;
  l->nk = decode ? dm->cache : dm->seq;
  const int64_t qn = dm->hq * dm->d, kvn = dm->hkv * dm->d;
  const size_t nw = (size_t)(2 * qn * dm->dm + 2 * kvn * dm->dm);
  l->wbytes = nw * sizeof(float);
  l->kvbytes = (size_t)(2 * l->nk * kvn) * sizeof(float);
  /* What one call reads: the weights, x, and for decode the cache. */
  l->copies = copies_for(l->wbytes + (size_t)(dm->seq * dm->dm) * sizeof(float) + (decode ? l->kvbytes : 0), llc);
  l->c = calloc((size_t)l->copies, sizeof *l->c);
  if (!l->c) return VECATTN_ENOMEM;
  const int64_t xrows = decode ? dm->seq : l->seq; /* decode: prefill chunks use x too */
  for (int i = 0; i < l->copies; ++i) {
    layer_copy *c = &l->c[i];
    c->wmem = rand_floats(nw, 2.0f / sqrtf((float)dm->dm), 1);
    c->x = rand_floats((size_t)(xrows * dm->dm), 2.0f, 2);
    c->y = out_floats((size_t)(xrows * dm->dm));
    c->q = out_floats((size_t)(l->seq * qn));
    c->kp = out_floats((size_t)(l->seq * kvn));
    c->vp = out_floats((size_t)(l->seq * kvn));
    c->o = out_floats((size_t)(l->seq * qn));
    if (decode) {
      c->k = rand_floats((size_t)(l->nk * kvn), 2.0f, 4);
      c->v = rand_floats((size_t)(l->nk * kvn), 2.0f, 5);
    }
    if (!c->wmem || !c->x || !c->y || !c->q || !c->kp || !c->vp || !c->o || (decode && (!c->k || !c->v)))
      return VECATTN_ENOMEM;
    c->w = (vecattn_mha_weights){.d_model = dm->dm, .n_heads = dm->hq, .n_kv_heads = dm->hkv, .head_dim = dm->d,
                                 .rope = 1};
    c->w.wq = c->wmem;
    c->w.wk = c->w.wq + qn * dm->dm;
    c->w.wv = c->w.wk + kvn * dm->dm;
    c->w.wo = c->w.wv + kvn * dm->dm;
    if (decode) {
      /* Room for the timed steps: each appends one token. */
      vecattn_status st = vecattn_kv_cache_create(&c->cache, 1, dm->hkv, dm->d, dm->cache + 20000);
      for (int64_t filled = 0; st == VECATTN_OK && filled < dm->cache; filled += dm->seq) {
        vecattn_sdpa_opts o = {.causal = 1, .num_threads = threads};
        st = vecattn_mha_forward(&c->w, c->x, 1, dm->seq, c->cache, c->y, &o);
      }
      if (st != VECATTN_OK) return st;
    }
  }
  return VECATTN_OK;
}

static vecattn_status layer_run(void *p, int copy, int threads, double phase[2]) {
  (void)phase;
  layer_ctx *l = p;
  layer_copy *c = &l->c[copy];
  vecattn_sdpa_opts o = {.causal = 1, .num_threads = threads};
  return vecattn_mha_forward(&c->w, c->x, 1, l->seq, c->cache, c->y, &o);
}

/* The layer's calls one after another, each phase timed: phase[0] the four
 * projections, phase[1] attention. */
static vecattn_status composed_run(void *p, int copy, int threads, double phase[2]) {
  layer_ctx *l = p;
  layer_copy *c = &l->c[copy];
  const int64_t dm = l->dm.dm, hq = l->dm.hq, hkv = l->dm.hkv, d = l->dm.d, qn = hq * d, kvn = hkv * d;
  vecattn_status s;
  const double t0 = vb_now();
  if ((s = vecattn_matmul(c->x, l->seq, dm, c->w.wq, qn, NULL, c->q, threads)) != VECATTN_OK) return s;
  if ((s = vecattn_matmul(c->x, l->seq, dm, c->w.wk, kvn, NULL, c->kp, threads)) != VECATTN_OK) return s;
  if ((s = vecattn_matmul(c->x, l->seq, dm, c->w.wv, kvn, NULL, c->vp, threads)) != VECATTN_OK) return s;
  const double t1 = vb_now();
  vecattn_tensor q = vecattn_tensor_bshd(c->q, 1, l->seq, hq, d), o = vecattn_tensor_bshd(c->o, 1, l->seq, hq, d);
  vecattn_tensor k, v;
  if (l->decode) {
    k = vecattn_tensor_bhsd(c->k, 1, hkv, l->nk, d);
    v = vecattn_tensor_bhsd(c->v, 1, hkv, l->nk, d);
  } else {
    k = vecattn_tensor_bshd(c->kp, 1, l->seq, hkv, d);
    v = vecattn_tensor_bshd(c->vp, 1, l->seq, hkv, d);
  }
  vecattn_sdpa_opts opts = {.causal = 1, .num_threads = threads};
  if ((s = vecattn_sdpa(&q, &k, &v, &o, &opts)) != VECATTN_OK) return s;
  const double t2 = vb_now();
  s = vecattn_matmul(c->o, l->seq, qn, c->w.wo, dm, NULL, c->y, threads);
  const double t3 = vb_now();
  phase[0] = (t1 - t0) + (t3 - t2);
  phase[1] = t2 - t1;
  return s;
}

static void print_split(const timing *layer, const timing *comp) {
  const double sum = comp->phase[0] + comp->phase[1], rest = comp->t - sum; /* rest >= 0: disjoint parts */
  printf("    split (composed run of the same matmul/sdpa calls, median iteration): projections %.3f ms (%.1f%%),\n"
         "    attention %.3f ms (%.1f%%), between calls %.3f ms; total %.3f ms. The layer call takes %.2fx that\n"
         "    (it fuses the Q/K/V projections and adds RoPE and the cache update)\n",
         comp->phase[0] * 1e3, 100.0 * comp->phase[0] / comp->t, comp->phase[1] * 1e3,
         100.0 * comp->phase[1] / comp->t, rest * 1e3, comp->t * 1e3, layer->t / comp->t);
}

/* "x% of L unit", flagged when above the limit (the load changed mid-case). */
static void print_pct(double value, double before, double after, const char *unit, const char *what) {
  const double limit = fmax(before, after);
  printf("%5.1f%% of %.1f %s %s (measured before %.1f, after %.1f)%s\n", 100.0 * value / limit, limit, unit, what,
         before, after,
         value > limit ? "  ABOVE THE LIMIT MEASURED BESIDE IT: the machine's load changed, rerun" : "");
}

/* Every product here is an f32 FMA, so the bf16 paths are held to their base path's peak. */
static double peak_now(vecattn_isa isa, int threads, const options *op) {
  return vb_peak_gflops(vb_fma_isa(isa), threads, op->quick ? 0.05 : 0.2);
}

static int bench_gemm(const options *op, const dims *dm, vecattn_isa isa, int threads, size_t llc, double *median) {
  const int64_t n = dm->gemm_n;
  const size_t elems = (size_t)(n * n);
  const int copies = copies_for(3 * elems * sizeof(float), llc);
  gemm_ctx g = {calloc((size_t)copies, sizeof(float *)), calloc((size_t)copies, sizeof(float *)),
                calloc((size_t)copies, sizeof(float *)), n};
  vecattn_status st = g.x && g.w && g.y ? VECATTN_OK : VECATTN_ENOMEM;
  for (int i = 0; st == VECATTN_OK && i < copies; ++i) {
    g.x[i] = rand_floats(elems, 1.0f, 6);
    g.w[i] = rand_floats(elems, 1.0f, 7);
    g.y[i] = out_floats(elems);
    if (!g.x[i] || !g.w[i] || !g.y[i]) st = VECATTN_ENOMEM;
  }
  timing t = {0};
  double before = NAN, after = NAN;
  if (st == VECATTN_OK) {
    before = peak_now(isa, threads, op);
    if (time_call(gemm_run, &g, copies, threads, op->min_time, &t, &st) == 0) after = peak_now(isa, threads, op);
  }
  int rc = 0;
  if (st == VECATTN_OK && t.reps) {
    const double gf = 2.0 * n * n * n / t.t * 1e-9;
    *median = t.t;
    printf("%-12s %-7s %3d  M=N=K=%lld, %d cop%s  %9.3f ms  %8.1f GFLOP/s  ", "gemm", vecattn_isa_name(isa), threads,
           (long long)n, copies, copies == 1 ? "y" : "ies", t.t * 1e3, gf);
    print_pct(gf, before, after, "GFLOP/s", "FMA peak");
  } else if (st != VECATTN_OK) {
    printf("%-12s %-7s %3d  failed: %s\n", "gemm", vecattn_isa_name(isa), threads, vecattn_strerror(st));
    rc = -1;
  }
  for (int i = 0; i < copies; ++i) {
    if (g.x) free(g.x[i]);
    if (g.w) free(g.w[i]);
    if (g.y) free(g.y[i]);
  }
  free(g.x), free(g.w), free(g.y);
  return rc;
}

/* Read bandwidth over the weights and K/V of the copies the case rotates
 * through: the same bytes a decode step reads, at the same thread count. */
static double layer_bw(const layer_ctx *l, int threads) {
  double best = 0;
  for (int pass = 0; pass < 3; ++pass) {
    const layer_copy *c = &l->c[pass % l->copies];
    const void *bufs[3] = {c->wmem, c->k, c->v};
    const size_t bytes[3] = {l->wbytes, l->kvbytes / 2, l->kvbytes / 2};
    best = fmax(best, vb_bw_bufs_gbps(bufs, bytes, 3, threads, pass));
  }
  return best;
}

static int bench_layer(const options *op, const dims *dm, int decode, vecattn_isa isa, int threads, size_t llc,
                       double *median) {
  const char *name = decode ? "mha-decode" : "mha-prefill";
  layer_ctx l;
  vecattn_status st = layer_init(&l, dm, decode, llc, threads);
  timing tl = {0}, tc = {0};
  double before = NAN, after = NAN;
  if (st == VECATTN_OK) {
    before = decode ? layer_bw(&l, threads) : peak_now(isa, threads, op);
    if (time_call(layer_run, &l, l.copies, threads, op->min_time, &tl, &st) == 0)
      after = decode ? layer_bw(&l, threads) : peak_now(isa, threads, op);
  }
  if (st == VECATTN_OK && tl.reps) time_call(composed_run, &l, l.copies, threads, op->min_time, &tc, &st);
  int rc = 0;
  if (st == VECATTN_OK && tl.reps && tc.reps) {
    *median = tl.t;
    const double qn = (double)(dm->hq * dm->d), kvn = (double)(dm->hkv * dm->d);
    if (!decode) {
      const double s = (double)dm->seq;
      const double flops = 2.0 * s * dm->dm * (2 * qn + 2 * kvn) + 2.0 * dm->hq * s * (s + 1) * dm->d; /* causal */
      const double gf = flops / tl.t * 1e-9;
      printf("%-12s %-7s %3d  seq=%lld d_model=%lld, %d cop%s  %9.3f ms  %8.1f GFLOP/s  ", name,
             vecattn_isa_name(isa), threads, (long long)dm->seq, (long long)dm->dm, l.copies,
             l.copies == 1 ? "y" : "ies", tl.t * 1e3, gf);
      print_pct(gf, before, after, "GFLOP/s", "FMA peak");
    } else {
      const double bytes = 4.0 * (dm->dm * (2 * qn + 2 * kvn) + 2.0 * dm->cache * kvn);
      const double gbps = bytes / tl.t * 1e-9;
      printf("%-12s %-7s %3d  cache=%lld+, %d cop%s  %9.3f ms/token  %8.1f GB/s  ", name, vecattn_isa_name(isa),
             threads, (long long)dm->cache, l.copies, l.copies == 1 ? "y" : "ies", tl.t * 1e3, gbps);
      print_pct(gbps, before, after, "GB/s", "read of the same weights and K/V");
    }
    print_split(&tl, &tc);
  } else if (st != VECATTN_OK) {
    printf("%-12s %-7s %3d  failed: %s\n", name, vecattn_isa_name(isa), threads, vecattn_strerror(st));
    rc = -1;
  }
  layer_free(&l);
  return rc;
}

/* --busy: each thread count's median time over 1 thread's, per case and ISA.
 * Above 1.0 the extra threads made the call slower. */
static void print_busy_ratios(const options *o, double median[][VB_MAX_THREAD_COUNTS][3]) {
  printf("with %d busy thread%s, median time at t threads / median time at 1 thread (same run):\n", o->busy,
         o->busy == 1 ? "" : "s");
  int any = 0;
  for (int i = 0; i < o->nisas; ++i)
    for (int one = 0; one < o->nthreads; ++one) {
      if (o->threads[one] != 1) continue;
      for (int t = 0; t < o->nthreads; ++t)
        for (int c = 0; c < 3; ++c) {
          if (o->threads[t] == 1 || !(median[i][t][c] > 0) || !(median[i][one][c] > 0)) continue;
          printf("  busy ratio %-12s %-7s t=%-3d %.2f\n", case_names[c], vecattn_isa_name(o->isas[i]), o->threads[t],
                 median[i][t][c] / median[i][one][c]);
          any = 1;
        }
      break;
    }
  if (!any) printf("  (none: no thread count measured beside t=1)\n");
}

static void usage(FILE *f) {
  fputs("Usage: vecattn-bench-layer [options]\n"
        "Times the MHA layer's building blocks against the FMA peak and read bandwidth,\n"
        "each measured right before and after its case with the same ISA and threads.\n"
        "Weights, inputs and caches rotate through copies larger than 4x the LLC.\n"
        "  --case NAME    gemm | mha-prefill | mha-decode (repeatable); default: all\n"
        "  --isa NAME     ISA path (repeatable); default: the best this CPU supports\n"
        "  --threads N    thread count (repeatable; 'all' = omp_get_max_threads()); default: all\n"
        "  --min-time S   aim for this much timed work per measurement (default 0.5)\n"
        "  --llc-mib N    last-level cache size to plan with (default: detected)\n"
        "  --busy N       N threads spin in the background during each timed case (0-64);\n"
        "                 at the end, each thread count's time as a multiple of 1 thread's\n"
        "  --quick        shrunk shapes and short runs (CI smoke)\n"
        "  -h, --help     this text\n"
        "SIGINT/SIGTERM stop after the current measurement.\n"
        "Exit status: 0 success; 1 a call failed; 2 bad usage; 128+N stopped by signal N.\n",
        f);
}

static int parse(int argc, char **argv, options *o) {
  memset(o, 0, sizeof *o);
  o->min_time = 0.5;
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      exit(0);
    } else if (!strcmp(a, "--quick")) {
      o->quick = 1;
      o->min_time = 0.05;
    } else if (!strcmp(a, "--case") && v) {
      int found = 0;
      for (int c = 0; c < 3; ++c)
        if (!strcmp(v, case_names[c])) o->run[c] = found = 1;
      if (!found) return fprintf(stderr, "vecattn-bench-layer: unknown case: %s\n", v), -1;
      ++i;
    } else if (!strcmp(a, "--isa") && v) {
      vecattn_isa isa;
      if (vecattn_isa_from_name(v, &isa) || isa == VECATTN_ISA_AUTO || o->nisas == VECATTN_ISA_COUNT)
        return fprintf(stderr, "vecattn-bench-layer: bad ISA: %s\n", v), -1;
      o->isas[o->nisas++] = isa;
      ++i;
    } else if (!strcmp(a, "--threads") && v) {
      const int t = !strcmp(v, "all") ? omp_get_max_threads() : atoi(v);
      if (t < 1 || t > 4096 || o->nthreads == VB_MAX_THREAD_COUNTS)
        return fprintf(stderr, "vecattn-bench-layer: bad thread count: %s\n", v), -1;
      o->threads[o->nthreads++] = t;
      ++i;
    } else if (!strcmp(a, "--min-time") && v) {
      char *end;
      o->min_time = strtod(v, &end);
      if (*end || !(o->min_time > 0) || o->min_time > 3600)
        return fprintf(stderr, "vecattn-bench-layer: bad --min-time: %s\n", v), -1;
      ++i;
    } else if (!strcmp(a, "--busy") && v) {
      char *end;
      const long n = strtol(v, &end, 10);
      if (*end || end == v || n < 0 || n > 64) return fprintf(stderr, "vecattn-bench-layer: bad --busy: %s\n", v), -1;
      o->busy = (int)n;
      ++i;
    } else if (!strcmp(a, "--llc-mib") && v) {
      char *end;
      o->llc_mib = strtod(v, &end);
      if (*end || !(o->llc_mib > 0) || o->llc_mib > 1 << 20)
        return fprintf(stderr, "vecattn-bench-layer: bad --llc-mib: %s\n", v), -1;
      ++i;
    } else {
      return fprintf(stderr, "vecattn-bench-layer: unknown or incomplete option: %s\n", a), -1;
    }
  }
  if (!o->run[0] && !o->run[1] && !o->run[2]) o->run[0] = o->run[1] = o->run[2] = 1;
  if (!o->nisas) o->isas[o->nisas++] = vecattn_active_isa();
  if (!o->nthreads) o->threads[o->nthreads++] = omp_get_max_threads();
  return 0;
}

int main(int argc, char **argv) {
  options o;
  if (parse(argc, argv, &o)) {
    usage(stderr);
    return 2;
  }
  const dims dm = dims_for(o.quick);
  const char *llc_source = "--llc-mib";
  const size_t llc = o.llc_mib > 0 ? (size_t)(o.llc_mib * MIB) : vb_llc_bytes(&llc_source);
  const double load_start = vb_loadavg();
  vb_stop_install();
  printf("vecattn-bench-layer (vecattn %s), features: %s\n", vecattn_version(), vecattn_cpu_features());
  printf("  LLC %.1f MiB (%s): weights, inputs and caches rotate through >= %dx that\n", (double)llc / MIB, llc_source,
         VB_LLC_MULTIPLE);
  if (load_start >= 0)
    printf("  load average %.2f at start%s\n", load_start,
           load_start > VB_LOAD_BUSY ? " -- other processes are busy, timings will be distorted" : "");
  if (o.busy) printf("  busy: %d spinning thread%s during each timed case (--busy)\n", o.busy, o.busy == 1 ? "" : "s");
  busy_threads = o.busy;
  fflush(stdout);
  int failed = 0;
  double median[VECATTN_ISA_COUNT][VB_MAX_THREAD_COUNTS][3]; /* seconds; NAN: not measured */
  for (int i = 0; i < VECATTN_ISA_COUNT; ++i)
    for (int t = 0; t < VB_MAX_THREAD_COUNTS; ++t)
      for (int c = 0; c < 3; ++c) median[i][t][c] = NAN;
  for (int i = 0; i < o.nisas && !vb_stop_requested(); ++i) {
    if (vecattn_set_isa(o.isas[i]) != VECATTN_OK) {
      printf("%s: not supported here, skipped\n", vecattn_isa_name(o.isas[i]));
      continue;
    }
    for (int t = 0; t < o.nthreads && !vb_stop_requested(); ++t) {
      const int th = o.threads[t];
      double *m = median[i][t];
      if (o.run[0] && !vb_stop_requested()) failed |= bench_gemm(&o, &dm, o.isas[i], th, llc, &m[0]);
      fflush(stdout);
      if (o.run[1] && !vb_stop_requested()) failed |= bench_layer(&o, &dm, 0, o.isas[i], th, llc, &m[1]);
      fflush(stdout);
      if (o.run[2] && !vb_stop_requested()) failed |= bench_layer(&o, &dm, 1, o.isas[i], th, llc, &m[2]);
      fflush(stdout);
    }
  }
  if (o.busy) print_busy_ratios(&o, median);
  vecattn_set_isa(VECATTN_ISA_AUTO);
  const double load_end = vb_loadavg();
  if (load_end >= 0)
    printf("load average: %.2f at start, %.2f at end (the bench itself adds up to %d)%s\n", load_start, load_end,
           omp_get_max_threads(), load_start > VB_LOAD_BUSY ? " -- taken under load: compare with care" : "");
  if (vb_stop_requested()) {
    printf("INTERRUPTED: the cases above were measured in full; the rest were not run.\n");
    return 128 + vb_stop_requested();
  }
  return failed ? 1 : 0;
}
