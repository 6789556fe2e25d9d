/* Output of vecattn-bench: aligned text on stdout (a row per case, printed as
 * it finishes), JSON and CSV files rewritten whole after every case. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

#define MIB 1048576.0

static const char *check_name(const vb_result *r) {
  switch (r->check) {
    case VB_CHECK_OK: return r->check_reduced ? "ok*" : "ok";
    case VB_CHECK_REF: return "ref";
    case VB_CHECK_FAIL: return "MISMATCH";
    case VB_CHECK_ERROR: return "ERROR";
    default: return "-";
  }
}

static const char *unit(const vb_shape *s) { return s->metric == VB_METRIC_BYTES ? "GB/s" : "GFLOP/s"; }

static void fmt_time(char *buf, size_t len, double s) {
  if (!isfinite(s)) snprintf(buf, len, "-");
  else if (s < 1e-3) snprintf(buf, len, "%.1f us", s * 1e6);
  else if (s < 1.0) snprintf(buf, len, "%.2f ms", s * 1e3);
  else snprintf(buf, len, "%.3f s", s);
}

static void fmt_mib(char *buf, size_t len, double bytes) {
  if (!isfinite(bytes)) snprintf(buf, len, "-");
  else if (bytes < MIB) snprintf(buf, len, "%.0f KiB", bytes / 1024.0);
  else snprintf(buf, len, "%.1f MiB", bytes / MIB);
}

void vb_report_header(FILE *f, const vb_info *in, const vb_limits *l) {
  fprintf(f, "vecattn-bench (vecattn %s)%s\n", in->version,
          in->quick  ? "  [--quick: shrunk shapes, short runs]"
          : in->full ? "  [--full: every path on the full shapes]"
                     : "");
  if (in->label) fprintf(f, "  label        : %s\n", in->label);
  fprintf(f, "  machine      : %s (%s, %d CPUs online), host %s\n", in->machine.cpu_model, in->machine.arch,
          in->machine.cpus_online, in->machine.hostname);
  fprintf(f, "  cpu features : %s\n", in->features);
  fprintf(f, "  threads      : %d (omp_get_max_threads); measured at", in->max_threads);
  for (int t = 0; t < l->count; t++) fprintf(f, " %d", l->threads[t]);
  fprintf(f, "\n  default ISA  : %s\n  ISA paths    :", vecattn_isa_name(in->default_isa));
  for (int i = 0; i < in->nisas; i++) fprintf(f, " %s", vecattn_isa_name(in->isas[i]));
  fprintf(f, "\n  types        : Q/O");
  for (int i = 0; i < in->ndtypes; i++) fprintf(f, " %s", vecattn_dtype_name(in->dtypes[i]));
  fprintf(f, "; K/V");
  for (int i = 0; i < in->nkv_dtypes; i++) fprintf(f, " %s", vecattn_dtype_name(in->kv_dtypes[i]));
  fprintf(f, "%s", in->reduced_precision ? "; reduced-precision products allowed (--reduced-precision)" : "");
  fprintf(f, "\n  LLC          : %.1f MiB (%s); inputs rotate through >= %dx LLC when smaller\n", (double)l->llc / MIB,
          l->llc_source, VB_LLC_MULTIPLE);
  fprintf(f, "  timing       : warm-up (checked against scalar), then >= %d runs and ~%.2f s per case\n", in->min_reps,
          in->min_time);
  if (!in->full)
    fprintf(f,
            "  slow paths   : on big shapes, a path slower than %.1f s per call (%.1f s for the default\n"
            "                 path) is timed on a reduced copy (Nq, Nk <= %lld), marked 'reduced';\n"
            "                 a path that ran full at fewer threads stays full at more;\n"
            "                 --full times every path on the full shapes (much longer)\n",
            in->slow_call, in->slow_call_default, (long long)in->check_cap);
  if (in->busy)
    fprintf(f, "  busy         : %d spinning thread%s during each case's warm-up and timed runs (--busy)\n", in->busy,
            in->busy == 1 ? "" : "s");
  if (in->load_start >= 0)
    fprintf(f, "  load average : %.2f at start%s\n", in->load_start,
            in->load_start > VB_LOAD_BUSY ? " -- other processes are busy, timings will be distorted" : "");
  fprintf(f, "  memory       : %s\n\n",
          in->mem == VB_MEM_HWM      ? "VmHWM, reset per case via /proc/self/clear_refs"
          : in->mem == VB_MEM_MAXRSS ? "VmHWM/ru_maxrss, cannot be reset here: shown only for cases that raised it"
                                     : "unavailable");
}

void vb_report_limits(FILE *f, const vb_info *in, const vb_limits *l) {
  fprintf(f, "Physical limits (measured in this run)\n  %-28s", "");
  for (int t = 0; t < l->count; t++) fprintf(f, "  %8s%-3d", "t=", l->threads[t]);
  fputc('\n', f);
  for (int i = 0; i < in->nisas; i++) {
    fprintf(f, "  FMA peak %-10s GFLOP/s  ", vecattn_isa_name(in->isas[i]));
    for (int t = 0; t < l->count; t++) fprintf(f, "  %11.1f", l->peak[in->isas[i]][t]);
    fputc('\n', f);
  }
  fprintf(f, "  read bandwidth      GB/s     ");
  for (int t = 0; t < l->count; t++) fprintf(f, "  %11.1f", l->bw[t]);
  fprintf(f, "\n  (peak: best of 5 windows of 12 independent FMA chains per thread, summed over threads;\n"
             "   sse2/scalar: 7+7 independent mul and add chains instead; avx512bf16, neonbf16, svebf16:\n"
             "   bf16 dot-product chains (VDPBF16PS / BFDOT), 4 flops per 32-bit lane;\n"
             "   bandwidth: best of several read passes over %.0f MiB, alternately one stream per thread\n"
             "   and 4 prefetched streams%s)\n\n",
          (double)l->bw_bytes / MIB, in->quick ? ", smaller than 4x LLC in --quick, so partly cache" : "");
}

void vb_report_shape(FILE *f, const char *label, const vb_shape *s, double flops, int copies) {
  char desc[192];
  vb_shape_describe(s, desc, sizeof desc);
  fprintf(f, "%-14s %s\n%-14s %.4g GFLOP/call, K+V %.1f MiB, Q+K+V+O %.1f MiB x %d rotating cop%s\n", label, desc, "",
          flops * 1e-9, vb_shape_bytes(s) / MIB, (double)vb_shape_tensor_bytes(s) / MIB, copies,
          copies == 1 ? "y" : "ies");
}

#define ROW_FMT "%-14s %-9s %-6s %3s %-7s %6s %10s  %-22s %16s %7s %10s %-13s %7s %10s %10s %-8s %8s\n"

void vb_report_row_header(FILE *f) {
  fprintf(f, ROW_FMT, "shape", "types", "isa", "thr", "size", "reps", "median", "min .. max", "result", "%limit",
          "vs scalar", "vs lower", "vs f32", "peak RSS", "workspace", "check", "rel err");
  fprintf(f, ROW_FMT, "-------------", "---------", "------", "---", "-------", "------", "----------",
          "----------------------", "----------------", "-------", "----------", "-------------", "-------",
          "----------", "----------", "--------", "--------");
}

void vb_report_row(FILE *f, const vb_result *x) {
  char types[24], thr[16], reps[16], med[32], lo[32], hi[32], range[80], result[32], pct[16], xs[24], xl[40], xf[24],
      rss[32], ws[32], err[16];
  vb_shape_types(&x->shape, types, sizeof types);
  snprintf(thr, sizeof thr, "%d", x->threads);
  snprintf(reps, sizeof reps, "%d", x->reps);
  fmt_time(med, sizeof med, x->t_med);
  fmt_time(lo, sizeof lo, x->t_min);
  fmt_time(hi, sizeof hi, x->t_max);
  if (x->reps > 0) snprintf(range, sizeof range, "%s .. %s", lo, hi);
  else snprintf(range, sizeof range, "-");
  if (x->reps > 0) snprintf(result, sizeof result, "%.2f %s", x->value, unit(&x->shape));
  else snprintf(result, sizeof result, "-");
  if (isfinite(x->pct)) snprintf(pct, sizeof pct, "%.1f%%", x->pct);
  else snprintf(pct, sizeof pct, "-");
  /* "~": the two rows timed different sizes (one reduced): a ratio of rates */
  if (isfinite(x->x_scalar)) snprintf(xs, sizeof xs, "%.2fx%s", x->x_scalar, x->x_scalar_mixed ? "~" : "");
  else snprintf(xs, sizeof xs, "-");
  if (isfinite(x->x_lower))
    snprintf(xl, sizeof xl, "%.2fx%s %s", x->x_lower, x->x_lower_mixed ? "~" : "", vecattn_isa_name(x->lower_isa));
  else snprintf(xl, sizeof xl, "-");
  if (isfinite(x->x_f32_paired)) snprintf(xf, sizeof xf, "%.2fx", x->x_f32_paired);
  else if (isfinite(x->x_f32)) snprintf(xf, sizeof xf, "%.2fx%s", x->x_f32, x->x_f32_mixed ? "~" : "");
  else snprintf(xf, sizeof xf, "-");
  fmt_mib(rss, sizeof rss, x->peak_rss);
  fmt_mib(ws, sizeof ws, x->workspace);
  if (isfinite(x->check_err)) snprintf(err, sizeof err, "%.1e", x->check_err);
  else snprintf(err, sizeof err, "-");
  fprintf(f, ROW_FMT, x->shape.name, types, vecattn_isa_name(x->isa), thr, x->reduced ? "reduced" : "full", reps, med,
          range, result, pct, xs, xl, xf, rss, ws, check_name(x), err);
}

