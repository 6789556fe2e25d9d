/* Declarations shared by the files of vecattn-bench. */
#ifndef VB_BENCH_H
#define VB_BENCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vecattn.h"

#define VB_MAX_THREAD_COUNTS 8
#define VB_CHECK_TOL 1e-4 /* f32 output */

/* ---- shapes.c: named problem sizes and their exact work ---- */
typedef enum { VB_METRIC_FLOPS, VB_METRIC_BYTES } vb_metric;

typedef struct {
  char name[32];
  int64_t b, hq, hkv, nq, nk, d, dv;
  int causal;
  int64_t window;
  int padded;       /* kv_len[b] set by vb_shape_kv_len */
  int64_t da;       /* > 0: additive scores (vecattn_attend) with this attention dim */
  vb_metric metric; /* GFLOP/s for compute-bound shapes, GB/s for decode */
  /* Element types: data.c fills them by converting f32 inputs, sizes and
   * GB/s count their bytes, records name them. */
  vecattn_dtype dtype;    /* Q and O: f32, f16 or bf16 */
  vecattn_dtype kv_dtype; /* K and V: any type (q8_0 needs D, Dv % 32 == 0) */
  int reduced_precision;  /* vecattn_sdpa_opts.reduced_precision for every call */
} vb_shape;

const char *const *vb_shape_names(void); /* NULL-terminated, default order */
int vb_shape_named(const char *name, int quick, vb_shape *out); /* 0 or -1 */
int vb_shape_check(const vb_shape *s, char *why, size_t why_len); /* 0 if usable */
/* 0 if the shape's dims can hold K/V of type t, else -1 with the reason. */
int vb_shape_kv_type_ok(const vb_shape *s, vecattn_dtype t, char *why, size_t why_len);
/* Relative L2 limit of a check of two outputs of type `out` (against scalar,
 * or serve's paged against its baselines): the output type's rounding, plus
 * bf16 products when reduced precision is allowed. */
double vb_check_tol(vecattn_dtype out, int reduced_precision);
double vb_shape_check_tol(const vb_shape *s); /* of the shape's output type */
void vb_shape_kv_len(const vb_shape *s, int32_t *kv_len);
double vb_shape_pairs(const vb_shape *s, const int32_t *kv_len);
double vb_shape_flops(const vb_shape *s, const int32_t *kv_len);
double vb_shape_bytes(const vb_shape *s);
size_t vb_shape_tensor_bytes(const vb_shape *s); /* Q + K + V + O */
vb_shape vb_shape_reduced(const vb_shape *s, int64_t cap);
void vb_shape_describe(const vb_shape *s, char *buf, size_t len);
/* "Q/O type/K/V type", e.g. "f32/q8_0": the table's compact `types` column. */
void vb_shape_types(const vb_shape *s, char *buf, size_t len);

/* ---- data.c: input/output buffers of one shape, in rotating copies ---- */
typedef struct {
  vb_shape shape;
  int32_t *kv_len; /* NULL unless shape.padded */
  int copies;
  void **q, **k, **v, **o; /* of the shape's element types */
  float *w_q, *w_k, *v_a;  /* additive score weights, shared by all copies */
  size_t q_elems, k_elems, v_elems, o_elems;
  size_t q_bytes, k_bytes, v_bytes, o_bytes; /* of one copy */
} vb_data;

/* A generator of f32 inputs: n values at p, advancing *state. */
typedef void (*vb_fill_fn)(float *p, size_t n, uint64_t *state);
/* n elements of type t at dst: fill's f32 values rounded to t as
 * vecattn_convert does (the library's own rounding, so a server's cache holds
 * the same), through tmp (tmp_n floats; unused for f32) a piece at a time:
 * the values are those of one fill over n. 0, or -1 if they cannot be
 * converted (tmp_n < n must be at least one q8_0 block). */
int vb_fill_typed(void *dst, vecattn_dtype t, size_t n, vb_fill_fn fill, float *tmp, size_t tmp_n,
                  uint64_t *state);
/* Element e of type t at base (for q8_0, e whole blocks). */
void *vb_elem(void *base, vecattn_dtype t, int64_t e);
/* n elements of type t widened to f32 into dst; 0, or -1 if they cannot be. */
int vb_to_f32(const void *src, vecattn_dtype t, float *dst, size_t n);

int vb_data_alloc(vb_data *d, const vb_shape *s, int copies, uint64_t seed);
void vb_data_free(vb_data *d);
vecattn_status vb_data_run(const vb_data *d, int copy, int threads);
/* Output `copy` widened to f32 into dst (o_elems floats); 0, or -1 if it cannot be. */
int vb_data_out_f32(const vb_data *d, int copy, float *dst);
double vb_rel_l2(const float *x, const float *ref, size_t n);

/* ---- timer.c ---- */
double vb_now(void); /* seconds, monotonic */
double vb_median(double *v, int n); /* sorts v */

