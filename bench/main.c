/* vecattn-bench: command line and orchestration. Every ISA path the CPU
 * supports runs every chosen shape at every chosen thread count, checked
 * against the scalar path first, and set against the FMA peak and read
 * bandwidth measured in the same run. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MAX_SHAPES 16
#define MAX_BLOCKS (MAX_SHAPES * VECATTN_DTYPE_COUNT * VECATTN_DTYPE_COUNT)
#define REDUCED_CAP 512
/* Above this much work a scalar reference is computed on a reduced copy,
 * unless the scalar path is being timed anyway (then its output is used). */
#define FULL_REF_MAX_FLOPS 8e9
#define MAX_REPS 100000
/* Default run: a shape above this much work is probed on its reduced copy
 * first; a path whose full call would then take longer than SLOW_CALL_S
 * (SLOW_CALL_DEFAULT_S for the path the library picks by default) is timed
 * on the reduced copy instead. --full turns this off. */
#define PROBE_MIN_FLOPS 4e9
#define SLOW_CALL_S 1.0
#define SLOW_CALL_DEFAULT_S 4.0

typedef struct {
  int quick, full;
  const char *json, *csv, *label;
  char shapes[MAX_SHAPES][32];
  int nshapes;
  vecattn_isa isas[VECATTN_ISA_COUNT];
  int nisas;
  int threads[VB_MAX_THREAD_COUNTS];
  int nthreads;
  int dtypes[VECATTN_DTYPE_COUNT], kv_dtypes[VECATTN_DTYPE_COUNT]; /* flags per vecattn_dtype */
  int dtypes_given, kv_dtypes_given;
  int reduced_precision;
  vb_shape custom;
  int has_custom;
  double min_time;
  int min_reps;
  double llc_mib;
  int busy;
  int serve, shapes_given; /* the serve case; --shape named something */
  int64_t serve_block;
} options;

static void usage(FILE *f) {
  fputs("Usage: vecattn-bench [options]\n"
        "Times vecattn_sdpa on every ISA path this CPU supports, for named shapes, at\n"
        "1 thread and all threads, next to the FMA peak and read bandwidth measured\n"
        "in the same run. Each path is checked against the scalar path first.\n"
        "\n"
        "Shapes:\n"
        "  --shape NAME     run this shape (repeatable, or a comma list); default: all\n"
        "                   llama-prefill  B=1 Hq=32 Hkv=8 N=2048 D=128 causal\n"
        "                   bert           B=8 H=12 N=512 D=64, kv_len padding 384..512\n"
        "                   decode         B=1 Hq=32 Hkv=8 Nq=1 Nk=8192 D=128\n"
        "                   decode-b16     B=16 Hq=32 Hkv=8 Nq=1 Nk=2048 D=128\n"
        "                   long           B=1 H=8 N=16384 D=64 causal\n"
        "                   additive       B=1 H=4 N=256 D=64, Bahdanau scores, Da=64\n"
        "                                  (vecattn_attend; tanh counted as one FLOP)\n"
        "                   serve          a server step through vecattn_sdpa_paged (block\n"
        "                                  size 16): 32 decodes at contexts drawn\n"
        "                                  log-uniform in 64..16384 + 2 prefill chunks of\n"
        "                                  512, Hq=32 Hkv=8 D=128, causal; against one\n"
        "                                  vecattn_sdpa per sequence and one padded call\n"
        "                                  with kv_len. Runs once per (--dtype, --kv-dtype)\n"
        "                                  pair (pools, per-sequence and padded K/V of the\n"
        "                                  K/V type), on the best ISA path chosen, at the\n"
        "                                  largest thread count\n"
        "                   custom         the shape given by the flags below\n"
        "  --b N --hq N --hkv N --nq N --nk N --d N --dv N --causal --window N\n"
        "                   define `custom` (defaults: B=1 Hq=8 Hkv=Hq Nq=512 Nk=Nq\n"
        "                   D=64 Dv=D); without --shape, only `custom` runs. It is\n"
        "                   reported in GB/s when Nq*Hq/Hkv <= 16 (decode-like),\n"
        "                   else in GFLOP/s\n"
        "\n"
        "Selection:\n"
        "  --isa NAME       ISA path (repeatable, or a comma list): scalar sse2 avx2\n"
        "                   avx512 neon sve neon32 neondot neonbf16 svebf16; default:\n"
        "                   every one the CPU supports (neondot, neonbf16, svebf16 and\n"
        "                   avx512bf16 only with --reduced-precision)\n"
        "  --threads N      thread count (repeatable, or a comma list; 'all' means\n"
        "                   omp_get_max_threads()); default: 1 and all\n"
        "  --kv-dtype T     K/V element type (repeatable, or a comma list): f32 f16 bf16\n"
        "                   q8_0; default f32. Inputs are f32 random numbers converted\n"
        "                   with vecattn_convert; q8_0 needs D and Dv multiples of 32\n"
        "                   (other shapes skip it, with a note)\n"
        "  --dtype T        Q and output element type, the same way: f32 f16 bf16;\n"
        "                   default f32. Every shape runs every (--dtype, --kv-dtype)\n"
        "                   pair, in the order f32 f16 bf16 q8_0 whatever the order\n"
        "                   given; GB/s counts the K/V bytes of the type (2 per f16\n"
        "                   element, 34 per 32 q8_0 elements); `vs f32` is the\n"
        "                   speed-up over the all-f32 case of the same shape, ISA and\n"
        "                   threads, which runs first\n"
        "  --reduced-precision\n"
        "                   allow bf16 products, and int8 products against q8_0 K\n"
        "                   where the path has them (vecattn_sdpa_opts.reduced_precision)\n"
        "                   in every call, serve's included; the check against scalar\n"
        "                   then allows 1e-2 more\n"
        "\n"
        "Measurement:\n"
        "  (default)        every path on every shape, in about 2 minutes on 2 cores: on\n"
        "                   big shapes a path slower than 1 s per call (4 s for the\n"
        "                   default path) is timed on a reduced copy (Nq, Nk <= 512),\n"
        "                   marked 'reduced' in the table and JSON\n"
        "  --full           time every path on the full shapes (scalar `long` alone\n"
        "                   takes minutes)\n"
        "  --quick          shrunk shapes, short runs, small bandwidth buffer (CI smoke)\n"
        "  --min-time SEC   aim for this much timed work per case (default 0.5)\n"
        "  --min-reps N     at least N timed runs per case (default 3)\n"
        "  --llc-mib N      last-level cache size to plan with (default: detected)\n"
        "  --serve-block N  the serve case's paged block size (default 16)\n"
        "  --busy N         N threads spin in the background during each case's warm-up\n"
        "                   and timed runs, as other work on a shared machine would\n"
        "                   (default 0, at most 64); the summary then gives each thread\n"
        "                   count's median time as a multiple of the 1-thread time\n"
        "\n"
        "Output:\n"
        "  --json FILE      write everything as JSON (tools/vecattn-plot reads it)\n"
        "  --csv FILE       write the results as CSV\n"
        "                   (both are written before timing starts, so a bad path fails at\n"
        "                   once, and rewritten after every case)\n"
        "  --label TEXT     name this run in the JSON (vecattn-plot uses it to tell runs apart)\n"
        "  -h, --help       print this text\n"
        "\n"
        "Each result row is printed as soon as its case is measured. SIGINT (Ctrl-C) or\n"
        "SIGTERM stops the run after the current call and leaves the rows, JSON and CSV\n"
        "of the cases measured so far; a second signal aborts at once.\n"
        "\n"
        "Exit status: 0 success; 1 a path disagreed with scalar or a call failed;\n"
        "2 bad usage or an output file that cannot be written; 128+N stopped by signal N\n"
        "(130 SIGINT, 143 SIGTERM).\n",
        f);
}

