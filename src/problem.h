/* A validated attention call: dimensions, strides and options, checked once by
 * validate.c so the drivers can trust every field. */
#ifndef VECATTN_PROBLEM_H
#define VECATTN_PROBLEM_H

#include <stdint.h>

#include "validate.h"
#include "vecattn.h"

#define VECATTN_MAX_HEAD_DIM (INT64_C(1) << 20)

/* Additive (Bahdanau) scores from projections computed once per query and per
 * key; the score block reads them in place instead of q and k. */
typedef struct {
  const float *qp; /* W_q q: rows [B][Hq][Nq] of ld floats */
  const float *kp; /* W_k k: rows [B][Hkv][Nk] of ld floats */
  const float *v;  /* [ld]: the scale folded in */
  int ld;          /* Da rounded up to whole vectors; zeros past Da everywhere */
} attn_additive;

/* Keys and values in the pages of a paged cache (one sequence): key j of kv
 * head h is row j % block_size of block table[j / block_size], at element
 *   table[j / block_size] * block_stride + h * ks[1] + (j % block_size) * ks[2]
 * of k (the same with vs for v). Rows are contiguous only within a page. */
typedef struct {
  const int32_t *table;
  int64_t block_size;
  int64_t block_stride; /* elements between blocks, in both pools */
  int shift;            /* log2(block_size) when a power of two, else -1 */
} attn_pages;

/* Block j / block_size and row j % block_size: a shift and a mask for the
 * usual power-of-two sizes (a division per run of rows costs as much as a
 * decode block's row arithmetic). */
static inline int64_t attn_page_of(const attn_pages *pg, int64_t j) {
  return pg->shift >= 0 ? j >> pg->shift : j / pg->block_size;
}
static inline int64_t attn_page_row(const attn_pages *pg, int64_t j) {
  return pg->shift >= 0 ? j & (pg->block_size - 1) : j % pg->block_size;
}

typedef struct {
  int64_t B, Hq, Hkv, Nq, Nk, D, Dv;
  const void *q, *k, *v; /* v is NULL for attention weights */
  void *out;             /* [B,Hq,Nq,Dv] or the weights [B,Hq,Nq,Nk] (f32) */
  vecattn_dtype qt, kt, vt, ot; /* element types; strides below count elements */
  int64_t qs[4], ks[4], vs[4], os[4];
  float scale;
  int causal;
  int64_t window;
  const int32_t *kv_len;
  const void *bias;
  vecattn_dtype bias_t;
  int64_t bias_stride[4]; /* 0 on broadcast dims */
  const float *alibi;
  float *lse;
  int64_t lse_ld; /* lse entries between heads (varlen's [Hq, total_q]); 0 = Nq */
  int num_threads; /* 0 = OpenMP default */
  int reduced_precision; /* bf16 products allowed */
  const attn_additive *additive; /* NULL: scores are scaled q.k */
  const attn_pages *pages;       /* NULL: k and v rows at their strides; else k and v are pools */
  const char *out_name;          /* "out" or "weights", for messages */
  byte_span out_span, lse_span;  /* what the call writes (lse_span empty without lse) */
} attn_problem;

/* v == NULL: the weights variant (out is [B,Hq,Nq,Nk]). */
vecattn_status attn_problem_init(attn_problem *p, const vecattn_tensor *q, const vecattn_tensor *k,
                                 const vecattn_tensor *v, const vecattn_tensor *out,
                                 const vecattn_sdpa_opts *opts);

/* Flags for attn_problem_init_ex. */
enum { ATTN_ANY_KEY_DIM = 1 }; /* k's head dim may differ from q's (general, additive) */
vecattn_status attn_problem_init_ex(attn_problem *p, const vecattn_tensor *q, const vecattn_tensor *k,
                                    const vecattn_tensor *v, const vecattn_tensor *out,
                                    const vecattn_sdpa_opts *opts, unsigned flags);

/* EINVAL unless an input the caller reads beside the tensors and options
 * (vecattn_attend's score weights) avoids out and lse. */
vecattn_status attn_problem_check_input(const attn_problem *p, const char *name, byte_span in);

/* A call's work, for the serial threshold of threads.c only: every (query,
 * key) pair's score and P.V products, masks ignored, and q, k, v and out at
 * 4 bytes an element. */
static inline double attn_problem_flops(const attn_problem *p) {
  return 2.0 * (double)(p->B * p->Hq) * (double)p->Nq * (double)p->Nk * (double)(p->D + p->Dv);
}
static inline double attn_problem_bytes(const attn_problem *p) {
  return 4.0 * (double)p->B * ((double)(p->Hq * p->Nq) + (double)(p->Hkv * p->Nk)) * (double)(p->D + p->Dv);
}

/* Keys query i may see are [key_lo, key_hi) intersected with the mask ranges. */
static inline int64_t attn_key_lo(const attn_problem *p, int64_t i) {
  return p->window > 0 ? i + (p->Nk - p->Nq) - p->window + 1 : 0;
}
static inline int64_t attn_key_hi(const attn_problem *p, int64_t b, int64_t i) {
  int64_t hi = p->causal ? i + (p->Nk - p->Nq) + 1 : p->Nk;
  if (p->kv_len && p->kv_len[b] < hi) hi = p->kv_len[b];
  return hi;
}

#endif