/* ---- memory.c: resident-set figures ---- */
typedef enum { VB_MEM_NONE, VB_MEM_HWM, VB_MEM_MAXRSS } vb_mem_method;
vb_mem_method vb_mem_probe(void);
int vb_mem_reset_peak(void);
size_t vb_mem_rss(void);
size_t vb_mem_peak(void);
void *vb_alloc_big(size_t bytes); /* free() it */

/* ---- sysinfo.c ---- */
size_t vb_llc_bytes(const char **source);
size_t vb_phys_mem_bytes(void);
/* Inputs smaller than this many times the LLC rotate through copies that
 * add up to it, so timed calls read memory, not cache. At 2x, Zen 5's 32 MiB
 * L3 still served part of each 64 MiB decode pass (f32 decode, 2 threads,
 * alternated builds: 0.93-1.00 ms at 2x against 1.10-1.13 ms at 4x). */
#define VB_LLC_MULTIPLE 4
/* Copies of bytes_per_copy to rotate through: enough to stream VB_LLC_MULTIPLE
 * x llc, within budget bytes and max_copies (at least 1). */
int vb_rotating_copies(size_t bytes_per_copy, size_t llc, size_t budget, int max_copies);
double vb_loadavg(void); /* negative if unknown */
/* What a run was taken on, for comparing runs of several machines. */
typedef struct {
  char hostname[64], cpu_model[128], arch[32];
  int cpus_online;
} vb_machine;
void vb_machine_probe(vb_machine *m);
#define VB_LOAD_BUSY 0.5 /* 1-minute load average above which timings are distorted */

/* ---- peak.c: per-ISA FMA peak ---- */
int vb_peak_available(vecattn_isa isa);
double vb_peak_gflops(vecattn_isa isa, int threads, double seconds);
/* The path whose FMA peak bounds f32 products on path isa (avx512bf16 ->
 * avx512, neonbf16 and neondot -> neon, svebf16 -> sve; others itself). */
vecattn_isa vb_fma_isa(vecattn_isa isa);

/* ---- bandwidth.c: streaming read bandwidth ---- */
void *vb_bw_alloc(size_t bytes);
double vb_bw_gbps(const void *buf, size_t bytes, int threads, int passes);
/* The same read passes over one copy of d's K and V per pass, rotating from
 * first_copy on (best of `passes`): the limit a decode case is held to,
 * measured next to it. */
double vb_bw_kv_gbps(const vb_data *d, int first_copy, int threads, int passes);
/* Read pass `pass` of a best-of series over bufs[0..nbufs) with `threads`
 * threads, in GB/s (passes alternate the way they read: run at least 2). */
double vb_bw_bufs_gbps(const void *const *bufs, const size_t *bytes, int nbufs, int threads, int pass);

/* ---- stop.c: SIGINT/SIGTERM end a run early, keeping what was measured ---- */
/* --busy: n spinning threads (at most 64) until vb_busy_stop; returns how
 * many started. */
int vb_busy_start(int n);
void vb_busy_stop(void);

void vb_stop_install(void);
int vb_stop_requested(void); /* the signal received, or 0 */

/* ---- progress.c: one status line on stderr ---- */
void vb_progress_begin(int total);
void vb_progress(int index, const char *fmt, ...);
void vb_progress_end(void);

/* ---- serve.c: one server step over a paged cache, against per-sequence and padded calls ---- */
#define VB_SERVE_MAX_SEQS 64
#define VB_SERVE_MAX_RUNS (VECATTN_DTYPE_COUNT * VECATTN_DTYPE_COUNT) /* one per (Q/out, K/V) type pair */
typedef struct {
  int ran;
  int n_decode, n_prefill;
  int64_t chunk, ctx_lo, ctx_hi; /* prefill chunk; contexts drawn log-uniform in [ctx_lo, ctx_hi] */
  int64_t hq, hkv, d, block_size;
  vecattn_dtype dtype, kv_dtype; /* Q/out; K/V (pools, (a) and (b) alike) */
  int reduced_precision;         /* opts.reduced_precision of every call, (a) and (b) alike */
  int64_t decode_ctx[VB_SERVE_MAX_SEQS], prefix[VB_SERVE_MAX_SEQS];
  int64_t total_ctx;
  vecattn_isa isa;
  int threads;
  double tokens;               /* new tokens per step */
  double bytes, flops;         /* the whole step: unique K/V/Q/out bytes of their types; causal flops */
  double bytes_decode, flops_decode; /* the decodes alone */
  double t_paged, t_paged_decode, t_per_seq, t_per_seq_decode, t_padded; /* median s per step */
  int reps_paged, reps_paged_decode, reps_per_seq, reps_per_seq_decode, reps_padded;
  double read_gbps;            /* read passes over the pools right after the paged runs */
  double workspace;            /* bytes: peak RSS over one paged call minus RSS before */
  double padded_bytes;         /* Q, out, K and V of the padded rectangle (reserved, not all touched) */
  int padded_skipped;          /* more than a quarter of memory: (b) not run */
  double err_per_seq, err_padded; /* relative L2 of the paged output against (a) and (b), in f32 */
  double check_tol;            /* the limit both are held to (the output type's rounding) */
  int check_ok;
  vecattn_status status;
} vb_serve;
void vb_serve_defaults(vb_serve *r, int quick, int block_size, vecattn_dtype dtype, vecattn_dtype kv_dtype);
/* 0, or -1 with r->status set or the check failed. Runs on `isa` with
 * `threads` threads. */
