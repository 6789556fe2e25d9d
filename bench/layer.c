/* vecattn-bench-layer: the layer-level cases next to the same run's limits.
 *   gemm         vecattn_matmul M=N=K=2048, GFLOP/s against the measured FMA peak
 *   mha-prefill  vecattn_mha_forward d_model=4096, 32 heads, 8 kv heads, seq 512,
 *                causal, rope; GFLOP/s, and the time in projections vs attention
 *   mha-decode   one token over a KV cache of 4096 (same layer): time per token,
 *                projections vs attention, GB/s of weights + cache read against
 *                the measured read bandwidth
 * Projections and attention are also timed alone, through vecattn_matmul and
 * vecattn_sdpa on the layer's shapes, to split the layer's time. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

typedef struct {
  int quick;
  double min_time;
  vecattn_isa isas[VECATTN_ISA_COUNT];
  int nisas;
  int threads[VB_MAX_THREAD_COUNTS];
  int nthreads;
  int run[3]; /* gemm, mha-prefill, mha-decode */
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
  float *p = malloc(n * sizeof *p);
  if (!p) return NULL;
  uint64_t s = seed * 0x9E3779B97F4A7C15ULL + 1;
  for (size_t i = 0; i < n; ++i) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    p[i] = scale * ((float)(s >> 40) / (float)(1 << 24) - 0.5f);
  }
  return p;
}

/* Median seconds per call of fn over >= 3 runs and ~min_time, after a warm-up. */
typedef vecattn_status (*bench_fn)(void *ctx, int threads);
static double time_call(bench_fn fn, void *ctx, int threads, double min_time, vecattn_status *st) {
  double t0 = vb_now();
  if ((*st = fn(ctx, threads)) != VECATTN_OK) return NAN;
  const double warm = vb_now() - t0;
  int reps = (int)ceil(min_time / (warm > 1e-7 ? warm : 1e-7));
  if (reps < 3) reps = 3;
  if (reps > 10000) reps = 10000;
  double *t = malloc((size_t)reps * sizeof *t);
  if (!t) {
    *st = VECATTN_ENOMEM;
    return NAN;
  }
  for (int i = 0; i < reps; ++i) {
    t0 = vb_now();
    if ((*st = fn(ctx, threads)) != VECATTN_OK) break;
    t[i] = vb_now() - t0;
  }
  const double med = *st == VECATTN_OK ? vb_median(t, reps) : NAN;
  free(t);
  return med;
}

/* ---- gemm ---- */
typedef struct {
  const float *x, *w;
  float *y;
  int64_t m, n, k;
} gemm_ctx;

static vecattn_status gemm_run(void *p, int threads) {
  gemm_ctx *g = p;
  return vecattn_matmul(g->x, g->m, g->k, g->w, g->n, NULL, g->y, threads);
}

/* ---- the layer ---- */
typedef struct {
  vecattn_mha_weights w;
  float *wmem, *x, *y;
  int64_t seq;
  vecattn_kv_cache *cache;
  /* attention alone: q [1, hq, seq, d] and k/v over the cache's length */
  float *q, *k, *v, *o;
  int64_t nk;
  int causal;
} layer_ctx;