static int bad(const char *msg, const char *arg) {
  fprintf(stderr, "vecattn-bench: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
  fputs("Try 'vecattn-bench --help'.\n", stderr);
  return -1;
}

static int parse_i64(const char *s, int64_t min, int64_t *out) {
  char *end;
  long long v = strtoll(s, &end, 10);
  if (!*s || *end || v < min) return -1;
  *out = (int64_t)v;
  return 0;
}

static int add_isa(options *o, const char *name) {
  vecattn_isa isa;
  if (vecattn_isa_from_name(name, &isa) || isa == VECATTN_ISA_AUTO) return bad("unknown ISA", name);
  for (int i = 0; i < o->nisas; i++)
    if (o->isas[i] == isa) return 0;
  o->isas[o->nisas++] = isa;
  return 0;
}

static int add_threads(options *o, const char *s) {
  int64_t t;
  if (!strcmp(s, "all") || !strcmp(s, "max")) t = omp_get_max_threads();
  else if (parse_i64(s, 1, &t) || t > 4096) return bad("bad thread count", s);
  for (int i = 0; i < o->nthreads; i++)
    if (o->threads[i] == (int)t) return 0;
  if (o->nthreads == VB_MAX_THREAD_COUNTS) return bad("too many thread counts", s);
  o->threads[o->nthreads++] = (int)t;
  return 0;
}

static int add_shape(options *o, const char *name) {
  vb_shape s;
  if (!strcmp(name, "serve")) {
    o->serve = 1;
    return 0;
  }
  if (strcmp(name, "custom") && vb_shape_named(name, 0, &s)) return bad("unknown shape", name);
  for (int i = 0; i < o->nshapes; i++)
    if (!strcmp(o->shapes[i], name)) return 0;
  if (o->nshapes == MAX_SHAPES) return bad("too many shapes", name);
  snprintf(o->shapes[o->nshapes++], sizeof o->shapes[0], "%s", name);
  return 0;
}

static int add_kv_dtype(options *o, const char *name) {
  vecattn_dtype t;
  if (vecattn_dtype_from_name(name, &t)) return bad("unknown K/V type (f32 f16 bf16 q8_0)", name);
  o->kv_dtypes[t] = 1;
  o->kv_dtypes_given = 1;
  return 0;
}

static int add_dtype(options *o, const char *name) {
  vecattn_dtype t;
  if (vecattn_dtype_from_name(name, &t) || t == VECATTN_Q8_0) return bad("unknown Q/out type (f32 f16 bf16)", name);
  o->dtypes[t] = 1;
  o->dtypes_given = 1;
  return 0;
}

/* Applies fn to each element of a comma list. */
static int each(options *o, const char *list, int (*fn)(options *, const char *)) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", list);
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ","))
    if (fn(o, tok)) return -1;
  return 0;
}

