/* Every mask mode of vecattn_sdpa, alone and combined, on every supported
 * ISA against the float64 reference, with lse: causal (bottom-right
 * aligned, Nq < Nk and Nq > Nk), sliding window, per-batch kv_len, additive
 * bias (full, broadcast through stride 0, -INFINITY entries), ALiBi. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ref.h"
#include "testutil.h"

#define TOL 1e-5

enum { KV_NONE, KV_HALF, KV_ZERO, KV_FULL, KV_ONE };
enum { BIAS_NONE, BIAS_FULL, BIAS_BC_B, BIAS_BC_H, BIAS_BC_Q, BIAS_BC_BHQ, BIAS_NEGINF, BIAS_NEGINF_BC_B };

typedef struct {
  const char *name;
  int causal;
  int window; /* > 0: window; -1: Nk + 5 (wider than the sequence) */
  int kv;
  int bias;
  int alibi;
} mask_cfg;

static const mask_cfg cfgs[] = {
    {"none", 0, 0, KV_NONE, BIAS_NONE, 0},
    {"causal", 1, 0, KV_NONE, BIAS_NONE, 0},
    {"window=5", 0, 5, KV_NONE, BIAS_NONE, 0},
    {"window=1", 0, 1, KV_NONE, BIAS_NONE, 0},
    {"window>Nk", 0, -1, KV_NONE, BIAS_NONE, 0},
    {"causal+window=16", 1, 16, KV_NONE, BIAS_NONE, 0},
    {"causal+window=1", 1, 1, KV_NONE, BIAS_NONE, 0},
    {"kv_len={Nk,Nk/2+1}", 0, 0, KV_HALF, BIAS_NONE, 0},
    {"kv_len={0,7}", 0, 0, KV_ZERO, BIAS_NONE, 0},
    {"kv_len={Nk,Nk}", 0, 0, KV_FULL, BIAS_NONE, 0},
    {"kv_len={1,Nk-1}", 0, 0, KV_ONE, BIAS_NONE, 0},
    {"causal+kv_len={Nk,Nk/2+1}", 1, 0, KV_HALF, BIAS_NONE, 0},
    {"causal+kv_len={0,7}", 1, 0, KV_ZERO, BIAS_NONE, 0},
    {"window=9+kv_len={1,Nk-1}", 0, 9, KV_ONE, BIAS_NONE, 0},
    {"bias full", 0, 0, KV_NONE, BIAS_FULL, 0},
    {"bias bcast batch", 0, 0, KV_NONE, BIAS_BC_B, 0},
    {"bias bcast head", 0, 0, KV_NONE, BIAS_BC_H, 0},
    {"bias bcast query", 0, 0, KV_NONE, BIAS_BC_Q, 0},
    {"bias bcast batch+head+query", 0, 0, KV_NONE, BIAS_BC_BHQ, 0},
    {"bias -inf", 0, 0, KV_NONE, BIAS_NEGINF, 0},
    {"bias -inf bcast batch", 0, 0, KV_NONE, BIAS_NEGINF_BC_B, 0},
    {"causal+bias", 1, 0, KV_NONE, BIAS_FULL, 0},
    {"alibi", 0, 0, KV_NONE, BIAS_NONE, 1},
    {"causal+alibi", 1, 0, KV_NONE, BIAS_NONE, 1},
    {"window=7+alibi+bias bcast head", 0, 7, KV_NONE, BIAS_BC_H, 1},
    {"causal+window=12+kv_len+bias -inf+alibi", 1, 12, KV_HALF, BIAS_NEGINF, 1},
};
#define NCFG ((int)(sizeof cfgs / sizeof cfgs[0]))

typedef struct {
  int nq, nk;
  tu_layout layout;
} mask_shape;

static const mask_shape shapes[] = {
    {37, 37, TU_BHSD},   /* square */
    {20, 70, TU_BSHD},   /* Nq < Nk: chunked prefill over a cache */
    {70, 20, TU_PADDED}, /* Nq > Nk: causal leaves the first 50 rows empty */
    {1, 53, TU_BHSD},    /* decode */
    {5, 130, TU_SBHD},   /* speculative decode over a longer cache */
};
#define NSHAPE ((int)(sizeof shapes / sizeof shapes[0]))

