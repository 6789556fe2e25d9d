/* Output of vecattn-bench: aligned text on stdout, JSON and CSV files. */
#include <math.h>
#include <stdio.h>
#include <string.h>

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
  fprintf(f, "vecattn-bench (vecattn %s)%s\n", in->version, in->quick ? "  [--quick: shrunk shapes, short runs]" : "");
  fprintf(f, "  cpu features : %s\n", in->features);
  fprintf(f, "  threads      : %d (omp_get_max_threads); measured at", in->max_threads);
  for (int t = 0; t < l->count; t++) fprintf(f, " %d", l->threads[t]);
  fprintf(f, "\n  default ISA  : %s\n  ISA paths    :", vecattn_isa_name(in->default_isa));
  for (int i = 0; i < in->nisas; i++) fprintf(f, " %s", vecattn_isa_name(in->isas[i]));
  fprintf(f, "\n  LLC          : %.1f MiB (%s); inputs rotate through >= 2x LLC when smaller\n", (double)l->llc / MIB,
          l->llc_source);
  fprintf(f, "  timing       : warm-up (checked against scalar), then >= %d runs and ~%.2f s per case\n", in->min_reps,
          in->min_time);
  if (in->load_start >= 0)
    fprintf(f, "  load average : %.2f at start%s\n", in->load_start,
            in->load_start > 0.5 ? " -- other processes are busy, timings will be distorted" : "");
  fprintf(f, "  memory       : %s\n\n",
          in->mem == VB_MEM_HWM      ? "VmHWM, reset per case via /proc/self/clear_refs"
          : in->mem == VB_MEM_MAXRSS ? "VmHWM/ru_maxrss, cannot be reset here: shown only for cases that raised it"
                                     : "unavailable");
}

void vb_report_limits(FILE *f, const vb_info *in, const vb_limits *l) {
  fprintf(f, "Physical limits (measured in this run)\n  %-26s", "");
  for (int t = 0; t < l->count; t++) fprintf(f, "  %8s%-3d", "t=", l->threads[t]);
  fputc('\n', f);
  for (int i = 0; i < in->nisas; i++) {
    fprintf(f, "  FMA peak %-8s GFLOP/s  ", vecattn_isa_name(in->isas[i]));
    for (int t = 0; t < l->count; t++) fprintf(f, "  %11.1f", l->peak[in->isas[i]][t]);
    fputc('\n', f);
  }
  fprintf(f, "  read bandwidth    GB/s     ");
  for (int t = 0; t < l->count; t++) fprintf(f, "  %11.1f", l->bw[t]);
  fprintf(f, "\n  (peak: best of 5 windows of 12 independent FMA chains per thread, summed over threads;\n"
             "   sse2/scalar: 7+7 independent mul and add chains instead;\n"
             "   bandwidth: best of several read passes over %.0f MiB%s)\n\n",
          (double)l->bw_bytes / MIB,
          in->quick ? ", smaller than 4x LLC in --quick, so partly cache" : "");
}

static void print_shapes(FILE *f, const vb_result *r, int n) {
  fprintf(f, "Shapes\n");
  for (int i = 0; i < n; i++) {
    if (i > 0 && !strcmp(r[i].shape.name, r[i - 1].shape.name)) continue;
    char desc[160];
    vb_shape_describe(&r[i].shape, desc, sizeof desc);
    fprintf(f, "  %-14s %s\n  %-14s %.4g GFLOP/call, K+V %.1f MiB, Q+K+V+O %.1f MiB x %d rotating cop%s\n", r[i].shape.name,
            desc, "", r[i].flops * 1e-9, r[i].bytes / MIB, (double)vb_shape_tensor_bytes(&r[i].shape) / MIB,
            r[i].copies, r[i].copies == 1 ? "y" : "ies");
  }
  fputc('\n', f);
}

