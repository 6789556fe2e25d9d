/* Inputs and outputs of one shape, allocated as several copies so timed runs
 * can rotate through more memory than the last-level cache holds. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static float *alloc_floats(size_t n) { return vb_alloc_big(n * sizeof(float)); }

/* xorshift64*: fast, deterministic, good enough for attention inputs. */
static void fill_uniform(float *p, size_t n, uint64_t *state) {
  uint64_t x = *state;
  for (size_t i = 0; i < n; i++) {
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    uint64_t r = x * 0x2545F4914F6CDD1DULL;
    p[i] = (float)((double)(r >> 40) * (2.0 / 16777216.0) - 1.0);
  }
  *state = x;
}

int vb_fill_typed(void *dst, vecattn_dtype t, size_t n, vb_fill_fn fill, float *tmp, size_t tmp_n,
                  uint64_t *state) {
  if (t == VECATTN_F32) {
    fill(dst, n, state);
    return 0;
  }
  const size_t piece = tmp_n >= n ? n : tmp_n / VECATTN_Q8_0_BLOCK * VECATTN_Q8_0_BLOCK;
  if (!piece && n) return -1;
  for (size_t done = 0; done < n;) {
    const size_t m = n - done < piece ? n - done : piece;
    fill(tmp, m, state);
    if (vecattn_convert(tmp, VECATTN_F32, vb_elem(dst, t, (int64_t)done), t, (int64_t)m) != VECATTN_OK) return -1;
    done += m;
  }
  return 0;
}

void *vb_elem(void *base, vecattn_dtype t, int64_t e) { return (char *)base + vecattn_dtype_bytes(t, e); }

int vb_to_f32(const void *src, vecattn_dtype t, float *dst, size_t n) {
  if (t == VECATTN_F32) {
    memcpy(dst, src, n * sizeof *dst);
    return 0;
  }
  return vecattn_convert(src, t, dst, VECATTN_F32, (int64_t)n) == VECATTN_OK ? 0 : -1;
}

int vb_data_alloc(vb_data *d, const vb_shape *s, int copies, uint64_t seed) {
  memset(d, 0, sizeof *d);
  d->shape = *s;
  d->copies = copies;
  d->q_elems = (size_t)(s->b * s->hq * s->nq * s->d);
  d->k_elems = (size_t)(s->b * s->hkv * s->nk * s->d);
  d->v_elems = (size_t)(s->b * s->hkv * s->nk * s->dv);
  d->o_elems = (size_t)(s->b * s->hq * s->nq * s->dv);
  d->q_bytes = vecattn_dtype_bytes(s->dtype, (int64_t)d->q_elems);
  d->k_bytes = vecattn_dtype_bytes(s->kv_dtype, (int64_t)d->k_elems);
  d->v_bytes = vecattn_dtype_bytes(s->kv_dtype, (int64_t)d->v_elems);
  d->o_bytes = vecattn_dtype_bytes(s->dtype, (int64_t)d->o_elems);
  float *tmp = NULL;
  size_t most = 0; /* floats in tmp */
  if (!d->q_bytes || !d->k_bytes || !d->v_bytes || !d->o_bytes) goto fail; /* a type the dims cannot hold */
  d->q = calloc((size_t)copies, sizeof *d->q);
  d->k = calloc((size_t)copies, sizeof *d->k);
  d->v = calloc((size_t)copies, sizeof *d->v);
  d->o = calloc((size_t)copies, sizeof *d->o);
  if (!d->q || !d->k || !d->v || !d->o) goto fail;
  if (s->padded) {
    d->kv_len = malloc((size_t)s->b * sizeof *d->kv_len);
    if (!d->kv_len) goto fail;
    vb_shape_kv_len(s, d->kv_len);
  }
  uint64_t state = seed ? seed : 0x9E3779B97F4A7C15ULL;
  if (s->da > 0) {
    d->w_q = alloc_floats((size_t)(s->da * s->d));
    d->w_k = alloc_floats((size_t)(s->da * s->d));
    d->v_a = alloc_floats((size_t)s->da);
    if (!d->w_q || !d->w_k || !d->v_a) goto fail;
    fill_uniform(d->w_q, (size_t)(s->da * s->d), &state);
    fill_uniform(d->w_k, (size_t)(s->da * s->d), &state);
    fill_uniform(d->v_a, (size_t)s->da, &state);
  }
  if (s->dtype != VECATTN_F32 || s->kv_dtype != VECATTN_F32) {
    most = d->q_elems > d->k_elems ? d->q_elems : d->k_elems;
    if (d->v_elems > most) most = d->v_elems;
    if (!(tmp = alloc_floats(most))) goto fail;
  }
  for (int c = 0; c < copies; c++) {
    d->q[c] = vb_alloc_big(d->q_bytes);
    d->k[c] = vb_alloc_big(d->k_bytes);
    d->v[c] = vb_alloc_big(d->v_bytes);
    d->o[c] = vb_alloc_big(d->o_bytes);
    if (!d->q[c] || !d->k[c] || !d->v[c] || !d->o[c]) goto fail;
    /* Copies only have to live at other addresses; identical contents
     * keep every rotation doing the same work. */
    if (c == 0) {
      if (vb_fill_typed(d->q[0], s->dtype, d->q_elems, fill_uniform, tmp, most, &state) ||
          vb_fill_typed(d->k[0], s->kv_dtype, d->k_elems, fill_uniform, tmp, most, &state) ||
          vb_fill_typed(d->v[0], s->kv_dtype, d->v_elems, fill_uniform, tmp, most, &state))
        goto fail;
    } else {
      memcpy(d->q[c], d->q[0], d->q_bytes);
      memcpy(d->k[c], d->k[0], d->k_bytes);
      memcpy(d->v[c], d->v[0], d->v_bytes);
    }
    /* Resident before timing; non-zero so no calloc-style shortcut skips it
     * (all ones is NaN in f32, f16 and bf16: a poison). */
    memset(d->o[c], 0xff, d->o_bytes);
  }
  free(tmp);
  return 0;
fail:
  free(tmp);
  vb_data_free(d);
  return -1;
}