/* Returns 0 to run, 1 after --help, -1 on bad usage. */
static int parse(int argc, char **argv, options *o) {
  int64_t b = 1, hq = 8, hkv = 0, nq = 512, nk = 0, d = 64, dv = 0, window = 0;
  int causal = 0;
  for (int i = 1; i < argc; i++) {
    char name[64];
    const char *arg = argv[i], *val = NULL, *eq = strchr(arg, '=');
    if (!strncmp(arg, "--", 2) && eq) { /* --opt=value */
      snprintf(name, sizeof name, "%.*s", (int)(eq - arg), arg);
      val = eq + 1;
    } else {
      snprintf(name, sizeof name, "%s", arg);
    }
    const char *flags[] = {"--quick", "--full", "--causal", "--reduced-precision", "-h", "--help", NULL};
    const char *valued[] = {"--b",       "--hq",    "--hkv",      "--nq",       "--nk",      "--d",
                            "--dv",      "--window", "--shape",   "--isa",      "--threads", "--json",
                            "--csv",     "--label", "--min-time", "--min-reps", "--llc-mib", "--dtype",
                            "--kv-dtype", "--busy", "--serve-block", NULL};
    int is_flag = 0, is_valued = 0;
    for (int f = 0; flags[f]; f++) is_flag |= !strcmp(name, flags[f]);
    for (int f = 0; valued[f]; f++) is_valued |= !strcmp(name, valued[f]);
    if (!is_flag && !is_valued) return bad("unknown option", arg);
    if (is_flag && val) return bad("option takes no value", arg);
    if (!is_flag && !val) {
      if (i + 1 >= argc) return bad("option needs a value", arg);
      val = argv[++i];
    }
    int64_t *dims[] = {&b, &hq, &hkv, &nq, &nk, &d, &dv, &window};
    const char *dim_names[] = {"--b", "--hq", "--hkv", "--nq", "--nk", "--d", "--dv", "--window"};
    int dim = -1;
    for (int k = 0; k < 8; k++)
      if (!strcmp(name, dim_names[k])) dim = k;
    if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
      usage(stdout);
      return 1;
    } else if (!strcmp(name, "--quick")) {
      o->quick = 1;
    } else if (!strcmp(name, "--full")) {
      o->full = 1;
    } else if (!strcmp(name, "--reduced-precision")) {
      o->reduced_precision = 1;
    } else if (!strcmp(name, "--causal")) {
      causal = 1;
      o->has_custom = 1;
    } else if (dim >= 0) {
      if (parse_i64(val, dim == 7 ? 0 : 1, dims[dim])) return bad("bad size", arg);
      o->has_custom = 1;
    } else if (!strcmp(name, "--shape")) {
      o->shapes_given = 1;
      if (each(o, val, add_shape)) return -1;
    } else if (!strcmp(name, "--isa")) {
      if (each(o, val, add_isa)) return -1;
    } else if (!strcmp(name, "--threads")) {
      if (each(o, val, add_threads)) return -1;
    } else if (!strcmp(name, "--dtype")) {
      if (each(o, val, add_dtype)) return -1;
    } else if (!strcmp(name, "--kv-dtype")) {
      if (each(o, val, add_kv_dtype)) return -1;
    } else if (!strcmp(name, "--json")) {
      o->json = val;
    } else if (!strcmp(name, "--csv")) {
      o->csv = val;
    } else if (!strcmp(name, "--label")) {
      o->label = val;
    } else if (!strcmp(name, "--min-time")) {
      char *end;
      o->min_time = strtod(val, &end);
      if (*end || !(o->min_time >= 0) || o->min_time > 3600) return bad("bad --min-time", val);
    } else if (!strcmp(name, "--min-reps")) {
      int64_t r;
      if (parse_i64(val, 1, &r) || r > MAX_REPS) return bad("bad --min-reps", val);
      o->min_reps = (int)r;
    } else if (!strcmp(name, "--busy")) {
      int64_t n;
      if (parse_i64(val, 0, &n) || n > 64) return bad("bad --busy (0 to 64)", val);
      o->busy = (int)n;
    } else if (!strcmp(name, "--serve-block")) {
      if (parse_i64(val, 1, &o->serve_block) || o->serve_block > 4096) return bad("bad --serve-block (1 to 4096)", val);
    } else if (!strcmp(name, "--llc-mib")) {
      char *end;
      o->llc_mib = strtod(val, &end);
      if (*end || !(o->llc_mib > 0) || o->llc_mib > 1 << 20) return bad("bad --llc-mib", val);
    } else {
      return bad("unknown option", arg);
    }
  }
  {
    vb_shape *c = &o->custom; /* built always: --shape custom alone uses the defaults */
    memset(c, 0, sizeof *c);
    snprintf(c->name, sizeof c->name, "custom");
    c->b = b;
    c->hq = hq;
    c->hkv = hkv ? hkv : hq;
    c->nq = nq;
    c->nk = nk ? nk : nq;
    c->d = d;
    c->dv = dv ? dv : d;
    c->causal = causal;
    c->window = window;
    /* Few query rows per KV head: reading K and V dominates. */
    c->metric = c->nq * (c->hq / c->hkv) <= 16 ? VB_METRIC_BYTES : VB_METRIC_FLOPS;
    char why[128];
    if (vb_shape_check(c, why, sizeof why)) return bad("bad custom shape", why);
    if (o->has_custom && add_shape(o, "custom")) return -1;
  }
  if (o->quick && o->full) return bad("--quick and --full exclude each other", NULL);
  if (o->json && o->csv && !strcmp(o->json, o->csv)) return bad("--json and --csv name the same file", o->json);
  return 0;
}

/* Rotating copies: enough that the timed runs stream >= VB_LLC_MULTIPLE x the LLC. */
static int copies_for(size_t tensor_bytes, size_t llc, size_t budget) {
  return vb_rotating_copies(tensor_bytes, llc, budget, 256);
}

/* Output of the scalar path on `d` (all threads, copy 0), in a new buffer. */
static float *scalar_reference(const vb_data *d, vecattn_isa restore, vecattn_status *st) {
  float *ref = malloc(d->o_elems * sizeof *ref);
  if (!ref) {
    *st = VECATTN_ENOMEM;
    return NULL;
  }
  *st = vecattn_set_isa(VECATTN_ISA_SCALAR);
  if (*st == VECATTN_OK) *st = vb_data_run(d, 0, 0);
  vecattn_set_isa(restore);
  if (*st == VECATTN_OK && vb_data_out_f32(d, 0, ref)) *st = VECATTN_EINVAL;
  if (*st != VECATTN_OK) {
    free(ref);
    return NULL;
  }
  return ref;
}

static void loud(const vb_result *r, const char *what) {
  vb_progress_end();
  char types[24];
  vb_shape_types(&r->shape, types, sizeof types);
  fprintf(stderr, "\n*** ERROR: %s %s %s t=%d: %s ***\n\n", r->shape.name, types, vecattn_isa_name(r->isa),
          r->threads, what);
}

static void fail_check(vb_result *r, double err, int reduced) {
  char msg[160];
  r->check = VB_CHECK_FAIL;
  r->check_err = err;
  r->check_reduced = reduced;
  snprintf(msg, sizeof msg, "MISMATCH vs scalar%s: relative L2 error %.3e > %.1e",
           reduced ? " (reduced copy of the shape)" : "", err, r->check_tol);
  loud(r, msg);
}

static void fail_call(vb_result *r, vecattn_status st, const char *when) {
  char msg[160];
  r->check = VB_CHECK_ERROR;
  r->status = st;
  snprintf(msg, sizeof msg, "%s failed: %s", when, vecattn_strerror(st));
  loud(r, msg);
}

/* One size of a shape: its rotating copies and the scalar output on copy 0. */
typedef struct {
  vb_data data;
  float *ref;   /* NULL until known */
  float *out32; /* a typed output widened for the check; NULL for f32 */
  int have;
} variant;

typedef struct {
  variant full;
  variant red;      /* the reduced copy: checks of big shapes, and the slow paths' timing */
  int red_same;     /* the reduced copy would be the shape itself */
  int red_shown;    /* its description has been printed */
  size_t llc, budget;
} shape_state;

static void variant_free(variant *v) {
  free(v->ref);
  free(v->out32);
  if (v->have) vb_data_free(&v->data);
  memset(v, 0, sizeof *v);
}

/* The f32 buffer a typed output is widened into, allocated and touched here
 * so that a case's memory figure does not count it. */
static int variant_prepare_check(variant *v) {
  if (v->data.shape.dtype == VECATTN_F32 || v->out32) return 0;
  v->out32 = malloc(v->data.o_elems * sizeof *v->out32);
  if (!v->out32) return -1;
  memset(v->out32, 0xff, v->data.o_elems * sizeof *v->out32);
  return 0;
}

/* Relative L2 error of copy 0's output against the reference. */
static double variant_err(const variant *v) {
  const vb_data *d = &v->data;
  if (d->shape.dtype == VECATTN_F32) return vb_rel_l2((const float *)d->o[0], v->ref, d->o_elems);
  if (vb_data_out_f32(d, 0, v->out32)) return NAN;
  return vb_rel_l2(v->out32, v->ref, d->o_elems);
}

