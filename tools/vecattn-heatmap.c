/* vecattn-heatmap: attention maps people can look at. Reads Q and K from .npy
 * files, computes vecattn_attention_weights and writes one image per
 * (batch, head): rows are queries, columns keys, colour the weight.
 *
 *   vecattn-heatmap Q.npy K.npy [--causal] [--window N] [--scale S] [-o PREFIX]
 *   vecattn-heatmap --demo [-o PREFIX]      a small causal example, no input
 *
 * Q is [Nq,D], [H,Nq,D] or [B,H,Nq,D]; K has the same rank, [.., Nk, D]
 * (fewer heads than Q for grouped-query attention). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vecattn.h>

#include "heatmap_image.h"
#include "npy.h"

static void usage(FILE *f) {
  fprintf(f,
          "usage: vecattn-heatmap Q.npy K.npy [--causal] [--window N] [--scale S] [-o PREFIX]\n"
          "       vecattn-heatmap --demo [-o PREFIX]\n"
          "Q: float32 [Nq,D], [H,Nq,D] or [B,H,Nq,D]; K: same rank, [..,Nk,D].\n"
          "Writes PREFIX%s (one head) or PREFIX-h<h>%s / PREFIX-b<b>-h<h>%s, one image per head.\n",
          heatmap_extension(), heatmap_extension(), heatmap_extension());
}

/* As [B,H,N,D]: leading dims of size 1 for rank 2 and 3. */
static int as_bhsd(const npy_array *a, const char *what, int64_t dims[4]) {
  if (a->ndim < 2 || a->ndim > 4) {
    fprintf(stderr, "vecattn-heatmap: %s must have 2, 3 or 4 dimensions, has %d\n", what, a->ndim);
    return -1;
  }
  const int pad = 4 - a->ndim;
  for (int d = 0; d < 4; ++d) dims[d] = d < pad ? 1 : a->shape[d - pad];
  return 0;
}

/* Positional vectors whose dot products peak at i == j: a causal map then
 * shows both the triangle and a bright band along the diagonal. */
static void demo_inputs(npy_array *q, npy_array *k) {
  enum { N = 16, D = 8 };
  npy_array *arrs[2] = {q, k};
  for (int a = 0; a < 2; ++a) {
    memset(arrs[a], 0, sizeof *arrs[a]);
    arrs[a]->ndim = 2, arrs[a]->shape[0] = N, arrs[a]->shape[1] = D, arrs[a]->count = N * D;
    arrs[a]->data = malloc(sizeof(float) * N * D);
    if (!arrs[a]->data) exit(1);
    for (int i = 0; i < N; ++i)
      for (int f = 0; f < D / 2; ++f) {
        const double w = pow(0.35, f) * (a ? 1.0 : 1.0 + 0.05 * i); /* queries sharpen down the rows */
        arrs[a]->data[i * D + 2 * f] = (float)(2.2 * sin(i * w + 0.3 * f));
        arrs[a]->data[i * D + 2 * f + 1] = (float)(2.2 * cos(i * w + 0.3 * f));
      }
  }
}

/* Title: which head (and batch row, and KV head under GQA); subtitle: the
 * map's size and the masks and scale it was computed with. */
static void describe(char *title, size_t tlen, char *sub, size_t slen, int64_t b, int64_t B, int64_t h, int64_t H,
                     int64_t Hkv, int64_t Nq, int64_t Nk, const vecattn_sdpa_opts *o) {
  int n = snprintf(title, tlen, "attention weights, head %lld of %lld", (long long)h, (long long)H);
  if (B > 1 && n > 0 && (size_t)n < tlen) n += snprintf(title + n, tlen - (size_t)n, ", batch %lld", (long long)b);
  if (Hkv < H && n > 0 && (size_t)n < tlen)
    snprintf(title + n, tlen - (size_t)n, " (kv head %lld)", (long long)(h / (H / Hkv)));
  char mask[64];
  if (o->causal && o->window > 0) snprintf(mask, sizeof mask, "causal + window %lld mask", (long long)o->window);
  else if (o->causal) snprintf(mask, sizeof mask, "causal mask");
  else if (o->window > 0) snprintf(mask, sizeof mask, "window %lld mask", (long long)o->window);
  else snprintf(mask, sizeof mask, "no mask");
  n = snprintf(sub, slen, "%lld queries x %lld keys, %s", (long long)Nq, (long long)Nk, mask);
  if (o->scale != 0 && n > 0 && (size_t)n < slen) snprintf(sub + n, slen - (size_t)n, ", scale %g", (double)o->scale);
}

static int parse_number(const char *s, double *v) {
  char *end;
  errno = 0;
  *v = strtod(s, &end);
  return s[0] && !*end && errno == 0 && isfinite(*v) ? 0 : -1;
}