void vb_data_free(vb_data *d) {
  for (int c = 0; c < d->copies; c++) {
    if (d->q) free(d->q[c]);
    if (d->k) free(d->k[c]);
    if (d->v) free(d->v[c]);
    if (d->o) free(d->o[c]);
  }
  free(d->q);
  free(d->k);
  free(d->v);
  free(d->o);
  free(d->kv_len);
  free(d->w_q);
  free(d->w_k);
  free(d->v_a);
  memset(d, 0, sizeof *d);
}

vecattn_status vb_data_run(const vb_data *d, int copy, int threads) {
  const vb_shape *s = &d->shape;
  vecattn_tensor q = vecattn_tensor_bhsd_typed(d->q[copy], s->dtype, s->b, s->hq, s->nq, s->d);
  vecattn_tensor k = vecattn_tensor_bhsd_typed(d->k[copy], s->kv_dtype, s->b, s->hkv, s->nk, s->d);
  vecattn_tensor v = vecattn_tensor_bhsd_typed(d->v[copy], s->kv_dtype, s->b, s->hkv, s->nk, s->dv);
  vecattn_tensor o = vecattn_tensor_bhsd_typed(d->o[copy], s->dtype, s->b, s->hq, s->nq, s->dv);
  vecattn_sdpa_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.causal = s->causal;
  opts.window = s->window;
  opts.kv_len = d->kv_len;
  opts.num_threads = threads;
  opts.reduced_precision = s->reduced_precision;
  if (s->da > 0) {
    const vecattn_score_fn fn = {VECATTN_SCORE_ADDITIVE, d->w_q, d->w_k, d->v_a, s->da};
    return vecattn_attend(&fn, &q, &k, &v, &o, &opts);
  }
  return vecattn_sdpa(&q, &k, &v, &o, &opts);
}

int vb_data_out_f32(const vb_data *d, int copy, float *dst) {
  return vb_to_f32(d->o[copy], d->shape.dtype, dst, d->o_elems);
}

/* ||x - ref|| / ||ref|| in double; NaN anywhere gives NaN (a mismatch). */
double vb_rel_l2(const float *x, const float *ref, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    double e = (double)x[i] - (double)ref[i];
    num += e * e;
    den += (double)ref[i] * (double)ref[i];
  }
  if (den == 0) return sqrt(num);
  return sqrt(num / den);
}