/* The reduced copy with its scalar reference, made on first use. */
static int ensure_reduced(shape_state *ss, vb_result *r) {
  if (ss->red.have) return 0;
  vb_shape rs = vb_shape_reduced(&ss->full.data.shape, REDUCED_CAP);
  int copies = copies_for(vb_shape_tensor_bytes(&rs), ss->llc, ss->budget);
  if (vb_data_alloc(&ss->red.data, &rs, copies, 7)) {
    fail_call(r, VECATTN_ENOMEM, "allocating the reduced copy");
    return -1;
  }
  ss->red.have = 1;
  if (variant_prepare_check(&ss->red)) {
    variant_free(&ss->red);
    fail_call(r, VECATTN_ENOMEM, "allocating the reduced copy");
    return -1;
  }
  vecattn_status st;
  ss->red.ref = scalar_reference(&ss->red.data, r->isa, &st);
  if (!ss->red.ref) {
    variant_free(&ss->red);
    fail_call(r, st, "scalar reference (reduced)");
    return -1;
  }
  return 0;
}

/* Checks path `isa` against scalar on the reduced copy; *seconds: that call's time. */
static int reduced_check(shape_state *ss, vb_result *r, double *seconds) {
  if (ensure_reduced(ss, r)) return -1;
  double t0 = vb_now();
  vecattn_status st = vb_data_run(&ss->red.data, 0, r->threads);
  *seconds = vb_now() - t0;
  if (st != VECATTN_OK) {
    fail_call(r, st, "vecattn_sdpa (reduced check)");
    return -1;
  }
  double err = variant_err(&ss->red);
  if (!(err <= r->check_tol)) {
    fail_check(r, err, 1);
    return -1;
  }
  r->check = VB_CHECK_OK;
  r->check_err = err;
  r->check_reduced = 1;
  return 0;
}

enum { CASE_OK = 0, CASE_FAILED = -1, CASE_STOPPED = 1 };

/* One case on one size: check, warm up, time. `checked`: the reduced check
 * already ran for this case. */
static int run_case(shape_state *ss, variant *v, vb_result *r, const options *o, vb_mem_method mem, int step,
                    int checked) {
  const vb_data *d = &v->data;
  vecattn_status st;
  r->timed = d->shape;
  r->copies = d->copies;
  r->flops = vb_shape_flops(&d->shape, d->kv_len);
  r->bytes = vb_shape_bytes(&d->shape);
  if (d->kv_len) {
    r->kv_len_min = d->kv_len[0];
    r->kv_len_max = d->kv_len[d->shape.b - 1];
  }
  int make_ref = 0;
  if (!v->ref) {
    if (r->isa == VECATTN_ISA_SCALAR) {
      make_ref = 1; /* this run's output becomes the reference */
      v->ref = malloc(d->o_elems * sizeof *v->ref);
      if (!v->ref) {
        fail_call(r, VECATTN_ENOMEM, "allocating the reference");
        return CASE_FAILED;
      }
      /* Resident before measuring. Not zero: malloc + memset(0) may become
       * calloc, which leaves fresh pages untouched. */
      memset(v->ref, 0xff, d->o_elems * sizeof *v->ref);
    } else if (o->quick || r->flops <= FULL_REF_MAX_FLOPS) {
      v->ref = scalar_reference(d, r->isa, &st);
      if (!v->ref) {
        fail_call(r, st, "scalar reference");
        return CASE_FAILED;
      }
    } else if (!checked) {
      double unused;
      if (reduced_check(ss, r, &unused)) return CASE_FAILED;
    }
  }
  if (vb_stop_requested()) return CASE_STOPPED;

  /* Everything this case owns is resident now; what grows from here on is
   * the library's doing. */
  size_t base = 0, old_peak = 0;
  if (mem != VB_MEM_NONE) {
    vb_mem_reset_peak(); /* also trims the heap, useful even if the reset is refused */
    base = vb_mem_rss();
    old_peak = vb_mem_peak();
  }

  vb_busy_start(o->busy);
  double t0 = vb_now();
  st = vb_data_run(d, 0, r->threads);
  double warm = vb_now() - t0;
  if (st != VECATTN_OK) {
    vb_busy_stop();
    if (make_ref) { /* no reference after all; a later case may make one */
      free(v->ref);
      v->ref = NULL;
    }
    fail_call(r, st, "vecattn_sdpa (warm-up)");
    return CASE_FAILED;
  }
  if (make_ref) {
    vb_data_out_f32(d, 0, v->ref); /* cannot fail: the sizes were checked at allocation */
    r->check = VB_CHECK_REF;
    r->check_err = NAN;
    r->check_reduced = 0;
  } else if (v->ref) {
    double err = variant_err(v);
    if (!(err <= r->check_tol)) {
      vb_busy_stop();
      fail_check(r, err, 0);
      return CASE_FAILED;
    }
    r->check = VB_CHECK_OK;
    r->check_err = err;
    r->check_reduced = 0;
  }

  double want = o->min_time / (warm > 1e-7 ? warm : 1e-7);
  int reps = want > MAX_REPS ? MAX_REPS : (int)ceil(want);
  if (reps < o->min_reps) reps = o->min_reps;
  double *t = malloc((size_t)reps * sizeof *t);
  if (!t) {
    vb_busy_stop();
    fail_call(r, VECATTN_ENOMEM, "allocating the timing buffer");
    return CASE_FAILED;
  }
  for (int i = 0; i < reps; i++) {
    if (vb_stop_requested()) {
      vb_busy_stop();
      free(t);
      return CASE_STOPPED;
    }
    int copy = (i + 1) % d->copies; /* the warm-up used copy 0 */
    if (warm > 1.0) /* slow cases: show that they move */
      vb_progress(step, "%s %s/%s %s t=%d: run %d/%d (%.1f s each) ...", r->shape.name,
                  vecattn_dtype_name(r->shape.dtype), vecattn_dtype_name(r->shape.kv_dtype), vecattn_isa_name(r->isa),
                  r->threads, i + 1, reps, warm);
    t0 = vb_now();
    st = vb_data_run(d, copy, r->threads);
    t[i] = vb_now() - t0;
    if (st != VECATTN_OK) {
      vb_busy_stop();
      free(t);
      fail_call(r, st, "vecattn_sdpa (timed run)");
      return CASE_FAILED;
    }
  }
  vb_busy_stop();
  r->reps = reps;
  r->t_med = vb_median(t, reps); /* sorts */
  r->t_min = t[0];
  r->t_max = t[reps - 1];
  free(t);
  r->gflops = r->flops / r->t_med * 1e-9;
  r->gbps = r->bytes / r->t_med * 1e-9;
  r->value = r->shape.metric == VB_METRIC_BYTES ? r->gbps : r->gflops;
  /* Memory bandwidth on a shared machine drifts within seconds: hold a GB/s
   * case to a read of its own bytes taken right now, not at the start. */
  if (r->shape.metric == VB_METRIC_BYTES) /* from the least recently used copy on */
    r->bw_case = vb_bw_kv_gbps(d, (reps + 1) % d->copies, r->threads, o->quick ? 2 : 3);
  size_t peak = mem != VB_MEM_NONE ? vb_mem_peak() : 0;
  /* A peak that cannot be reset only tells something when this case raised it. */
  if (mem == VB_MEM_HWM || (mem == VB_MEM_MAXRSS && peak > old_peak)) {
    r->peak_rss = (double)peak;
    r->workspace = peak > base ? (double)(peak - base) : 0.0;
  }
  return CASE_OK;
}