#define B 2
#define HQ 4
#define HKV 2
#define D 24
#define DV 40

/* Bias with logical shape [B,HQ,nq,nk]; broadcast dims get stride 0. */
static void make_bias(tu_tensor *bt, int mode, int nq, int nk) {
  int bcb = mode == BIAS_BC_B || mode == BIAS_BC_BHQ || mode == BIAS_NEGINF_BC_B;
  int bch = mode == BIAS_BC_H || mode == BIAS_BC_BHQ;
  int bcq = mode == BIAS_BC_Q || mode == BIAS_BC_BHQ;
  tu_tensor_make(bt, TU_BHSD, bcb ? 1 : B, bch ? 1 : HQ, bcq ? 1 : nq, nk);
  tu_tensor_fill_normal(bt);
  if (mode == BIAS_NEGINF || mode == BIAS_NEGINF_BC_B) {
    vecattn_tensor *t = &bt->t;
    for (int64_t b = 0; b < t->shape[0]; b++)
      for (int64_t h = 0; h < t->shape[1]; h++)
        for (int64_t i = 0; i < t->shape[2]; i++) {
          /* one row in every (b,h) fully masked; elsewhere about a quarter */
          int full = i == (int64_t)(t->shape[2] / 2);
          for (int64_t j = 0; j < t->shape[3]; j++)
            if (full || tu_rand_uniform() < 0.25) *tu_at(t, b, h, i, j) = -INFINITY;
        }
  }
  bt->t.shape[0] = B, bt->t.shape[1] = HQ, bt->t.shape[2] = nq;
  if (bcb) bt->t.stride[0] = 0;
  if (bch) bt->t.stride[1] = 0;
  if (bcq) bt->t.stride[2] = 0;
}

static void run_case(const mask_cfg *c, const mask_shape *sh, int idx) {
  char label[200];
  snprintf(label, sizeof label, "mask '%s' Nq=%d Nk=%d layout=%s (B=%d Hq=%d Hkv=%d D=%d Dv=%d)", c->name, sh->nq,
           sh->nk, tu_layout_name(sh->layout), B, HQ, HKV, D, DV);
  tu_reseed(0x3A5C0000u + (uint64_t)idx);
  const int nq = sh->nq, nk = sh->nk;
  tu_tensor q, k, v, out, bias;
  tu_tensor_make(&q, sh->layout, B, HQ, nq, D);
  tu_tensor_make(&k, sh->layout, B, HKV, nk, D);
  tu_tensor_make(&v, sh->layout, B, HKV, nk, DV);
  tu_tensor_make(&out, sh->layout, B, HQ, nq, DV);
  tu_tensor_fill_normal(&q), tu_tensor_fill_normal(&k), tu_tensor_fill_normal(&v);

  vecattn_sdpa_opts opts;
  memset(&opts, 0, sizeof opts);
  opts.causal = c->causal;
  opts.window = c->window < 0 ? nk + 5 : c->window;
  int32_t kv_len[B];
  switch (c->kv) {
  case KV_HALF: kv_len[0] = nk, kv_len[1] = nk / 2 + 1; break;
  case KV_ZERO: kv_len[0] = 0, kv_len[1] = nk < 7 ? nk : 7; break;
  case KV_FULL: kv_len[0] = nk, kv_len[1] = nk; break;
  case KV_ONE: kv_len[0] = 1, kv_len[1] = nk - 1; break;
  default: break;
  }
  if (c->kv != KV_NONE) opts.kv_len = kv_len;
  if (c->bias != BIAS_NONE) {
    make_bias(&bias, c->bias, nq, nk);
    opts.bias = &bias.t;
  }
  float slopes[HQ];
  for (int h = 0; h < HQ; h++) slopes[h] = powf(2.0f, -8.0f * (float)(h + 1) / HQ);
  if (c->alibi) opts.alibi_slopes = slopes;

  size_t rows = (size_t)B * HQ * nq;
  float *lse = tu_guarded_alloc(rows * sizeof(float), 8);
  double *ref_out = malloc(sizeof(double) * rows * DV), *ref_lse = malloc(sizeof(double) * rows);
  ck_assert(ref_out && ref_lse);
  ref_sdpa(&q.t, &k.t, &v.t, &opts, ref_out, ref_lse);
  opts.lse = lse;
  /* decode shapes (keys split across threads) on the default thread count;
   * prefill shapes serial, which keeps this suite quick on small machines */
  opts.num_threads = nq <= 5 ? 0 : 1;

  size_t masked_rows = 0;
  for (size_t r = 0; r < rows; r++) masked_rows += isinf(ref_lse[r]) != 0;
  /* sanity of the test itself: these configurations must mask whole rows */
  if (c->kv == KV_ZERO) ck_assert_msg(masked_rows >= (size_t)HQ * nq, "%s: kv_len=0 must mask batch 0", label);
  if (c->causal && nq > nk && c->kv == KV_NONE && c->bias == BIAS_NONE)
    ck_assert_msg(masked_rows == (size_t)B * HQ * (nq - nk), "%s: reference masks %zu rows, want %d", label,
                  masked_rows, B * HQ * (nq - nk));

  TU_FOR_EACH_ISA(isa) {
    tu_tensor_poison(&out);
    tu_poison(lse, rows);
    vecattn_status st = vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &opts);
    ck_assert_msg(st == VECATTN_OK, "%s [isa %s]: status %d (%s)", label, vecattn_isa_name(isa), (int)st,
                  vecattn_strerror(st));
    tu_check_sdpa_result(label, isa, &out, lse, ref_out, ref_lse, TOL);
  }
  if (c->bias != BIAS_NONE) tu_tensor_free(&bias);
  free(ref_out), free(ref_lse);
  tu_guarded_free(lse);
  tu_tensor_free(&q), tu_tensor_free(&k), tu_tensor_free(&v), tu_tensor_free(&out);
}