static int layer_init(layer_ctx *l, const dims *dm, int64_t seq, int64_t nk) {
  memset(l, 0, sizeof *l);
  const int64_t qn = dm->hq * dm->d, kvn = dm->hkv * dm->d;
  const size_t nw = (size_t)(2 * qn * dm->dm + 2 * kvn * dm->dm);
  l->wmem = rand_floats(nw, 2.0f / sqrtf((float)dm->dm), 1);
  l->x = rand_floats((size_t)(seq * dm->dm), 2.0f, 2);
  l->y = malloc((size_t)(seq * dm->dm) * sizeof(float));
  l->q = rand_floats((size_t)(seq * qn), 2.0f, 3);
  l->k = rand_floats((size_t)(nk * kvn), 2.0f, 4);
  l->v = rand_floats((size_t)(nk * kvn), 2.0f, 5);
  l->o = malloc((size_t)(seq * qn) * sizeof(float));
  if (!l->wmem || !l->x || !l->y || !l->q || !l->k || !l->v || !l->o) return -1;
  l->w = (vecattn_mha_weights){.d_model = dm->dm, .n_heads = dm->hq, .n_kv_heads = dm->hkv, .head_dim = dm->d,
                               .rope = 1};
  l->w.wq = l->wmem;
  l->w.wk = l->w.wq + qn * dm->dm;
  l->w.wv = l->w.wk + kvn * dm->dm;
  l->w.wo = l->w.wv + kvn * dm->dm;
  l->seq = seq;
  l->nk = nk;
  return 0;
}

static void layer_free(layer_ctx *l) {
  vecattn_kv_cache_destroy(l->cache);
  free(l->wmem), free(l->x), free(l->y), free(l->q), free(l->k), free(l->v), free(l->o);
}

static vecattn_status layer_run(void *p, int threads) {
  layer_ctx *l = p;
  vecattn_sdpa_opts o = {.causal = 1, .num_threads = threads};
  return vecattn_mha_forward(&l->w, l->x, 1, l->seq, l->cache, l->y, &o);
}

/* The four projections of `seq` tokens, as the layer issues them. */
static vecattn_status proj_run(void *p, int threads) {
  layer_ctx *l = p;
  const int64_t dm = l->w.d_model, qn = l->w.n_heads * l->w.head_dim, kvn = l->w.n_kv_heads * l->w.head_dim;
  vecattn_status s;
  if ((s = vecattn_matmul(l->x, l->seq, dm, l->w.wq, qn, NULL, l->q, threads)) != VECATTN_OK) return s;
  if ((s = vecattn_matmul(l->x, l->seq, dm, l->w.wk, kvn, NULL, l->o, threads)) != VECATTN_OK) return s;
  if ((s = vecattn_matmul(l->x, l->seq, dm, l->w.wv, kvn, NULL, l->o, threads)) != VECATTN_OK) return s;
  return vecattn_matmul(l->q, l->seq, qn, l->w.wo, dm, NULL, l->y, threads);
}

/* Attention alone on the layer's layout (BSHD q/out, k/v of nk positions). */
static vecattn_status attn_run(void *p, int threads) {
  layer_ctx *l = p;
  const int64_t hq = l->w.n_heads, hkv = l->w.n_kv_heads, d = l->w.head_dim;
  vecattn_tensor q = vecattn_tensor_bshd(l->q, 1, l->seq, hq, d), o = vecattn_tensor_bshd(l->o, 1, l->seq, hq, d);
  vecattn_tensor k = vecattn_tensor_bhsd(l->k, 1, hkv, l->nk, d), v = vecattn_tensor_bhsd(l->v, 1, hkv, l->nk, d);
  vecattn_sdpa_opts opts = {.causal = 1, .num_threads = threads};
  return vecattn_sdpa(&q, &k, &v, &o, &opts);
}

static void print_split(double t_layer, double t_proj, double t_attn) {
  const double sum = t_proj + t_attn;
  printf("    projections %8.3f ms (%4.1f%%)  attention %8.3f ms (%4.1f%%)  other %+.3f ms\n", t_proj * 1e3,
         100.0 * t_proj / sum, t_attn * 1e3, 100.0 * t_attn / sum, (t_layer - sum) * 1e3);
}