/* A typed case's speed-up over the all-f32 case of its shape, ISA and
 * threads, timed side by side: the two alternate call by call (each on its
 * own rotating copies), so a shared machine's drifting bandwidth or load
 * falls on both alike. At least min_reps rounds and about min_time of
 * calls in all. The f32 calls never set reduced_precision: the baseline is
 * plain f32 attention, as the targets read. */
static int pair_with_f32(const variant *f32, const vb_data *d, vb_result *r, const options *o) {
  vb_data plain = f32->data;
  plain.shape.reduced_precision = 0;
  const vb_data *f = &plain;
  double warm = vb_now();
  if (vb_data_run(f, 0, r->threads) != VECATTN_OK) return CASE_FAILED; /* the same call timed before */
  warm = vb_now() - warm + r->t_med;
  double want = o->min_time / (warm > 1e-7 ? warm : 1e-7);
  int rounds = want > MAX_REPS ? MAX_REPS : (int)ceil(want);
  if (rounds < o->min_reps) rounds = o->min_reps;
  double *t = malloc(2 * (size_t)rounds * sizeof *t);
  if (!t) return CASE_FAILED;
  vb_busy_start(o->busy);
  for (int i = 0; i < rounds; i++) {
    if (vb_stop_requested()) {
      vb_busy_stop();
      free(t);
      return CASE_STOPPED;
    }
    double t0 = vb_now();
    vecattn_status st = vb_data_run(f, (i + 1) % f->copies, r->threads);
    double t1 = vb_now();
    if (st == VECATTN_OK) st = vb_data_run(d, (i + 1) % d->copies, r->threads);
    t[i] = t1 - t0, t[rounds + i] = vb_now() - t1;
    if (st != VECATTN_OK) {
      vb_busy_stop();
      free(t);
      return CASE_FAILED;
    }
  }
  vb_busy_stop();
  r->x_f32_paired = vb_median(t, rounds) / vb_median(t + rounds, rounds);
  r->paired_rounds = rounds;
  free(t);
  return CASE_OK;
}

static int limit_index(const vb_limits *l, int threads) {
  for (int i = 0; i < l->count; i++)
    if (l->threads[i] == threads) return i;
  return -1;
}

static int timed(const vb_result *r) { return r->reps > 0; }

/* Same named shape with these element types. */
static int same_case(const vb_shape *a, const vb_shape *b, vecattn_dtype dtype, vecattn_dtype kv_dtype) {
  return !strcmp(a->name, b->name) && a->dtype == dtype && a->kv_dtype == kv_dtype;
}

/* The timed case of `like`'s shape and threads on path isa, with these types. */
static const vb_result *find_typed(const vb_result *res, int n, const vb_result *like, vecattn_isa isa,
                                   vecattn_dtype dtype, vecattn_dtype kv_dtype) {
  for (int i = 0; i < n; i++)
    if (res[i].isa == isa && res[i].threads == like->threads &&
        same_case(&res[i].shape, &like->shape, dtype, kv_dtype) && timed(&res[i]))
      return &res[i];
  return NULL;
}

static const vb_result *find(const vb_result *res, int n, const vb_result *like, vecattn_isa isa) {
  return find_typed(res, n, like, isa, like->shape.dtype, like->shape.kv_dtype);
}

static vecattn_isa lower_of(vecattn_isa isa) {
  switch (isa) {
    case VECATTN_ISA_SSE2: return VECATTN_ISA_SCALAR;
    case VECATTN_ISA_AVX2: return VECATTN_ISA_SSE2;
    case VECATTN_ISA_AVX512: return VECATTN_ISA_AVX2;
    case VECATTN_ISA_NEON: return VECATTN_ISA_SCALAR;
    case VECATTN_ISA_AVX512BF16: return VECATTN_ISA_AVX512;
    case VECATTN_ISA_SVE: return VECATTN_ISA_NEON;
    case VECATTN_ISA_NEON32: return VECATTN_ISA_SCALAR;
    case VECATTN_ISA_NEONBF16: return VECATTN_ISA_NEON;
    case VECATTN_ISA_NEONDOT: return VECATTN_ISA_NEON;
    case VECATTN_ISA_SVEBF16: return VECATTN_ISA_SVE;
    default: return VECATTN_ISA_AUTO;
  }
}

/* Percent of limit and speed-ups of one case, from the cases before it
 * (paths run in ISA order, so its lower paths are already measured). */
static void derive(vb_result *r, const vb_result *res, int n, const vb_limits *l) {
  if (!timed(r)) return;
  int ti = limit_index(l, r->threads);
  double limit = NAN;
  if (r->shape.metric == VB_METRIC_BYTES)
    limit = r->bw_case > 0 ? r->bw_case : ti >= 0 ? l->bw[ti] : NAN;
  else if (ti >= 0)
    limit = l->peak[r->isa][ti];
  r->pct = limit > 0 ? 100.0 * r->value / limit : NAN;
  /* Rates, not times: a reduced row did less work than a full one. With equal
   * sizes the ratio of rates is the ratio of median times. */
  const vb_result *s = find(res, n, r, VECATTN_ISA_SCALAR);
  r->x_scalar = s ? r->value / s->value : NAN;
  r->x_scalar_mixed = s && s->reduced != r->reduced;
  for (vecattn_isa lo = lower_of(r->isa); lo != VECATTN_ISA_AUTO; lo = lower_of(lo)) {
    const vb_result *q = find(res, n, r, lo);
    if (q) {
      r->x_lower = r->value / q->value;
      r->x_lower_mixed = q->reduced != r->reduced;
      r->lower_isa = lo;
      break;
    }
  }
  /* Types run in enum order, so the all-f32 case came first. GFLOP/s, not
   * GB/s: the types read different bytes for the same work, so only the
   * work rate makes the ratio a ratio of times. */
  if (r->shape.dtype != VECATTN_F32 || r->shape.kv_dtype != VECATTN_F32) {
    const vb_result *f = find_typed(res, n, r, r->isa, VECATTN_F32, VECATTN_F32);
    r->x_f32 = f ? r->gflops / f->gflops : NAN;
    r->x_f32_mixed = f && f->reduced != r->reduced;
  }
}

