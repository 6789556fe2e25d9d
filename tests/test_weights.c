/* vecattn_attention_weights against the float64 reference on every
 * supported ISA: probabilities match, rows sum to 1, masked entries are
 * exactly 0, fully masked rows are all 0; and weights @ V agrees with
 * vecattn_sdpa (same masks, same scale). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

#define TOL 1e-5

typedef struct {
  const char *name;
  int b, hq, hkv, nq, nk, d, dv;
  tu_layout wlayout; /* layout of the weights tensor */
  int causal, window, kv; /* kv: 0 none, 1 {Nk, Nk/3}, 2 {0, Nk} */
  int bias_neginf, alibi;
  float scale_mul;
} w_case;

static const w_case cases[] = {
    {"plain", 2, 4, 2, 17, 33, 16, 24, TU_BHSD, 0, 0, 0, 0, 0, 0},
    {"causal square", 2, 4, 2, 33, 33, 16, 16, TU_PADDED, 1, 0, 0, 0, 0, 0},
    {"causal Nq>Nk", 2, 4, 4, 40, 25, 8, 8, TU_BHSD, 1, 0, 0, 0, 0, 0},
    {"causal Nq<Nk", 1, 2, 1, 7, 70, 32, 32, TU_BSHD, 1, 0, 0, 0, 0, 0},
    {"window=6+kv_len", 2, 4, 2, 30, 50, 16, 16, TU_BHSD, 0, 6, 1, 0, 0, 0},
    {"kv_len={0,Nk}", 2, 2, 1, 9, 21, 7, 7, TU_PADDED, 0, 0, 2, 0, 0, 0},
    {"bias -inf+alibi", 2, 4, 2, 21, 37, 16, 16, TU_BHSD, 0, 0, 0, 1, 1, 0},
    {"causal+window+alibi explicit scale", 1, 4, 2, 64, 64, 64, 64, TU_SBHD, 1, 10, 0, 0, 1, 0.75f},
    {"decode GQA", 2, 8, 2, 1, 1000, 64, 64, TU_BHSD, 0, 0, 0, 0, 0, 0},
    {"long rows", 1, 2, 2, 129, 65, 80, 48, TU_BSHD, 0, 0, 0, 0, 0, 0},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

START_TEST(test_weights) {
  const w_case *c = &cases[_i];
  char label[200];
  snprintf(label, sizeof label, "weights '%s' B=%d Hq=%d Hkv=%d Nq=%d Nk=%d D=%d layout=%s", c->name, c->b, c->hq,
           c->hkv, c->nq, c->nk, c->d, tu_layout_name(c->wlayout));
  tu_reseed(0x3E1600u + (uint64_t)_i);
  const int B = c->b, Hq = c->hq, Nq = c->nq, Nk = c->nk;
  tu_tensor q, k, v, w, out, bias;
  tu_tensor_make(&q, TU_BHSD, B, Hq, Nq, c->d);
  tu_tensor_make(&k, TU_BSHD, B, c->hkv, Nk, c->d);
  tu_tensor_make(&v, TU_BHSD, B, c->hkv, Nk, c->dv);
  tu_tensor_make(&w, c->wlayout, B, Hq, Nq, Nk);
  tu_tensor_make(&out, TU_BHSD, B, Hq, Nq, c->dv);
  tu_tensor_fill_normal(&q), tu_tensor_fill_normal(&k), tu_tensor_fill_normal(&v);

  vecattn_sdpa_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.causal = c->causal;
  opts.window = c->window;
  if (c->scale_mul != 0) opts.scale = c->scale_mul / sqrtf((float)c->d);
  int32_t kv_len[2] = {Nk, Nk};
  if (c->kv == 1) kv_len[1] = Nk / 3;
  if (c->kv == 2) kv_len[0] = 0;
  if (c->kv) opts.kv_len = kv_len;
  if (c->bias_neginf) {
    tu_tensor_make(&bias, TU_BHSD, B, Hq, Nq, Nk);
    tu_tensor_fill_normal(&bias);
    for (int64_t b = 0; b < B; b++)
      for (int64_t h = 0; h < Hq; h++)
        for (int64_t i = 0; i < Nq; i++)
          for (int64_t j = 0; j < Nk; j++)
            if (i == 3 || tu_rand_uniform() < 0.3) *tu_at(&bias.t, b, h, i, j) = -INFINITY;
    opts.bias = &bias.t;
  }
  float slopes[8];
  for (int h = 0; h < 8; h++) slopes[h] = 1.0f / (float)(2 << h);
  if (c->alibi) opts.alibi_slopes = slopes;

  size_t rows = (size_t)B * Hq * Nq, nw = rows * Nk;
  double *ref_w = malloc(sizeof(double) * nw);
  unsigned char *masked = malloc(nw);
  double *wv = malloc(sizeof(double) * rows * c->dv);
  float *wd = malloc(sizeof(float) * nw);
  ck_assert(ref_w && masked && wv && wd);
  ref_weights(&q.t, &k.t, &opts, ref_w, masked);

  TU_FOR_EACH_ISA(isa) {
    const char *in = vecattn_isa_name(isa);
    tu_tensor_poison(&w);
    vecattn_status st = vecattn_attention_weights(&q.t, &k.t, &w.t, &opts);
    ck_assert_msg(st == VECATTN_OK, "%s [isa %s]: status %d (%s)", label, in, (int)st, vecattn_strerror(st));
    ck_assert_msg(tu_tensor_guard_ok(&w), "%s [isa %s]: write outside the weights buffer", label, in);
    ck_assert_msg(tu_tensor_padding_intact(&w), "%s [isa %s]: write into the gaps of strided weights", label, in);
    size_t nonfinite = tu_count_nonfinite_tensor(&w.t);
    ck_assert_msg(nonfinite == 0, "%s [isa %s]: %zu weights not finite", label, in, nonfinite);
    tu_tensor_to_dense(&w.t, wd);
    double err = tu_rel_l2(wd, ref_w, nw);
    ck_assert_msg(err <= TOL, "%s [isa %s]: weights relative L2 error %.3e > %.1e", label, in, err, TOL);
    for (size_t r = 0; r < rows; r++) {
      const float *row = wd + r * Nk;
      int full = 1;
      double sum = 0;
      for (int j = 0; j < Nk; j++) {
        if (masked[r * Nk + j])
          ck_assert_msg(row[j] == 0.0f, "%s [isa %s]: masked weight (row %zu, key %d) = %g, want exactly 0", label,
                        in, r, j, (double)row[j]);
        else
          full = 0;
        sum += row[j];
      }
      if (full)
        ck_assert_msg(sum == 0.0, "%s [isa %s]: fully masked row %zu sums to %g, want all zeros", label, in, r, sum);
      else
        ck_assert_msg(fabs(sum - 1.0) <= TOL, "%s [isa %s]: row %zu sums to %.9f, want 1", label, in, r, sum);
    }
    /* weights @ V (in float64, from the library's float weights) vs sdpa */
    size_t r = 0;
    for (int b = 0; b < B; b++)
      for (int h = 0; h < Hq; h++) {
        int hk = h / (Hq / c->hkv);
        for (int i = 0; i < Nq; i++, r++) {
          double *o = wv + r * c->dv;
          for (int d = 0; d < c->dv; d++) o[d] = 0;
          for (int j = 0; j < Nk; j++) {
            double p = wd[r * Nk + j];
            if (p == 0) continue;
            const float *vp = tu_at(&v.t, b, hk, j, 0);
            for (int d = 0; d < c->dv; d++) o[d] += p * vp[d];
          }
        }
      }
    tu_tensor_poison(&out);
    st = vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &opts);
    ck_assert_msg(st == VECATTN_OK, "%s [isa %s]: sdpa status %d", label, in, (int)st);
    double e2 = tu_rel_l2_tensor(&out.t, wv);
    ck_assert_msg(e2 <= TOL, "%s [isa %s]: sdpa output vs weights @ V: relative L2 %.3e > %.1e", label, in, e2, TOL);
  }
  if (c->bias_neginf) tu_tensor_free(&bias);
  free(ref_w), free(masked), free(wv), free(wd);
  tu_tensor_free(&q), tu_tensor_free(&k), tu_tensor_free(&v), tu_tensor_free(&w), tu_tensor_free(&out);
}
END_TEST