int main(int argc, char **argv) {
  const char *paths[2] = {NULL, NULL}, *prefix = "heatmap";
  int npaths = 0, demo = 0;
  vecattn_sdpa_opts opts = {0};
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    double x;
    if (!strcmp(a, "--causal")) {
      opts.causal = 1;
    } else if (!strcmp(a, "--demo")) {
      demo = 1, opts.causal = 1;
    } else if ((!strcmp(a, "--window") || !strcmp(a, "--scale") || !strcmp(a, "-o")) && i + 1 < argc) {
      const char *val = argv[++i];
      if (!strcmp(a, "-o")) {
        prefix = val;
      } else if (parse_number(val, &x) != 0 || (!strcmp(a, "--window") && (x < 0 || x != floor(x) || x > 1e15))) {
        fprintf(stderr, "vecattn-heatmap: bad value for %s: '%s'\n", a, val);
        return 2;
      } else if (!strcmp(a, "--window")) {
        opts.window = (int64_t)x;
      } else {
        opts.scale = (float)x;
      }
    } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      usage(stdout);
      return 0;
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "vecattn-heatmap: unknown or incomplete option '%s'\n", a);
      usage(stderr);
      return 2;
    } else if (npaths < 2) {
      paths[npaths++] = a;
    } else {
      usage(stderr);
      return 2;
    }
  }
  if (demo ? npaths != 0 : npaths != 2) {
    usage(stderr);
    return 2;
  }

  npy_array q, k;
  char err[512];
  if (demo) {
    demo_inputs(&q, &k);
  } else {
    if (npy_read(paths[0], &q, err, sizeof err) != 0) {
      fprintf(stderr, "vecattn-heatmap: %s\n", err);
      return 1;
    }
    if (npy_read(paths[1], &k, err, sizeof err) != 0) {
      fprintf(stderr, "vecattn-heatmap: %s\n", err);
      npy_free(&q);
      return 1;
    }
  }
  int rc = 1;
  float *w = NULL;
  int64_t qd[4], kd[4];
  if (as_bhsd(&q, "Q", qd) != 0 || as_bhsd(&k, "K", kd) != 0) goto done;
  if (q.ndim != k.ndim) {
    fprintf(stderr, "vecattn-heatmap: Q has %d dimensions, K %d\n", q.ndim, k.ndim);
    goto done;
  }
  const int64_t B = qd[0], H = qd[1], Nq = qd[2], Nk = kd[2];
  size_t n;
  if (__builtin_mul_overflow((size_t)B * (size_t)H, (size_t)Nq, &n) || __builtin_mul_overflow(n, (size_t)Nk, &n) ||
      n > SIZE_MAX / sizeof(float) || !(w = malloc(n * sizeof(float)))) {
    fprintf(stderr, "vecattn-heatmap: %lld x %lld x %lld x %lld weights do not fit in memory\n", (long long)B,
            (long long)H, (long long)Nq, (long long)Nk);
    goto done;
  }
  vecattn_tensor tq = vecattn_tensor_bhsd(q.data, B, H, Nq, qd[3]);
  vecattn_tensor tk = vecattn_tensor_bhsd(k.data, kd[0], kd[1], Nk, kd[3]);
  vecattn_tensor tw = vecattn_tensor_bhsd(w, B, H, Nq, Nk);
  const vecattn_status st = vecattn_attention_weights(&tq, &tk, &tw, &opts);
  if (st != VECATTN_OK) {
    fprintf(stderr, "vecattn-heatmap: attention weights for Q [%lld,%lld,%lld,%lld], K [%lld,%lld,%lld,%lld]: %s\n",
            (long long)qd[0], (long long)qd[1], (long long)qd[2], (long long)qd[3], (long long)kd[0],
            (long long)kd[1], (long long)kd[2], (long long)kd[3], vecattn_strerror(st));
    goto done;
  }

  const int cell_w = heatmap_cell_size(Nk), cell_h = heatmap_cell_size(Nq);
  rc = 0;
  for (int64_t b = 0; b < B && rc == 0; ++b)
    for (int64_t h = 0; h < H && rc == 0; ++h) {
      char path[4096];
      if (B > 1)
        snprintf(path, sizeof path, "%s-b%lld-h%lld%s", prefix, (long long)b, (long long)h, heatmap_extension());
      else if (H > 1)
        snprintf(path, sizeof path, "%s-h%lld%s", prefix, (long long)h, heatmap_extension());
      else
        snprintf(path, sizeof path, "%s%s", prefix, heatmap_extension());
      const float *map = w + (size_t)((b * H + h) * Nq) * (size_t)Nk;
      float vmax = 0;
      for (size_t i = 0; i < (size_t)(Nq * Nk); ++i) vmax = map[i] > vmax ? map[i] : vmax;
      char title[160], sub[160];
      describe(title, sizeof title, sub, sizeof sub, b, B, h, H, kd[1], Nq, Nk, &opts);
      const heatmap_labels labels = {title, sub};
      if (heatmap_write(path, map, Nq, Nk, Nk, vmax > 0 ? vmax : 1.0f, cell_w, cell_h, &labels) != 0) {
        fprintf(stderr, "vecattn-heatmap: cannot write %s\n", path);
        rc = 1;
      } else {
        printf("%s: %lld queries x %lld keys, %dx%d px per weight, colour scale 0 .. %.4f\n", path, (long long)Nq,
               (long long)Nk, cell_w, cell_h, (double)vmax);
      }
    }
done:
  free(w);
  npy_free(&q), npy_free(&k);
  return rc;
}