static void measure_limits(vb_limits *l, const vb_info *in) {
  const double peak_s = in->quick ? 0.02 : 0.2;
  for (int i = 0; i < in->nisas; i++)
    for (int t = 0; t < l->count && !vb_stop_requested(); t++) {
      vb_progress(0, "limits: FMA peak %s t=%d ...", vecattn_isa_name(in->isas[i]), l->threads[t]);
      l->peak[in->isas[i]][t] = vb_peak_gflops(in->isas[i], l->threads[t], peak_s);
    }
  if (vb_stop_requested()) return;
  /* Bandwidth buffer: >= 4x the LLC and >= 1 GiB, within a quarter of RAM. */
  size_t bytes = (size_t)64 << 20;
  if (!in->quick) {
    bytes = 4 * l->llc;
    if (bytes < ((size_t)1 << 30)) bytes = (size_t)1 << 30;
    if (bytes > vb_phys_mem_bytes() / 4) bytes = vb_phys_mem_bytes() / 4;
  }
  bytes = bytes / (1 << 20) * (1 << 20);
  vb_progress(0, "limits: filling %zu MiB for the bandwidth test ...", bytes >> 20);
  void *buf = vb_bw_alloc(bytes);
  for (int t = 0; t < l->count && !vb_stop_requested(); t++) {
    vb_progress(0, "limits: read bandwidth t=%d ...", l->threads[t]);
    l->bw[t] = buf ? vb_bw_gbps(buf, bytes, l->threads[t], in->quick ? 2 : 3) : NAN;
  }
  l->bw_bytes = buf ? bytes : 0;
  free(buf);
}

/* One small prefill and one small decode call per path and thread count,
 * untimed: faults in the library's code pages and starts its threads, so
 * the first real case's memory figure holds only its workspace. */
static void prime_paths(const vb_info *in, const vb_limits *l) {
  vb_shape s[2];
  memset(s, 0, sizeof s);
  for (int i = 0; i < 2; i++) {
    snprintf(s[i].name, sizeof s[i].name, "prime");
    s[i].b = 2;
    s[i].hq = 4;
    s[i].hkv = 2;
    s[i].d = s[i].dv = 64;
    s[i].padded = 1;
  }
  s[0].nq = s[0].nk = 256;
  s[0].causal = 1;
  s[1].nq = 1;
  s[1].nk = 4096;
  /* Typed paths: the decode call in every type pair (cheap, even on scalar). */
  for (int k = 0; k < 2 + in->ndtypes * in->nkv_dtypes && !vb_stop_requested(); k++) {
    vb_shape p = s[k < 2 ? k : 1];
    if (k >= 2) {
      p.dtype = in->dtypes[(k - 2) / in->nkv_dtypes];
      p.kv_dtype = in->kv_dtypes[(k - 2) % in->nkv_dtypes];
      if (p.dtype == VECATTN_F32 && p.kv_dtype == VECATTN_F32) continue;
    }
    p.reduced_precision = in->reduced_precision;
    vb_data d;
    if (vb_data_alloc(&d, &p, 1, 3)) continue;
    for (int i = 0; i < in->nisas; i++) {
      if (vecattn_set_isa(in->isas[i]) != VECATTN_OK) continue;
      for (int t = 0; t < l->count; t++) vb_data_run(&d, 0, l->threads[t]);
    }
    vb_data_free(&d);
  }
  vecattn_set_isa(VECATTN_ISA_AUTO);
}

/* Rewrites the JSON and CSV with the cases so far. Returns -1 (message
 * printed) when one cannot be written. */
static int save_outputs(const options *o, const vb_info *in, const vb_limits *l, const vb_result *res, int n) {
  int rc = 0;
  if (o->json && vb_report_json(o->json, in, l, res, n)) {
    vb_progress_end();
    fprintf(stderr, "vecattn-bench: cannot write %s: %s\n", o->json, strerror(errno));
    rc = -1;
  }
  if (o->csv && vb_report_csv(o->csv, res, n)) {
    vb_progress_end();
    fprintf(stderr, "vecattn-bench: cannot write %s: %s\n", o->csv, strerror(errno));
    rc = -1;
  }
  return rc;
}

static void init_result(vb_result *r, const vb_shape *s, vecattn_isa isa, int threads) {
  memset(r, 0, sizeof *r);
  r->shape = *s;
  r->timed = *s;
  r->isa = isa;
  r->threads = threads;
  r->t_med = r->t_min = r->t_max = NAN;
  r->gflops = r->gbps = r->value = r->pct = r->bw_case = r->x_scalar = r->x_lower = r->x_f32 = r->x_f32_paired = NAN;
  r->check_tol = vb_shape_check_tol(s);
  r->peak_rss = r->workspace = r->check_err = NAN;
  r->lower_isa = VECATTN_ISA_AUTO;
}