/* --busy: how much a thread count gains or loses against 1 thread beside the
 * spinning threads. Above 1.0 the extra threads made the call slower. */
static void print_busy_ratios(FILE *f, const vb_info *in, const vb_result *r, int n) {
  fprintf(f, "\nwith %d busy thread%s, median time at t threads / median time at 1 thread (same run):\n", in->busy,
          in->busy == 1 ? "" : "s");
  int any = 0;
  for (int i = 0; i < n; i++) {
    if (r[i].reps <= 0 || r[i].threads == 1) continue;
    for (int j = 0; j < n; j++) {
      const vb_result *one = &r[j];
      if (one->reps <= 0 || one->threads != 1 || one->isa != r[i].isa || one->reduced != r[i].reduced ||
          strcmp(one->shape.name, r[i].shape.name) || one->shape.dtype != r[i].shape.dtype ||
          one->shape.kv_dtype != r[i].shape.kv_dtype)
        continue;
      char types[24];
      vb_shape_types(&r[i].shape, types, sizeof types);
      fprintf(f, "  busy ratio %-14s %-9s %-7s t=%-3d %.2f\n", r[i].shape.name, types, vecattn_isa_name(r[i].isa),
              r[i].threads, r[i].t_med / one->t_med);
      any = 1;
    }
  }
  if (!any) fprintf(f, "  (none: no thread count measured beside t=1)\n");
}