void vb_report_table(FILE *f, const vb_info *in, const vb_limits *l, const vb_result *r, int n) {
  (void)l;
  print_shapes(f, r, n);
  const char *hdr = "%-14s %-6s %3s %6s %10s  %-22s %16s %7s %9s %-12s %10s %10s %-8s %8s\n";
  fprintf(f, "Results\n");
  fprintf(f, hdr, "shape", "isa", "thr", "reps", "median", "min .. max", "result", "%limit", "vs scalar", "vs lower",
          "peak RSS", "workspace", "check", "rel err");
  fprintf(f, hdr, "-------------", "------", "---", "------", "----------", "----------------------", "----------------",
          "-------", "---------", "------------", "----------", "----------", "--------", "--------");
  for (int i = 0; i < n; i++) {
    const vb_result *x = &r[i];
    char med[32], lo[32], hi[32], range[80], result[32], pct[16], xs[16], xl[32], rss[32], ws[32], err[16];
    fmt_time(med, sizeof med, x->t_med);
    fmt_time(lo, sizeof lo, x->t_min);
    fmt_time(hi, sizeof hi, x->t_max);
    if (x->reps > 0) snprintf(range, sizeof range, "%s .. %s", lo, hi);
    else snprintf(range, sizeof range, "-");
    if (x->reps > 0) snprintf(result, sizeof result, "%.2f %s", x->value, unit(&x->shape));
    else snprintf(result, sizeof result, "-");
    if (isfinite(x->pct)) snprintf(pct, sizeof pct, "%.1f%%", x->pct);
    else snprintf(pct, sizeof pct, "-");
    if (isfinite(x->x_scalar)) snprintf(xs, sizeof xs, "%.2fx", x->x_scalar);
    else snprintf(xs, sizeof xs, "-");
    if (isfinite(x->x_lower)) snprintf(xl, sizeof xl, "%.2fx %s", x->x_lower, vecattn_isa_name(x->lower_isa));
    else snprintf(xl, sizeof xl, "-");
    fmt_mib(rss, sizeof rss, x->peak_rss);
    fmt_mib(ws, sizeof ws, x->workspace);
    if (isfinite(x->check_err)) snprintf(err, sizeof err, "%.1e", x->check_err);
    else snprintf(err, sizeof err, "-");
    fprintf(f, "%-14s %-6s %3d %6d %10s  %-22s %16s %7s %9s %-12s %10s %10s %-8s %8s\n", x->shape.name,
            vecattn_isa_name(x->isa), x->threads, x->reps, med, range, result, pct, xs, xl, rss, ws, check_name(x), err);
  }

  fprintf(f, "\nNotes\n"
             "  result : GFLOP/s = 2*(D+Dv) flops per unmasked (query,key) pair per head, pairs counted\n"
             "           exactly (causal, window, kv_len); GB/s (decode) = K and V bytes B*Hkv*Nk*(D+Dv)*4\n"
             "           per call. Median over the timed runs.\n"
             "  %%limit : GFLOP/s against the same ISA's FMA peak at the same thread count; GB/s against\n"
             "           plain read passes over the case's own K and V copies with the same threads,\n"
             "           taken right after its timed runs (best of 3, 2 with --quick; JSON: read_gbps_case):\n"
             "           a shared machine's bandwidth drifts; the table above has the start-of-run figure.\n"
             "  vs     : speed-up (median time ratio) over scalar and over the next lower ISA measured\n"
             "           (scalar < sse2 < avx2 < avx512; neon over scalar), same shape and threads.\n"
             "  check  : relative L2 error of the warm-up output against the scalar path, limit %.0e;\n"
             "           ok* = checked on a reduced copy of the shape (same B/H/D/masks, Nq and Nk\n"
             "           capped at %lld) because the full scalar reference would be slow; ref = the\n"
             "           scalar run whose output is the reference.\n"
             "  memory : peak RSS during the case; workspace = that peak minus the resident set just\n"
             "           before its first call (Q, K, V, O and all rotating copies already resident),\n"
             "           i.e. what the library itself allocated.\n",
          VB_CHECK_TOL, (long long)in->check_cap);

  /* The long shape's workspace has a target; say how it fares. */
  double worst = -1;
  for (int i = 0; i < n; i++)
    if (!strcmp(r[i].shape.name, "long") && isfinite(r[i].workspace) && r[i].workspace > worst)
      worst = r[i].workspace;
  if (worst >= 0)
    fprintf(f, "\nlong: largest workspace %.2f MiB (target < 32 MiB): %s\n", worst / MIB,
            worst < 32 * MIB ? "met" : "NOT MET");
  if (in->load_end >= 0)
    fprintf(f, "\nload average: %.2f at start, %.2f at end (the bench itself adds up to %d)\n", in->load_start,
            in->load_end, in->max_threads);
  fprintf(f, "\n%s\n", in->ok ? "All checked paths agree with scalar." : "FAILURES: see MISMATCH/ERROR rows.");
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

int vb_report_json(const char *path, const vb_info *in, const vb_limits *l, const vb_result *r, int n) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs("{\n  ", f);
  jkey(f, "tool", 1);
  jstr(f, "vecattn-bench");
  jkey(f, "vecattn_version", 0);
  jstr(f, in->version);
  jkey(f, "cpu_features", 0);
  jstr(f, in->features);
  fprintf(f, ",\n  \"max_threads\": %d, \"default_isa\": ", in->max_threads);
  jstr(f, vecattn_isa_name(in->default_isa));
  fprintf(f, ", \"quick\": %s, \"ok\": %s,\n  \"isas\": [", in->quick ? "true" : "false", in->ok ? "true" : "false");
  for (int i = 0; i < in->nisas; i++) {
    fputs(i ? ", " : "", f);
    jstr(f, vecattn_isa_name(in->isas[i]));
  }
  fputs("], \"threads\": [", f);
  for (int t = 0; t < l->count; t++) fprintf(f, "%s%d", t ? ", " : "", l->threads[t]);
  fprintf(f, "],\n  \"llc_bytes\": %zu, \"llc_source\": ", l->llc);
  jstr(f, l->llc_source);
  fputs(", \"load_avg_start\": ", f);
  jnum(f, in->load_start);
  fputs(", \"load_avg_end\": ", f);
  jnum(f, in->load_end);
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
  for (int i = 0; i < n; i++) {
    const vb_result *x = &r[i];
    const vb_shape *s = &x->shape;
    fprintf(f, "%s\n    {", i ? "," : "");
    jkey(f, "shape", 1);
    jstr(f, s->name);
    jkey(f, "isa", 0);
    jstr(f, vecattn_isa_name(x->isa));
    fprintf(f, ", \"threads\": %d, \"B\": %lld, \"Hq\": %lld, \"Hkv\": %lld, \"Nq\": %lld, \"Nk\": %lld, "
               "\"D\": %lld, \"Dv\": %lld, \"causal\": %s, \"window\": %lld, ",
            x->threads, (long long)s->b, (long long)s->hq, (long long)s->hkv, (long long)s->nq, (long long)s->nk,
            (long long)s->d, (long long)s->dv, s->causal ? "true" : "false", (long long)s->window);
    if (s->padded) fprintf(f, "\"kv_len_min\": %d, \"kv_len_max\": %d, ", (int)x->kv_len_min, (int)x->kv_len_max);
    else fputs("\"kv_len_min\": null, \"kv_len_max\": null, ", f);
    fprintf(f, "\"metric\": \"%s\", \"unit\": \"%s\",\n     ", s->metric == VB_METRIC_BYTES ? "gbps" : "gflops",
            unit(s));
    const char *keys[] = {"flops", "bytes", "time_median_s", "time_min_s", "time_max_s", "gflops", "gbps", "value",
                          "pct_of_limit", "speedup_vs_scalar", "speedup_vs_lower", "peak_rss_bytes",
                          "workspace_bytes", "check_rel_err", "read_gbps_case"};
    const double vals[] = {x->flops, x->bytes, x->t_med, x->t_min, x->t_max, x->gflops, x->gbps, x->value,
                           x->pct, x->x_scalar, x->x_lower, x->peak_rss, x->workspace, x->check_err,
                           x->bw_case};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
      jkey(f, keys[k], k == 0);
      jnum(f, vals[k]);
    }
    fprintf(f, ",\n     \"reps\": %d, \"copies\": %d, \"lower_isa\": ", x->reps, x->copies);
    if (isfinite(x->x_lower)) jstr(f, vecattn_isa_name(x->lower_isa));
    else fputs("null", f);
    fputs(", \"check\": ", f);
    jstr(f, check_name(x));
    fprintf(f, ", \"check_reduced\": %s, \"status\": %d}", x->check_reduced ? "true" : "false", (int)x->status);
  }
  fputs("\n  ]\n}\n", f);
  int err = ferror(f);
  return fclose(f) == 0 && !err ? 0 : -1;
}