int main(int argc, char **argv) {
  options o;
  memset(&o, 0, sizeof o);
  o.min_time = -1;
  o.min_reps = 3;
  int pr = parse(argc, argv, &o);
  if (pr) return pr > 0 ? 0 : 2;
  if (o.min_time < 0) o.min_time = o.quick ? 0.03 : 0.5;

  vb_info in;
  memset(&in, 0, sizeof in);
  in.version = vecattn_version();
  in.features = vecattn_cpu_features();
  in.max_threads = omp_get_max_threads();
  in.default_isa = vecattn_active_isa();
  in.quick = o.quick;
  in.full = o.full;
  in.slow_call = SLOW_CALL_S;
  in.slow_call_default = SLOW_CALL_DEFAULT_S;
  in.min_time = o.min_time;
  in.min_reps = o.min_reps;
  in.check_cap = REDUCED_CAP;
  in.label = o.label;
  in.load_end = -1;
  in.busy = o.busy;
  in.ok = 1;
  vb_machine_probe(&in.machine);

  /* ISA paths: requested ones the CPU runs, in enum order (scalar first,
   * so its output can serve as the reference). */
  for (int isa = VECATTN_ISA_SCALAR; isa < VECATTN_ISA_COUNT; isa++) {
    /* avx512bf16, neonbf16, neondot and svebf16 differ from avx512, neon and sve only in
     * reduced-precision products: by default they run when those are asked for. */
    const int bf16_path = isa == VECATTN_ISA_AVX512BF16 || isa == VECATTN_ISA_NEONBF16 || isa == VECATTN_ISA_NEONDOT ||
                          isa == VECATTN_ISA_SVEBF16;
    int wanted = o.nisas == 0 && (!bf16_path || o.reduced_precision);
    for (int i = 0; i < o.nisas; i++) wanted |= o.isas[i] == (vecattn_isa)isa;
    if (!wanted) continue;
    if (vecattn_isa_supported((vecattn_isa)isa))
      in.isas[in.nisas++] = (vecattn_isa)isa;
    else if (o.nisas)
      fprintf(stderr, "vecattn-bench: ISA %s is not supported here; skipped\n", vecattn_isa_name((vecattn_isa)isa));
  }
  if (!in.nisas) {
    fprintf(stderr, "vecattn-bench: no supported ISA path selected\n");
    return 2;
  }
  if (!o.nthreads) {
    o.threads[o.nthreads++] = 1;
    if (in.max_threads > 1) o.threads[o.nthreads++] = in.max_threads;
  }
  if (!o.nshapes && !o.shapes_given) { /* custom flags alone already chose `custom` */
    for (const char *const *n = vb_shape_names(); *n; n++) add_shape(&o, *n);
    o.serve = 1;
  }

  vb_limits lim;
  memset(&lim, 0, sizeof lim);
  lim.count = o.nthreads;
  for (int t = 0; t < o.nthreads; t++) lim.threads[t] = o.threads[t];
  for (int i = 0; i < VECATTN_ISA_COUNT; i++)
    for (int t = 0; t < VB_MAX_THREAD_COUNTS; t++) lim.peak[i][t] = NAN;
  for (int t = 0; t < VB_MAX_THREAD_COUNTS; t++) lim.bw[t] = NAN;
  if (o.llc_mib > 0) {
    lim.llc = (size_t)(o.llc_mib * 1048576.0);
    lim.llc_source = "--llc-mib";
  } else {
    lim.llc = vb_llc_bytes(&lim.llc_source);
  }
  in.mem = vb_mem_probe();
  in.load_start = vb_loadavg();
  /* Type pairs in enum order, so the all-f32 case of a shape runs first. */
  for (int t = 0; t < VECATTN_DTYPE_COUNT; t++) {
    if (o.dtypes[t] || (t == VECATTN_F32 && !o.dtypes_given)) in.dtypes[in.ndtypes++] = (vecattn_dtype)t;
    if (o.kv_dtypes[t] || (t == VECATTN_F32 && !o.kv_dtypes_given)) in.kv_dtypes[in.nkv_dtypes++] = (vecattn_dtype)t;
  }
  in.reduced_precision = o.reduced_precision;
  /* Blocks: a shape in one type pair, timed on every path and thread count. */
  vb_shape blocks[MAX_BLOCKS];
  char skipped[MAX_SHAPES][256];
  int nblocks = 0, nskipped = 0;
  for (int si = 0; si < o.nshapes; si++) {
    vb_shape s;
    if (!strcmp(o.shapes[si], "custom"))
      s = o.custom;
    else
      vb_shape_named(o.shapes[si], o.quick, &s);
    s.reduced_precision = o.reduced_precision;
    for (int kt = 0; kt < in.nkv_dtypes; kt++) {
      char why[160];
      if (vb_shape_kv_type_ok(&s, in.kv_dtypes[kt], why, sizeof why) && nskipped < MAX_SHAPES)
        snprintf(skipped[nskipped++], sizeof skipped[0], "%s: %s K/V skipped: %s", s.name,
                 vecattn_dtype_name(in.kv_dtypes[kt]), why);
    }
    for (int dt = 0; dt < in.ndtypes; dt++)
      for (int kt = 0; kt < in.nkv_dtypes; kt++) {
        char why[160];
        if (vb_shape_kv_type_ok(&s, in.kv_dtypes[kt], why, sizeof why)) continue;
        blocks[nblocks] = s;
        blocks[nblocks].dtype = in.dtypes[dt];
        blocks[nblocks].kv_dtype = in.kv_dtypes[kt];
        nblocks++;
      }
  }
  if (!nblocks && !o.serve) {
    for (int i = 0; i < nskipped; i++) fprintf(stderr, "vecattn-bench: %s\n", skipped[i]);
    fprintf(stderr, "vecattn-bench: no case left to run\n");
    return 2;
  }
  int total = nblocks * in.nisas * o.nthreads, step = 0;
  in.planned = total;

  /* Output files exist, valid and empty, before anything is timed: a path
   * that cannot be written fails now, with the system's reason. */
  vb_stop_install();
  if (save_outputs(&o, &in, &lim, NULL, 0)) return 2;

  vb_report_header(stdout, &in, &lim);
  for (int i = 0; i < nskipped; i++) printf("  note: %s\n", skipped[i]);
  if (nskipped) printf("\n");
  fflush(stdout);

  vb_progress_begin(total);
  measure_limits(&lim, &in);
  vb_progress_end();
  if (!vb_stop_requested()) {
    vb_report_limits(stdout, &in, &lim);
    fflush(stdout);
    vb_progress(0, "priming every path ...");
    prime_paths(&in, &lim);
  }

  vb_serve serve[VB_SERVE_MAX_RUNS];
  in.serve = serve;
  vb_result *res = calloc((size_t)(total ? total : 1), sizeof *res);
  if (!res) {
    fprintf(stderr, "vecattn-bench: out of memory\n");
    return 1;
  }
  int n = 0;
  size_t budget = vb_phys_mem_bytes() / 4;
  if (o.quick && budget > ((size_t)64 << 20)) budget = (size_t)64 << 20; /* quick: no big rotation sets */

  /* The all-f32 copies of the shape being run, kept for its typed blocks'
   * side-by-side timing (pair_with_f32). */
  variant kept_f32;
  memset(&kept_f32, 0, sizeof kept_f32);
  for (int bi = 0; bi < nblocks && !vb_stop_requested(); bi++) {
    const vb_shape s = blocks[bi];
    const int all_f32 = s.dtype == VECATTN_F32 && s.kv_dtype == VECATTN_F32;
    if (kept_f32.have && strcmp(kept_f32.data.shape.name, s.name)) variant_free(&kept_f32);
    char types[24];
    vb_shape_types(&s, types, sizeof types);
    size_t tb = vb_shape_tensor_bytes(&s);
    shape_state ss;
    memset(&ss, 0, sizeof ss);
    ss.llc = lim.llc;
    ss.budget = budget;
    int copies = copies_for(tb, lim.llc, budget);
    vb_progress(0, "%s %s: preparing %d cop%s of %.1f MiB ...", s.name, types, copies, copies == 1 ? "y" : "ies",
                (double)tb / 1048576.0);
    if (vb_data_alloc(&ss.full.data, &s, copies, 1)) {
      vb_progress_end();
      fprintf(stderr, "vecattn-bench: cannot allocate %s %s (%d x %.1f MiB)\n", s.name, types, copies,
              (double)tb / 1048576.0);
      in.ok = 0;
      continue;
    }
    ss.full.have = 1;
    if (variant_prepare_check(&ss.full)) {
      variant_free(&ss.full);
      vb_progress_end();
      fprintf(stderr, "vecattn-bench: cannot allocate %s %s (check buffer)\n", s.name, types);
      in.ok = 0;
      continue;
    }
    const vb_shape rs = vb_shape_reduced(&s, REDUCED_CAP);
    ss.red_same = rs.nq == s.nq && rs.nk == s.nk;
    const double flops = vb_shape_flops(&s, ss.full.data.kv_len);
    const int big = !o.full && !ss.red_same && flops > PROBE_MIN_FLOPS;

    vb_progress_end();
    printf("\n");
    vb_report_shape(stdout, s.name, &s, flops, copies);
    vb_report_row_header(stdout);
    fflush(stdout);

    for (int ii = 0; ii < in.nisas && !vb_stop_requested(); ii++)
      for (int ti = 0; ti < o.nthreads && !vb_stop_requested(); ti++) {
        vb_result *r = &res[n];
        init_result(r, &s, in.isas[ii], o.threads[ti]);
        vb_progress(++step, "%s %s %s t=%d ...", s.name, types, vecattn_isa_name(r->isa), r->threads);
        vecattn_status st = vecattn_set_isa(r->isa);
        int rc = CASE_FAILED, checked = 0;
        variant *v = &ss.full;
        if (st != VECATTN_OK) {
          fail_call(r, st, "vecattn_set_isa");
        } else if (big) {
          /* Probe on the reduced copy (the first call is also the check): a
           * path whose full call would be slow is timed there instead. Best
           * of up to 3 calls, since one call on a busy machine can be far
           * off; a clearly slow path needs only one. */
          double tp = 0;
          if (reduced_check(&ss, r, &tp) == 0) {
            checked = 1;
            const double red_flops = vb_shape_flops(&ss.red.data.shape, ss.red.data.kv_len);
            const double scale = flops / red_flops;
            const double slow = r->isa == in.default_isa ? SLOW_CALL_DEFAULT_S : SLOW_CALL_S;
            for (int k = 0; k < 2 && scale * tp > slow && scale * tp < 4 * slow; k++) {
              double t0 = vb_now();
              if (vb_data_run(&ss.red.data, 1 % ss.red.data.copies, r->threads) != VECATTN_OK) break;
              tp = fmin(tp, vb_now() - t0);
            }
            /* A path that ran the full shape at fewer threads does at more too. */
            int full_before = 0;
            for (int j = 0; j < n; j++)
              full_before |= res[j].isa == r->isa && same_case(&res[j].shape, &s, s.dtype, s.kv_dtype) &&
                             res[j].reps > 0 && !res[j].reduced && res[j].threads < r->threads;
            if (scale * tp > slow && !full_before) {
              v = &ss.red;
              r->reduced = 1;
              if (!ss.red_shown) {
                vb_progress_end();
                vb_report_shape(stdout, "  reduced copy", &ss.red.data.shape, red_flops, ss.red.data.copies);
                fflush(stdout);
                ss.red_shown = 1;
              }
            }
          }
          if (checked) rc = CASE_OK;
        } else {
          rc = CASE_OK;
        }
        if (rc == CASE_OK) rc = vb_stop_requested() ? CASE_STOPPED : run_case(&ss, v, r, &o, in.mem, step, checked);
        const vb_result *f32 = find_typed(res, n, r, r->isa, VECATTN_F32, VECATTN_F32);
        if (rc == CASE_OK && !all_f32 && kept_f32.have && !r->reduced && f32 && !f32->reduced) {
          vb_progress(step, "%s %s %s t=%d: alternating with f32/f32 ...", s.name, types, vecattn_isa_name(r->isa),
                      r->threads);
          rc = pair_with_f32(&kept_f32, &v->data, r, &o);
          if (rc == CASE_FAILED) fail_call(r, VECATTN_ENOMEM, "timing beside f32/f32");
        }
        if (rc == CASE_STOPPED) break; /* the unfinished case is left out */
        if (rc == CASE_FAILED) in.ok = 0;
        derive(r, res, n, &lim);
        n++;
        /* Files first: once a row is on screen, the JSON and CSV hold it. */
        if (save_outputs(&o, &in, &lim, res, n)) in.ok = 0;
        vb_progress_end();
        vb_report_row(stdout, r);
        fflush(stdout);
      }
    int typed_follow = 0; /* later blocks of this shape in other types */
    for (int bj = bi + 1; bj < nblocks; bj++) typed_follow |= !strcmp(blocks[bj].name, s.name);
    if (all_f32 && typed_follow && !kept_f32.have) {
      kept_f32 = ss.full;
      memset(&ss.full, 0, sizeof ss.full);
    }
    variant_free(&ss.full);
    variant_free(&ss.red);
  }
  variant_free(&kept_f32);
  vb_progress_end();
  vecattn_set_isa(VECATTN_ISA_AUTO);

  if (o.serve && !vb_stop_requested()) {
    /* The best path chosen (enum order), at the largest thread count. */
    int threads = o.threads[0];
    for (int t = 1; t < o.nthreads; t++) threads = o.threads[t] > threads ? o.threads[t] : threads;
    for (int dt = 0; dt < in.ndtypes; dt++)
      for (int kt = 0; kt < in.nkv_dtypes && !vb_stop_requested(); kt++) {
        vb_serve *r = &serve[in.nserve];
        vb_serve_defaults(r, o.quick, (int)o.serve_block, in.dtypes[dt], in.kv_dtypes[kt]);
        r->reduced_precision = o.reduced_precision;
        vb_progress(step, "serve %s/%s: preparing the cache and its baselines ...", vecattn_dtype_name(r->dtype),
                    vecattn_dtype_name(r->kv_dtype));
        if (vb_serve_run(r, o.quick, in.isas[in.nisas - 1], threads, o.min_time, o.min_reps, in.mem)) in.ok = 0;
        vb_progress_end();
        vb_serve_print(stdout, serve, in.nserve++);
        fflush(stdout);
        if (save_outputs(&o, &in, &lim, res, n)) in.ok = 0;
      }
  }

  in.interrupted = vb_stop_requested();
  in.load_end = vb_loadavg();
  vb_report_summary(stdout, &in, res, n);
  fflush(stdout);
  if (save_outputs(&o, &in, &lim, res, n)) in.ok = 0;
  free(res);
  if (in.interrupted) return 128 + in.interrupted;
  if (!in.ok) fprintf(stderr, "vecattn-bench: FAILED (see errors above)\n");
  return in.ok ? 0 : 1;
}