void vb_report_summary(FILE *f, const vb_info *in, const vb_result *r, int n) {
  fprintf(f, "\nNotes\n"
             "  result : GFLOP/s = 2*(D+Dv) flops per unmasked (query,key) pair per head, pairs counted\n"
             "           exactly (causal, window, kv_len); GB/s (decode) = K and V bytes per call,\n"
             "           B*Hkv*Nk*(D+Dv) elements of the K/V type (4 bytes f32, 2 f16/bf16, 34/32 q8_0).\n"
             "           Median over the timed runs.\n"
             "  types  : Q/O element type / K/V element type; inputs are f32 random numbers converted\n"
             "           to the type with vecattn_convert, the same for every path.\n"
             "  size   : full = the shape above; reduced = its reduced copy (same B/H/D/masks, Nq and Nk\n"
             "           capped at %lld), where a slow path on a big shape is timed by default (--full: never).\n"
             "  %%limit : GFLOP/s against the same ISA's FMA peak at the same thread count (neondot: neon's;\n"
             "           avx512bf16, neonbf16, svebf16: the peak of their bf16 dot products, VDPBF16PS /\n"
             "           BFDOT, two multiply-adds per 32-bit lane an instruction); GB/s against\n"
             "           read passes over the case's own K and V copies with the same threads (alternately\n"
             "           one stream and 4 prefetched streams per thread, one copy each),\n"
             "           taken right after its timed runs (best of 3, 2 with --quick; JSON: read_gbps_case):\n"
             "           a shared machine's bandwidth drifts; the table above has the start-of-run figure.\n"
             "  vs     : speed-up (ratio of rates) over scalar and over the next lower ISA measured\n"
             "           (scalar < sse2 < avx2 < avx512; scalar < neon < sve; scalar < neon32), same shape\n"
             "           and threads; with the same size that is the median time ratio; '~' marks a pair\n"
             "           where one row is reduced and the other full. vs f32: over the all-f32 case (f32/f32)\n"
             "           of the same shape, ISA and threads, timed side by side: after its own timed runs\n"
             "           a typed case's calls alternate with f32/f32's (without --reduced-precision:\n"
             "           plain f32 products), and this is the ratio of the two\n"
             "           median times (JSON: speedup_vs_f32_paired, paired_rounds), which a shared\n"
             "           machine's drift in bandwidth or load touches alike; where a row is reduced, the\n"
             "           ratio of the separate runs' GFLOP/s (JSON: speedup_vs_f32).\n"
             "  check  : relative L2 error of the warm-up output against the scalar path on the same\n"
             "           typed inputs, limit %.0e for f32 output (f16 2e-3, bf16 1.6e-2: the output\n"
             "           type's rounding; +1e-2 with --reduced-precision);\n"
             "           ok* = checked on the reduced copy of the shape because the full scalar\n"
             "           reference would be slow; ref = the scalar run whose output is the reference.\n"
             "  memory : peak RSS during the case; workspace = that peak minus the resident set just\n"
             "           before its first call (Q, K, V, O and all rotating copies already resident),\n"
             "           i.e. what the library itself allocated.\n",
          (long long)in->check_cap, VB_CHECK_TOL);

  /* The long shape's workspace has a target; say how it fares. */
  double worst = -1;
  for (int i = 0; i < n; i++)
    if (!strcmp(r[i].shape.name, "long") && !r[i].reduced && isfinite(r[i].workspace) && r[i].workspace > worst)
      worst = r[i].workspace;
  if (worst >= 0)
    fprintf(f, "\nlong: largest workspace %.2f MiB (target < 32 MiB): %s\n", worst / MIB,
            worst < 32 * MIB ? "met" : "NOT MET");
  if (in->busy) print_busy_ratios(f, in, r, n);
  if (in->load_end >= 0)
    fprintf(f, "\nload average: %.2f at start, %.2f at end (the bench itself adds up to %d)%s\n", in->load_start,
            in->load_end, in->max_threads,
            in->load_start > VB_LOAD_BUSY ? " -- taken under load: compare with care" : "");
  if (in->interrupted)
    fprintf(f, "\nINTERRUPTED (%s): %d of %d cases measured; the rows above, the JSON and the CSV hold them.\n",
            in->interrupted == 2 ? "SIGINT" : in->interrupted == 15 ? "SIGTERM" : "signal", n, in->planned);
  fprintf(f, "\n%s\n", in->ok ? "All checked paths agree with scalar." : "FAILURES: see MISMATCH/ERROR rows.");
}