START_TEST(test_mask) { run_case(&cfgs[_i / NSHAPE], &shapes[_i % NSHAPE], _i); }
END_TEST

/* The causal mask must be bottom-right aligned: with Nq=1 (decode) causal
 * changes nothing. */
START_TEST(test_causal_alignment) {
  tu_reseed(0x3A5C1000u);
  const int Nk = 45, Dd = 16;
  tu_tensor q, k, v, out, out2;
  tu_tensor_make(&q, TU_BHSD, 1, 1, 1, Dd);
  tu_tensor_make(&k, TU_BHSD, 1, 1, Nk, Dd);
  tu_tensor_make(&v, TU_BHSD, 1, 1, Nk, Dd);
  tu_tensor_make(&out, TU_BHSD, 1, 1, 1, Dd);
  tu_tensor_make(&out2, TU_BHSD, 1, 1, 1, Dd);
  tu_tensor_fill_normal(&q), tu_tensor_fill_normal(&k), tu_tensor_fill_normal(&v);
  vecattn_sdpa_opts causal, plain;
  memset(&causal, 0, sizeof causal);
  memset(&plain, 0, sizeof plain);
  causal.causal = 1;
  TU_FOR_EACH_ISA(isa) {
    tu_tensor_poison(&out), tu_tensor_poison(&out2);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out.t, &causal), VECATTN_OK);
    ck_assert_int_eq(vecattn_sdpa(&q.t, &k.t, &v.t, &out2.t, &plain), VECATTN_OK);
    double ref[Dd];
    for (int d = 0; d < Dd; d++) ref[d] = out2.storage[d];
    double err = tu_rel_l2(out.storage, ref, Dd);
    ck_assert_msg(err <= 1e-6,
                  "[isa %s] decode (Nq=1): causal output differs from non-causal by %.3e: causal must be "
                  "bottom-right aligned",
                  vecattn_isa_name(isa), err);
  }
  tu_tensor_free(&q), tu_tensor_free(&k), tu_tensor_free(&v), tu_tensor_free(&out), tu_tensor_free(&out2);
}
END_TEST

static Suite *make_suite(void) {
  Suite *s = suite_create("masks");
  TCase *tc = tcase_create("masks");
  tcase_add_loop_test(tc, test_mask, 0, NCFG * NSHAPE);
  tcase_add_test(tc, test_causal_alignment);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  tu_init("masks");
  return tu_run_suite(make_suite());
}