static int bench_gemm(const options *op, const dims *dm, vecattn_isa isa, int threads, double peak) {
  const int64_t n = dm->gemm_n;
  gemm_ctx g = {rand_floats((size_t)(n * n), 1.0f, 6), rand_floats((size_t)(n * n), 1.0f, 7),
                malloc((size_t)(n * n) * sizeof(float)), n, n, n};
  vecattn_status st = g.x && g.w && g.y ? VECATTN_OK : VECATTN_ENOMEM;
  double t = st == VECATTN_OK ? time_call(gemm_run, &g, threads, op->min_time, &st) : NAN;
  if (st == VECATTN_OK) {
    const double gf = 2.0 * n * n * n / t * 1e-9;
    printf("%-12s %-7s %3d  M=N=K=%lld  %9.3f ms  %8.1f GFLOP/s  %5.1f%% of %.1f GFLOP/s FMA peak\n", "gemm",
           vecattn_isa_name(isa), threads, (long long)n, t * 1e3, gf, 100.0 * gf / peak, peak);
  } else {
    printf("%-12s %-7s %3d  failed: %s\n", "gemm", vecattn_isa_name(isa), threads, vecattn_strerror(st));
  }
  free((void *)g.x), free((void *)g.w), free(g.y);
  return st == VECATTN_OK ? 0 : -1;
}

static int bench_prefill(const options *op, const dims *dm, vecattn_isa isa, int threads, double peak) {
  layer_ctx l;
  vecattn_status st = layer_init(&l, dm, dm->seq, dm->seq) ? VECATTN_ENOMEM : VECATTN_OK;
  double tl = NAN, tp = NAN, ta = NAN;
  if (st == VECATTN_OK) tl = time_call(layer_run, &l, threads, op->min_time, &st);
  if (st == VECATTN_OK) tp = time_call(proj_run, &l, threads, op->min_time, &st);
  if (st == VECATTN_OK) ta = time_call(attn_run, &l, threads, op->min_time, &st);
  if (st == VECATTN_OK) {
    const double s = (double)dm->seq, qn = (double)(dm->hq * dm->d), kvn = (double)(dm->hkv * dm->d);
    const double flops = 2.0 * s * dm->dm * (2 * qn + 2 * kvn) + 2.0 * dm->hq * s * s * dm->d; /* causal: half */
    const double gf = flops / tl * 1e-9;
    printf("%-12s %-7s %3d  seq=%lld d_model=%lld  %9.3f ms  %8.1f GFLOP/s  %5.1f%% of peak\n", "mha-prefill",
           vecattn_isa_name(isa), threads, (long long)dm->seq, (long long)dm->dm, tl * 1e3, gf, 100.0 * gf / peak);
    print_split(tl, tp, ta);
  } else {
    printf("%-12s %-7s %3d  failed: %s\n", "mha-prefill", vecattn_isa_name(isa), threads, vecattn_strerror(st));
  }
  layer_free(&l);
  return st == VECATTN_OK ? 0 : -1;
}

static int bench_decode(const options *op, const dims *dm, vecattn_isa isa, int threads, double bw) {
  layer_ctx l;
  vecattn_status st = layer_init(&l, dm, dm->seq, dm->cache) ? VECATTN_ENOMEM : VECATTN_OK;
  /* Room for the timed steps: each appends one token (the cache grows by
   * at most 1 + 10000 past its start; a few % at the default sizes). */
  const int64_t room = dm->cache + 20000;
  if (st == VECATTN_OK) st = vecattn_kv_cache_create(&l.cache, 1, dm->hkv, dm->d, room);
  for (int64_t filled = 0; st == VECATTN_OK && filled < dm->cache; filled += l.seq) {
    vecattn_sdpa_opts o = {.causal = 1, .num_threads = threads};
    st = vecattn_mha_forward(&l.w, l.x, 1, l.seq, l.cache, l.y, &o); /* prefill in chunks */
  }
  double tl = NAN, tp = NAN, ta = NAN;
  const int64_t start = vecattn_kv_cache_len(l.cache);
  l.seq = 1;
  l.nk = dm->cache;
  if (st == VECATTN_OK) tl = time_call(layer_run, &l, threads, op->min_time, &st);
  if (st == VECATTN_OK) tp = time_call(proj_run, &l, threads, op->min_time, &st);
  if (st == VECATTN_OK) ta = time_call(attn_run, &l, threads, op->min_time, &st);
  if (st == VECATTN_OK) {
    const double qn = (double)(dm->hq * dm->d), kvn = (double)(dm->hkv * dm->d);
    const double bytes = 4.0 * (dm->dm * (2 * qn + 2 * kvn) + 2.0 * dm->cache * kvn);
    const double gbps = bytes / tl * 1e-9;
    printf("%-12s %-7s %3d  cache=%lld..%lld  %9.3f ms/token  %8.1f GB/s  %5.1f%% of %.1f GB/s read bandwidth\n",
           "mha-decode", vecattn_isa_name(isa), threads, (long long)start, (long long)vecattn_kv_cache_len(l.cache),
           tl * 1e3, gbps, 100.0 * gbps / bw, bw);
    print_split(tl, tp, ta);
  } else {
    printf("%-12s %-7s %3d  failed: %s\n", "mha-decode", vecattn_isa_name(isa), threads, vecattn_strerror(st));
  }
  layer_free(&l);
  return st == VECATTN_OK ? 0 : -1;
}