/* ---- one record's fields, shared by JSON and CSV ---- */

typedef enum { F_STR, F_INT, F_NUM, F_BOOL } fkind;
typedef struct {
  const char *key;
  fkind kind;
  const char *s; /* F_STR; NULL writes null */
  long long i;   /* F_INT, F_BOOL */
  double d;      /* F_NUM; non-finite writes null */
  int null;      /* F_INT: unknown */
} field;

#define MAX_FIELDS 64

/* Every column of a result, in order: the only place a record's contents
 * are listed (a new per-case property is one line here). */
static int record_fields(const vb_result *x, field *f) {
  const vb_shape *s = &x->shape, *t = &x->timed;
  int n = 0;
#define S(k, v) f[n++] = (field){k, F_STR, (v), 0, 0, 0}
#define I(k, v) f[n++] = (field){k, F_INT, NULL, (long long)(v), 0, 0}
#define IN(k, v, known) f[n++] = (field){k, F_INT, NULL, (long long)(v), 0, !(known)}
#define B(k, v) f[n++] = (field){k, F_BOOL, NULL, (v) ? 1 : 0, 0, 0}
#define D(k, v) f[n++] = (field){k, F_NUM, NULL, 0, (v), 0}
  S("shape", s->name);
  S("isa", vecattn_isa_name(x->isa));
  I("threads", x->threads);
  S("dtype", vecattn_dtype_name(s->dtype));
  S("kv_dtype", vecattn_dtype_name(s->kv_dtype));
  B("reduced_precision", s->reduced_precision);
  I("B", s->b);
  I("Hq", s->hq);
  I("Hkv", s->hkv);
  I("Nq", s->nq);
  I("Nk", s->nk);
  I("D", s->d);
  I("Dv", s->dv);
  IN("Da", s->da, s->da > 0);
  B("causal", s->causal);
  I("window", s->window);
  IN("kv_len_min", x->kv_len_min, s->padded);
  IN("kv_len_max", x->kv_len_max, s->padded);
  B("reduced", x->reduced);
  I("timed_Nq", t->nq);
  I("timed_Nk", t->nk);
  S("metric", s->metric == VB_METRIC_BYTES ? "gbps" : "gflops");
  S("unit", unit(s));
  I("reps", x->reps);
  I("copies", x->copies);
  D("flops", x->flops);
  D("bytes", x->bytes);
  D("time_median_s", x->t_med);
  D("time_min_s", x->t_min);
  D("time_max_s", x->t_max);
  D("gflops", x->gflops);
  D("gbps", x->gbps);
  D("value", x->value);
  D("pct_of_limit", x->pct);
  D("read_gbps_case", x->bw_case);
  D("speedup_vs_scalar", x->x_scalar);
  B("speedup_vs_scalar_mixed_sizes", x->x_scalar_mixed);
  D("speedup_vs_lower", x->x_lower);
  B("speedup_vs_lower_mixed_sizes", x->x_lower_mixed);
  S("lower_isa", isfinite(x->x_lower) ? vecattn_isa_name(x->lower_isa) : NULL);
  D("speedup_vs_f32", x->x_f32);
  B("speedup_vs_f32_mixed_sizes", x->x_f32_mixed);
  D("speedup_vs_f32_paired", x->x_f32_paired);
  I("paired_rounds", x->paired_rounds);
  D("peak_rss_bytes", x->peak_rss);
  D("workspace_bytes", x->workspace);
  S("check", check_name(x));
  D("check_rel_err", x->check_err);
  D("check_tol", x->check_tol);
  B("check_reduced", x->check_reduced);
  I("status", x->status);
#undef S
#undef I
#undef IN
#undef B
#undef D
  return n;
}