/* The softmax's exp element by element, on scores that are exact (D = 1,
 * q = +-1, scale 1, keys on a 2^-12 grid) and span [-95, 0] after the shift: each weight within a few
 * ulp of exp(s - max) / sum in float64 (weights below 1e-36 only need to stay
 * between 0 and just above their value: exp may flush results near FLT_MIN to 0). Nq = 1 runs the decode
 * kernels, Nq = 20 the prefill tiles; q = -1 rows see their max rise block
 * after block. sdpa with V = the identity returns the same weights through
 * P.V and its rescaling (looser: every new max rounds the accumulator again). */
START_TEST(test_weights_exp_range) {
  const int Nk = 1030, Nq = _i ? 20 : 1;
  tu_tensor q, k, v, w, out;
  tu_tensor_make(&q, TU_BHSD, 1, 1, Nq, 1);
  tu_tensor_make(&k, TU_BHSD, 1, 1, Nk, 1);
  tu_tensor_make(&v, TU_BHSD, 1, 1, Nk, Nk);
  tu_tensor_make(&w, TU_BHSD, 1, 1, Nq, Nk);
  tu_tensor_make(&out, TU_BHSD, 1, 1, Nq, Nk);
  for (int i = 0; i < Nq; i++) *tu_at(&q.t, 0, 0, i, 0) = i % 2 ? -1.0f : 1.0f;
  for (int j = 0; j < Nk; j++) {
    /* multiples of 2^-12: score minus max stays exact */
    *tu_at(&k.t, 0, 0, j, 0) = j < Nk - 2 ? -roundf(86.8f * 4096 * (float)j / (float)(Nk - 3)) / 4096 : j == Nk - 2 ? -95.0f : -88.0f;
    for (int d = 0; d < Nk; d++) *tu_at(&v.t, 0, 0, j, d) = d == j ? 1.0f : 0.0f;
  }
  vecattn_sdpa_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.scale = 1.0f;
  double *ref = malloc(sizeof(double) * Nq * Nk);
  ck_assert(ref);
  for (int i = 0; i < Nq; i++) {
    const double qi = *tu_at(&q.t, 0, 0, i, 0);
    double m = -INFINITY, sum = 0;
    for (int j = 0; j < Nk; j++) {
      const double s = qi * *tu_at(&k.t, 0, 0, j, 0);
      if (s > m) m = s;
    }
    for (int j = 0; j < Nk; j++) {
      const double e = exp(qi * *tu_at(&k.t, 0, 0, j, 0) - m);
      ref[i * Nk + j] = e;
      sum += e;
    }
    for (int j = 0; j < Nk; j++) ref[i * Nk + j] /= sum;
  }
  TU_FOR_EACH_ISA(isa) {
    const char *in = vecattn_isa_name(isa);
    tu_tensor_poison(&w), tu_tensor_poison(&out);
    ck_assert_int_eq(vecattn_attention_weights(&q.t, &k.t, &w.t, &opts), VECATTN_OK);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &opts), VECATTN_OK);
    for (int i = 0; i < Nq; i++)
      for (int j = 0; j < Nk; j++) {
        const double want = ref[i * Nk + j], got_w = *tu_at(&w.t, 0, 0, i, j), got_o = *tu_at(&out.t, 0, 0, i, j);
        if (want < 1e-36) {
          const double most = want * (1 + 4e-6) + 4e-38;
          ck_assert_msg(got_w >= 0 && got_w <= most && got_o >= 0 && got_o <= most,
                        "Nq=%d [isa %s] row %d key %d: weight %g / output %g, want %g", Nq, in, i, j, got_w, got_o, want);
          continue;
        }
        ck_assert_msg(fabs(got_w - want) <= 5e-7 * want, "Nq=%d [isa %s] row %d key %d: weight %.9g, want %.9g (rel %.2e)",
                      Nq, in, i, j, got_w, want, fabs(got_w - want) / want);
        ck_assert_msg(fabs(got_o - want) <= 4e-6 * want, "Nq=%d [isa %s] row %d key %d: sdpa %.9g, want %.9g (rel %.2e)",
                      Nq, in, i, j, got_o, want, fabs(got_o - want) / want);
      }
  }
  free(ref);
  tu_tensor_free(&q), tu_tensor_free(&k), tu_tensor_free(&v), tu_tensor_free(&w), tu_tensor_free(&out);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("weights");
  TCase *tc = tcase_create("weights");
  tcase_add_loop_test(tc, test_weights, 0, NCASES);
  tcase_add_loop_test(tc, test_weights_exp_range, 0, 2);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("weights");
  return tu_run_suite(make_suite());
}