static void usage(FILE *f) {
  fputs("Usage: vecattn-bench-layer [options]\n"
        "Times the MHA layer's building blocks against the FMA peak and read bandwidth\n"
        "measured in the same run.\n"
        "  --case NAME    gemm | mha-prefill | mha-decode (repeatable); default: all\n"
        "  --isa NAME     ISA path (repeatable); default: the best this CPU supports\n"
        "  --threads N    thread count (repeatable; 'all' = omp_get_max_threads()); default: all\n"
        "  --min-time S   aim for this much timed work per measurement (default 0.5)\n"
        "  --quick        shrunk shapes and short runs (CI smoke)\n"
        "  -h, --help     this text\n"
        "Exit status: 0 success; 1 a call failed; 2 bad usage.\n",
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
      if (t < 1 || o->nthreads == VB_MAX_THREAD_COUNTS)
        return fprintf(stderr, "vecattn-bench-layer: bad thread count: %s\n", v), -1;
      o->threads[o->nthreads++] = t;
      ++i;
    } else if (!strcmp(a, "--min-time") && v) {
      o->min_time = atof(v);
      if (!(o->min_time > 0)) return fprintf(stderr, "vecattn-bench-layer: bad --min-time: %s\n", v), -1;
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
  const size_t bw_bytes = o.quick ? (size_t)64 << 20 : (size_t)512 << 20;
  void *bw_buf = o.run[2] ? vb_bw_alloc(bw_bytes) : NULL;
  printf("vecattn %s, features: %s, load average %.2f\n", vecattn_version(), vecattn_cpu_features(), vb_loadavg());
  int failed = 0;
  for (int i = 0; i < o.nisas; ++i) {
    if (vecattn_set_isa(o.isas[i]) != VECATTN_OK) {
      printf("%s: not supported here, skipped\n", vecattn_isa_name(o.isas[i]));
      continue;
    }
    for (int t = 0; t < o.nthreads; ++t) {
      const int th = o.threads[t];
      const double peak = vb_peak_gflops(o.isas[i], th, o.quick ? 0.1 : 0.5);
      if (o.run[0]) failed |= bench_gemm(&o, &dm, o.isas[i], th, peak);
      if (o.run[1]) failed |= bench_prefill(&o, &dm, o.isas[i], th, peak);
      if (o.run[2]) {
        const double bw = bw_buf ? vb_bw_gbps(bw_buf, bw_bytes, th, 3) : NAN;
        failed |= bench_decode(&o, &dm, o.isas[i], th, bw);
      }
    }
  }
  vecattn_set_isa(VECATTN_ISA_AUTO);
  free(bw_buf);
  return failed ? 1 : 0;
}