/* ---- JSON ---- */

static void jstr(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
    else if (c < 0x20) fprintf(f, "\\u%04x", c);
    else fputc(c, f);
  }
  fputc('"', f);
}

/* JSON has no NaN: unknown figures are null. */
static void jnum(FILE *f, double v) {
  if (isfinite(v)) fprintf(f, "%.9g", v);
  else fputs("null", f);
}

static void jkey(FILE *f, const char *k, int first) {
  fputs(first ? "" : ", ", f);
  jstr(f, k);
  fputs(": ", f);
}

static void jfield(FILE *f, const field *x) {
  switch (x->kind) {
    case F_STR:
      if (x->s) jstr(f, x->s);
      else fputs("null", f);
      break;
    case F_INT:
      if (x->null) fputs("null", f);
      else fprintf(f, "%lld", x->i);
      break;
    case F_BOOL: fputs(x->i ? "true" : "false", f); break;
    case F_NUM: jnum(f, x->d); break;
  }
}

/* Writes through a temporary file in the same directory, then renames it
 * over path. Returns -1 with errno set on failure, the temporary removed. */
static int write_atomic(const char *path, void (*body)(FILE *, const void *), const void *ctx) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
    errno = ENAMETOOLONG;
    return -1;
  }
  FILE *f = fopen(tmp, "w");
  if (!f) return -1;
  body(f, ctx);
  int err = ferror(f) ? (errno ? errno : EIO) : 0;
  if (fclose(f) != 0 && !err) err = errno ? errno : EIO;
  if (!err && rename(tmp, path) != 0) err = errno;
  if (err) {
    remove(tmp);
    errno = err;
    return -1;
  }
  return 0;
}

typedef struct {
  const vb_info *in;
  const vb_limits *l;
  const vb_result *r;
  int n;
} doc;

/* One run of the serve case: its types and figures (seconds, bytes, GB/s
 * against the pools' read bandwidth), vs f32 against ref (or null). */
static void json_serve(FILE *f, const vb_serve *r, const vb_serve *ref) {
  fputs("\n    {", f);
  jkey(f, "dtype", 1);
  jstr(f, vecattn_dtype_name(r->dtype));
  jkey(f, "kv_dtype", 0);
  jstr(f, vecattn_dtype_name(r->kv_dtype));
  jkey(f, "isa", 0);
  jstr(f, vecattn_isa_name(r->isa));
  fprintf(f, ", \"threads\": %d, \"reduced_precision\": %s, \"status\": ", r->threads,
          r->reduced_precision ? "true" : "false");
  jstr(f, vecattn_strerror(r->status));
  jkey(f, "check", 0);
  jstr(f, r->status != VECATTN_OK ? "-" : r->check_ok ? "ok" : "MISMATCH");
  fprintf(f, ", \"n_decode\": %d, \"n_prefill\": %d, \"chunk\": %lld, \"ctx_lo\": %lld, \"ctx_hi\": %lld,\n      "
             "\"hq\": %lld, \"hkv\": %lld, \"d\": %lld, \"block_size\": %lld, \"causal\": true, "
             "\"total_ctx\": %lld,\n      \"decode_ctx\": [",
          r->n_decode, r->n_prefill, (long long)r->chunk, (long long)r->ctx_lo, (long long)r->ctx_hi, (long long)r->hq,
          (long long)r->hkv, (long long)r->d, (long long)r->block_size, (long long)r->total_ctx);
  for (int i = 0; i < r->n_decode; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)r->decode_ctx[i]);
  fputs("], \"prefill_prefix\": [", f);
  for (int i = 0; i < r->n_prefill; i++) fprintf(f, "%s%lld", i ? ", " : "", (long long)r->prefix[i]);
  fputs("],\n      ", f);
  const struct {
    const char *key;
    double v;
  } nums[] = {
      {"tokens", r->tokens},
      {"bytes", r->bytes},
      {"flops", r->flops},
      {"bytes_decode", r->bytes_decode},
      {"paged_s", r->t_paged},
      {"per_seq_s", r->t_per_seq},
      {"padded_s", r->t_padded},
      {"paged_decode_s", r->t_paged_decode},
      {"per_seq_decode_s", r->t_per_seq_decode},
      {"paged_tokens_per_s", r->tokens / r->t_paged},
      {"per_seq_tokens_per_s", r->tokens / r->t_per_seq},
      {"padded_tokens_per_s", r->tokens / r->t_padded},
      {"paged_gbps", r->bytes / r->t_paged * 1e-9},
      {"paged_gflops", r->flops / r->t_paged * 1e-9},
      {"paged_decode_gbps", r->bytes_decode / r->t_paged_decode * 1e-9},
      {"read_gbps", r->read_gbps},
      {"pct_read_bw", 100 * r->bytes / r->t_paged * 1e-9 / r->read_gbps},
      {"pct_read_bw_decode", 100 * r->bytes_decode / r->t_paged_decode * 1e-9 / r->read_gbps},
      {"speedup_vs_per_seq", r->t_per_seq / r->t_paged},
      {"speedup_vs_padded", r->t_padded / r->t_paged},
      {"speedup_decode_vs_per_seq", r->t_per_seq_decode / r->t_paged_decode},
      {"workspace_bytes", r->workspace},
      {"padded_bytes", r->padded_bytes},
      {"err_vs_per_seq", r->err_per_seq},
      {"err_vs_padded", r->err_padded},
      {"check_tol", r->check_tol},
      {"speedup_vs_f32", ref ? ref->t_paged / r->t_paged : NAN},
      {"speedup_decode_vs_f32", ref ? ref->t_paged_decode / r->t_paged_decode : NAN},
  };
  for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++) {
    fputs(i ? (i % 5 ? ", " : ",\n      ") : "", f);
    jkey(f, nums[i].key, 1);
    jnum(f, nums[i].v);
  }
  fprintf(f, ",\n      \"reps\": {\"paged\": %d, \"per_seq\": %d, \"padded\": %d, \"paged_decode\": %d, "
             "\"per_seq_decode\": %d}}",
          r->reps_paged, r->reps_per_seq, r->reps_padded, r->reps_paged_decode, r->reps_per_seq_decode);
}