/* ---- CSV ---- */

static void cnum(FILE *f, double v) {
  if (isfinite(v)) fprintf(f, ",%.9g", v);
  else fputs(",", f);
}

int vb_report_csv(const char *path, const vb_result *r, int n) {
  FILE *f = fopen(path, "w");
  if (!f) return -1;
  fputs("shape,isa,threads,B,Hq,Hkv,Nq,Nk,D,Dv,causal,window,kv_len_min,kv_len_max,metric,unit,reps,copies,"
        "flops,bytes,time_median_s,time_min_s,time_max_s,gflops,gbps,value,pct_of_limit,speedup_vs_scalar,"
        "speedup_vs_lower,lower_isa,peak_rss_bytes,workspace_bytes,check,check_rel_err,check_reduced\n",
        f);
  for (int i = 0; i < n; i++) {
    const vb_result *x = &r[i];
    const vb_shape *s = &x->shape;
    fprintf(f, "%s,%s,%d,%lld,%lld,%lld,%lld,%lld,%lld,%lld,%d,%lld,", s->name, vecattn_isa_name(x->isa), x->threads,
            (long long)s->b, (long long)s->hq, (long long)s->hkv, (long long)s->nq, (long long)s->nk, (long long)s->d,
            (long long)s->dv, s->causal, (long long)s->window);
    if (s->padded) fprintf(f, "%d,%d", (int)x->kv_len_min, (int)x->kv_len_max);
    else fputs(",", f);
    fprintf(f, ",%s,%s,%d,%d", s->metric == VB_METRIC_BYTES ? "gbps" : "gflops", unit(s), x->reps, x->copies);
    const double vals[] = {x->flops, x->bytes, x->t_med, x->t_min, x->t_max, x->gflops, x->gbps,
                           x->value, x->pct,   x->x_scalar, x->x_lower};
    for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) cnum(f, vals[k]);
    fprintf(f, ",%s", isfinite(x->x_lower) ? vecattn_isa_name(x->lower_isa) : "");
    cnum(f, x->peak_rss);
    cnum(f, x->workspace);
    fprintf(f, ",%s", check_name(x));
    cnum(f, x->check_err);
    fprintf(f, ",%d\n", x->check_reduced);
  }
  return fclose(f) == 0 ? 0 : -1;
}