int vb_serve_run(vb_serve *r, int quick, vecattn_isa isa, int threads, double min_time, int min_reps,
                 vb_mem_method mem);
/* The f32/f32 run runs[i] is set against: runs[0] when it is one that
 * succeeded and i > 0, else NULL. */
const vb_serve *vb_serve_f32_run(const vb_serve *runs, int i);
/* runs[i]'s table, with "vs f32" against vb_serve_f32_run(runs, i). */
void vb_serve_print(FILE *f, const vb_serve *runs, int i);

/* ---- results, filled by main.c, printed by report.c ---- */
typedef enum { VB_CHECK_SKIPPED, VB_CHECK_OK, VB_CHECK_REF, VB_CHECK_FAIL, VB_CHECK_ERROR } vb_check;

typedef struct {
  vb_shape shape;   /* the named shape */
  vb_shape timed;   /* what was timed: the shape, or its reduced copy */
  int reduced;      /* timed on the reduced copy (a slow path on a big shape) */
  int32_t kv_len_min, kv_len_max; /* for the record; 0 when unpadded */
  vecattn_isa isa;
  int threads;
  int reps, copies;
  double t_med, t_min, t_max; /* seconds per call */
  double flops, bytes; /* of the timed shape */
  double gflops, gbps, value; /* value: the shape's metric */
  double pct;                 /* of the matching limit; NAN when unknown */
  double bw_case;             /* GB/s: plain read passes over this case's own K and V, right
                                 after its timed runs (GB/s shapes only), else NAN */
  double x_scalar, x_lower;   /* rate ratios; NAN when not measured */
  int x_scalar_mixed, x_lower_mixed; /* the two rows timed different sizes (one reduced) */
  double x_f32;               /* rate ratio over the all-f32 case of the same shape, ISA
                                 and threads (typed cases only); NAN when not measured */
  int x_f32_mixed;
  double x_f32_paired;        /* the same ratio from calls alternated with that f32 case's
                                 (median f32 time / median time of this case), both full
                                 size; NAN when not measured */
  int paired_rounds;          /* alternations behind x_f32_paired */
  vecattn_isa lower_isa;
  double peak_rss, workspace; /* bytes; NAN when unknown */
  vb_check check;
  double check_err, check_tol;
  int check_reduced;
  vecattn_status status;
} vb_result;

typedef struct {
  int count;
  int threads[VB_MAX_THREAD_COUNTS];
  double peak[VECATTN_ISA_COUNT][VB_MAX_THREAD_COUNTS]; /* GFLOP/s, NAN if unknown */
  double bw[VB_MAX_THREAD_COUNTS];                      /* GB/s */
  size_t bw_bytes;
  size_t llc;
  const char *llc_source;
} vb_limits;

typedef struct {
  const char *version, *features;
  int max_threads;
  vecattn_isa default_isa;
  vecattn_isa isas[VECATTN_ISA_COUNT]; /* paths measured, in order */
  int nisas;
  vecattn_dtype dtypes[VECATTN_DTYPE_COUNT], kv_dtypes[VECATTN_DTYPE_COUNT]; /* Q/O, K/V; enum order */
  int ndtypes, nkv_dtypes;
  int reduced_precision;
  int quick, full;
  double slow_call, slow_call_default; /* seconds per call above which a path runs reduced */
  double min_time;
  int min_reps;
  vb_mem_method mem;
  int64_t check_cap;
  double load_start, load_end; /* 1-minute load average */
  int busy;                    /* --busy: spinning threads during each case */
  vb_machine machine;
  const char *label; /* --label, or NULL */
  int planned;       /* cases the run was asked for */
  int interrupted;   /* the signal that stopped the run, or 0 */
  int ok;
  const vb_serve *serve; /* the serve case's runs, one per type pair, in type order */
  int nserve;            /* runs made (0: not asked for, or not reached) */
} vb_info;

void vb_report_header(FILE *f, const vb_info *in, const vb_limits *l);
void vb_report_limits(FILE *f, const vb_info *in, const vb_limits *l);
/* The results table, printed a row at a time as cases finish. */
void vb_report_shape(FILE *f, const char *label, const vb_shape *s, double flops, int copies);
void vb_report_row_header(FILE *f);
void vb_report_row(FILE *f, const vb_result *r);
void vb_report_summary(FILE *f, const vb_info *in, const vb_result *r, int n);
/* Files are written to PATH.tmp.<pid> and renamed over PATH, so a reader (or
 * a run stopped half-way) never sees a partial file. -1 with errno set. */
int vb_report_json(const char *path, const vb_info *in, const vb_limits *l, const vb_result *r, int n);
int vb_report_csv(const char *path, const vb_result *r, int n);

#endif