static void json_body(FILE *f, const void *p) {
  const doc *d = p;
  const vb_info *in = d->in;
  const vb_limits *l = d->l;
  fputs("{\n  ", f);
  jkey(f, "tool", 1);
  jstr(f, "vecattn-bench");
  jkey(f, "vecattn_version", 0);
  jstr(f, in->version);
  jkey(f, "label", 0);
  if (in->label) jstr(f, in->label);
  else fputs("null", f);
  fputs(",\n  \"machine\": {", f);
  jkey(f, "hostname", 1);
  jstr(f, in->machine.hostname);
  jkey(f, "cpu_model", 0);
  jstr(f, in->machine.cpu_model);
  jkey(f, "arch", 0);
  jstr(f, in->machine.arch);
  fprintf(f, ", \"cpus_online\": %d},\n  ", in->machine.cpus_online);
  jkey(f, "cpu_features", 1);
  jstr(f, in->features);
  fprintf(f, ",\n  \"max_threads\": %d, \"default_isa\": ", in->max_threads);
  jstr(f, vecattn_isa_name(in->default_isa));
  fprintf(f, ", \"quick\": %s, \"full\": %s, \"ok\": %s,\n", in->quick ? "true" : "false",
          in->full ? "true" : "false", in->ok ? "true" : "false");
  fprintf(f, "  \"interrupted\": %s, \"signal\": ", in->interrupted ? "true" : "false");
  if (in->interrupted) jstr(f, in->interrupted == 2 ? "SIGINT" : in->interrupted == 15 ? "SIGTERM" : "other");
  else fputs("null", f);
  fprintf(f, ", \"cases_planned\": %d, \"cases_done\": %d,\n  \"slow_call_s\": ", in->planned, d->n);
  jnum(f, in->full ? NAN : in->slow_call);
  fputs(", \"slow_call_default_isa_s\": ", f);
  jnum(f, in->full ? NAN : in->slow_call_default);
  fputs(",\n  \"isas\": [", f);
  for (int i = 0; i < in->nisas; i++) {
    fputs(i ? ", " : "", f);
    jstr(f, vecattn_isa_name(in->isas[i]));
  }
  fputs("], \"threads\": [", f);
  for (int t = 0; t < l->count; t++) fprintf(f, "%s%d", t ? ", " : "", l->threads[t]);
  fputs("],\n  \"dtypes\": [", f);
  for (int i = 0; i < in->ndtypes; i++) {
    fputs(i ? ", " : "", f);
    jstr(f, vecattn_dtype_name(in->dtypes[i]));
  }
  fputs("], \"kv_dtypes\": [", f);
  for (int i = 0; i < in->nkv_dtypes; i++) {
    fputs(i ? ", " : "", f);
    jstr(f, vecattn_dtype_name(in->kv_dtypes[i]));
  }
  fprintf(f, "], \"reduced_precision\": %s", in->reduced_precision ? "true" : "false");
  fprintf(f, ",\n  \"llc_bytes\": %zu, \"llc_source\": ", l->llc);
  jstr(f, l->llc_source ? l->llc_source : "unknown");
  fputs(", \"load_avg_start\": ", f);
  jnum(f, in->load_start);
  fputs(", \"load_avg_end\": ", f);
  jnum(f, in->load_end);
  fprintf(f, ", \"load_busy_threshold\": %g, \"busy_threads\": %d", VB_LOAD_BUSY, in->busy);
  fprintf(f, ",\n  \"check_tolerance\": %g, \"check_reduced_cap\": %lld, \"memory_method\": ", VB_CHECK_TOL,
          (long long)in->check_cap);
  jstr(f, in->mem == VB_MEM_HWM ? "vmhwm" : in->mem == VB_MEM_MAXRSS ? "maxrss" : "none");
  fputs(",\n  \"limits\": {\n    \"fma_peak_gflops\": [", f);
  int first = 1;
  for (int i = 0; i < in->nisas; i++)
    for (int t = 0; t < l->count; t++) {
      fprintf(f, "%s\n      {\"isa\": ", first ? "" : ",");
      jstr(f, vecattn_isa_name(in->isas[i]));
      fprintf(f, ", \"threads\": %d, \"gflops\": ", l->threads[t]);
      jnum(f, l->peak[in->isas[i]][t]);
      fputc('}', f);
      first = 0;
    }
  fputs("],\n    \"read_bandwidth_gbps\": [", f);
  for (int t = 0; t < l->count; t++) {
    fprintf(f, "%s\n      {\"threads\": %d, \"gbps\": ", t ? "," : "", l->threads[t]);
    jnum(f, l->bw[t]);
    fprintf(f, ", \"buffer_bytes\": %zu}", l->bw_bytes);
  }
  fputs("]\n  },\n  \"results\": [", f);
  field fl[MAX_FIELDS];
  for (int i = 0; i < d->n; i++) {
    int nf = record_fields(&d->r[i], fl);
    fprintf(f, "%s\n    {", i ? "," : "");
    for (int k = 0; k < nf; k++) {
      jkey(f, fl[k].key, k == 0);
      jfield(f, &fl[k]);
    }
    fputc('}', f);
  }
  fputs("\n  ]", f);
  if (in->nserve) {
    fputs(",\n  \"serve\": [", f);
    for (int i = 0; i < in->nserve; i++) {
      json_serve(f, &in->serve[i], vb_serve_f32_run(in->serve, i));
      fputs(i + 1 < in->nserve ? "," : "\n  ]", f);
    }
  }
  fputs("\n}\n", f);
}

