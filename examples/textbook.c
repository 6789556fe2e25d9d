/* The textbook dot-product attention example: five one-dimensional keys
 * e = [1, 2, 3, 4, 5], values equal to the keys, one query q = 0.5.
 *   scores  s_i = q * e_i
 *   weights a_i = softmax(s)_i          (they sum to 1)
 *   output  o   = sum_i a_i * e_i
 * Computed with vecattn_attend(DOT) and vecattn_attention_weights, then
 * checked against the same formulas in double; exits 1 on a mismatch. */
#include <math.h>
#include <stdio.h>
#include <vecattn.h>

enum { N = 5 };

int main(void) {
  float e[N] = {1, 2, 3, 4, 5}, query = 0.5f, out = 0, w[N];
  vecattn_tensor tq = vecattn_tensor_bhsd(&query, 1, 1, 1, 1);
  vecattn_tensor tk = vecattn_tensor_bhsd(e, 1, 1, N, 1); /* keys and values: the same e */
  vecattn_tensor to = vecattn_tensor_bhsd(&out, 1, 1, 1, 1);
  vecattn_tensor tw = vecattn_tensor_bhsd(w, 1, 1, 1, N);

  const vecattn_score_fn dot = {VECATTN_SCORE_DOT, NULL, NULL, NULL, 0};
  vecattn_sdpa_opts opts = {0};
  vecattn_status st = vecattn_attend(&dot, &tq, &tk, &tk, &to, &opts);
  if (st == VECATTN_OK) {
    opts.scale = 1.0f; /* the weights call takes sdpa's scale; the dot score is unscaled */
    st = vecattn_attention_weights(&tq, &tk, &tw, &opts);
  }
  if (st != VECATTN_OK) {
    fprintf(stderr, "vecattn: %s\n", vecattn_strerror(st));
    return 1;
  }

  double ref_w[N], sum = 0, ref_out = 0, wsum = 0, max_err = 0;
  for (int i = 0; i < N; i++) sum += ref_w[i] = exp(0.5 * e[i]);
  for (int i = 0; i < N; i++) ref_out += (ref_w[i] /= sum) * e[i];

  printf("keys = values = [1 2 3 4 5], query = 0.5, scores = 0.5 * keys\n");
  for (int i = 0; i < N; i++) {
    printf("a[%d] = %.6f   (double: %.6f)\n", i, w[i], ref_w[i]);
    wsum += w[i];
    max_err = fmax(max_err, fabs(w[i] - ref_w[i]));
  }
  printf("sum of weights = %.6f\n", wsum);
  printf("output = sum a_i e_i = %.6f   (double: %.6f)\n", out, ref_out);
  max_err = fmax(max_err, fabs(out - ref_out) / ref_out);
  if (!(max_err <= 1e-6) || !(fabs(wsum - 1.0) <= 1e-6)) {
    fprintf(stderr, "mismatch: max error %.3g\n", max_err);
    return 1;
  }
  return 0;
}