int vb_report_json(const char *path, const vb_info *in, const vb_limits *l, const vb_result *r, int n) {
  const doc d = {in, l, r, n};
  return write_atomic(path, json_body, &d);
}

/* ---- CSV ---- */

static void cstr(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') fputc('"', f);
    fputc(*s, f);
  }
  fputc('"', f);
}

static void cfield(FILE *f, const field *x) {
  switch (x->kind) {
    case F_STR:
      if (x->s) cstr(f, x->s);
      break;
    case F_INT:
      if (!x->null) fprintf(f, "%lld", x->i);
      break;
    case F_BOOL: fputs(x->i ? "1" : "0", f); break;
    case F_NUM:
      if (isfinite(x->d)) fprintf(f, "%.9g", x->d);
      break;
  }
}

static void csv_body(FILE *f, const void *p) {
  const doc *d = p;
  field fl[MAX_FIELDS];
  vb_result blank;
  memset(&blank, 0, sizeof blank);
  int nf = record_fields(&blank, fl); /* the header: same keys for every record */
  for (int k = 0; k < nf; k++) {
    fputs(k ? "," : "", f);
    cstr(f, fl[k].key);
  }
  fputc('\n', f);
  for (int i = 0; i < d->n; i++) {
    nf = record_fields(&d->r[i], fl);
    for (int k = 0; k < nf; k++) {
      fputs(k ? "," : "", f);
      cfield(f, &fl[k]);
    }
    fputc('\n', f);
  }
}

int vb_report_csv(const char *path, const vb_result *r, int n) {
  const doc d = {NULL, NULL, r, n};
  return write_atomic(path, csv_body, &d);
}

/* ---- the serve case ---- */

/* One method's row; ref_t: the same method's time in the f32/f32 run, or NAN
 * for no "vs f32" column. */
static void serve_row(FILE *f, const char *name, double t, const vb_serve *r, double bytes, double flops,
                      double tokens, int reps, const vb_serve *ref, double ref_t) {
  char tb[16], xf[16] = "";
  fmt_time(tb, sizeof tb, t);
  if (ref && isfinite(ref_t / t)) snprintf(xf, sizeof xf, " %7.2fx", ref_t / t);
  else if (ref) snprintf(xf, sizeof xf, " %8s", "-");
  fprintf(f, "  %-26s %9s %10.0f %8.1f %8.1f %8.2f%s  %d\n", name, tb, tokens / t, bytes / t * 1e-9,
          flops / t * 1e-9, t / r->t_paged, xf, reps);
}

void vb_serve_print(FILE *f, const vb_serve *runs, int i) {
  const vb_serve *r = &runs[i], *ref = vb_serve_f32_run(runs, i);
  fprintf(f, "\nserve: %d decodes (contexts drawn log-uniform in %lld..%lld, fixed seed) + %d prefill chunks of %lld\n"
             "       (prefixes", r->n_decode, (long long)r->ctx_lo, (long long)r->ctx_hi, r->n_prefill,
          (long long)r->chunk);
  for (int k = 0; k < r->n_prefill; k++) fprintf(f, " %lld", (long long)r->prefix[k]);
  fprintf(f, "), Hq %lld Hkv %lld D %lld, Q/O %s K/V %s, paged block size %lld, causal;\n"
             "       %lld positions in all; isa %s, %d threads%s\n", (long long)r->hq, (long long)r->hkv,
          (long long)r->d, vecattn_dtype_name(r->dtype), vecattn_dtype_name(r->kv_dtype), (long long)r->block_size,
          (long long)r->total_ctx, vecattn_isa_name(r->isa), r->threads,
          r->reduced_precision ? ", reduced-precision" : "");
  if (r->status != VECATTN_OK) {
    fprintf(f, "  ERROR: %s\n", vecattn_strerror(r->status));
    return;
  }
  fprintf(f, "  %-26s %9s %10s %8s %8s %8s%s  %s\n", "method", "time", "tokens/s", "GB/s", "GFLOP/s", "x paged",
          ref ? "   vs f32" : "", "reps");
  serve_row(f, "paged (one call)", r->t_paged, r, r->bytes, r->flops, r->tokens, r->reps_paged, ref,
            ref ? ref->t_paged : NAN);
  serve_row(f, "(a) one sdpa per sequence", r->t_per_seq, r, r->bytes, r->flops, r->tokens, r->reps_per_seq, ref,
            ref ? ref->t_per_seq : NAN);
  if (r->padded_skipped)
    fprintf(f, "  %-26s skipped: %.1f GiB would exceed a quarter of memory\n", "(b) padded, kv_len", r->padded_bytes / (1 << 30));
  else
    serve_row(f, "(b) padded, kv_len", r->t_padded, r, r->bytes, r->flops, r->tokens, r->reps_padded, ref,
              ref ? ref->t_padded : NAN);
  serve_row(f, "decodes alone, paged", r->t_paged_decode, r, r->bytes_decode, r->flops_decode, r->n_decode,
            r->reps_paged_decode, ref, ref ? ref->t_paged_decode : NAN);
  serve_row(f, "decodes alone, (a)", r->t_per_seq_decode, r, r->bytes_decode, r->flops_decode, r->n_decode,
            r->reps_per_seq_decode, ref, ref ? ref->t_per_seq_decode : NAN);
  const double xa = r->t_per_seq / r->t_paged, xb = r->t_padded / r->t_paged;
  const double bw_step = r->bytes / r->t_paged * 1e-9 / r->read_gbps, bw_dec = r->bytes_decode / r->t_paged_decode * 1e-9 / r->read_gbps;
  fprintf(f, "  read bandwidth of the pools right after: %.1f GB/s\n", r->read_gbps);
  fprintf(f, "  targets: paged vs (a) %.2fx (>= 1.3: %s); vs (b) %.2fx (>= 2: %s);\n"
             "           GB/s %.0f%% of the read bandwidth for the step, %.0f%% for the decodes alone (>= 80%%: %s)\n",
          xa, xa >= 1.3 ? "met" : "NOT MET", xb, isfinite(xb) ? (xb >= 2 ? "met" : "NOT MET") : "not measured",
          100 * bw_step, 100 * bw_dec, bw_step >= 0.8 ? "met" : bw_dec >= 0.8 ? "met by the decodes only" : "NOT MET");
  fprintf(f, "  workspace: %.2f MiB (peak resident set over one paged call, less the resident set before)\n",
          r->workspace / MIB);
  fprintf(f, "  check: paged against (a) rel L2 %.2e; against (b) %.2e (rows its mask gets right); limit %.0e: %s\n",
          r->err_per_seq, r->err_padded, r->check_tol, r->check_ok ? "ok" : "MISMATCH");
  fprintf(f, "  GB/s counts unique bytes of their types (each K/V position once, Q, out); tokens/s = new tokens\n"
             "  per step / time.%s\n"
             "  (b) pads queries to the longest chunk (real ones last) and keys to the longest context, with\n"
             "  kv_len per row: exact for decode rows; a shorter prefill row's causal mask is looser (same work).\n",
          ref ? " vs f32: the f32/f32 run's time for the same method / this time." : "");
}
