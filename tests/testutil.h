/* Shared helpers for the vecattn Check suites: seeded random inputs, poison
 * and guard-byte buffers, strided test tensors, error metrics, and the loop
 * over instruction-set paths. */
#ifndef VECATTN_TESTUTIL_H
#define VECATTN_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>

#include "vecattn.h"

/* ---- suite setup ----
 * Call first thing in main(): picks the seed (fresh per run, or
 * VECATTN_TEST_SEED), prints it, sets CK_DEFAULT_TIMEOUT if unset, and prints
 * one "SKIP isa <name>" line for every ISA this machine/build lacks. */
void tu_init(const char *suite_name);
/* srunner_run_all(CK_NORMAL) on s; returns the process exit status. */
int tu_run_suite(Suite *s);

uint64_t tu_seed(void);
/* Restart the random stream at a point derived from the seed and salt, so
 * each test (case) draws the same numbers whatever ran before it. */
void tu_reseed(uint64_t salt);
uint64_t tu_rand_u64(void);
double tu_rand_uniform(void);            /* [0, 1) */
double tu_rand_normal(void);             /* N(0,1), never exactly 0 */
int64_t tu_rand_int(int64_t lo, int64_t hi); /* inclusive */
void tu_fill_normal(float *p, size_t n); /* N(0,1), never exactly 0 */
/* Random layer weights (and biases when `bias`), N(0, 1 / d_model) so
 * projections keep unit variance and softmax is not one-hot; fills *w and
 * returns the one allocation holding them (free it). */
float *tu_mha_weights(vecattn_mha_weights *w, int64_t d_model, int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                      int bias, int rope, float theta);

/* VECATTN_TEST_EMULATED=1: running under an emulator (qemu), keep it small. */
int tu_emulated(void);
/* 0 under emulation (qemu-user here hangs in any second thread's creation)
 * unless VECATTN_TEST_EMULATED_THREADS=1; 1 otherwise. */
int tu_threads_ok(void);
/* VECATTN_TEST_VERBOSE=1: print the error of every comparison. */
int tu_verbose(void);

/* ---- poison: a quiet-NaN bit pattern outputs are filled with before calls ---- */
void tu_poison(float *p, size_t n);
int tu_is_poison(float x);

/* ---- guarded allocations: 64 bytes of a known pattern on either side ----
 * misalign: bytes (multiple of 4, < 64) added to a 64-byte aligned address. */
void *tu_guarded_alloc(size_t bytes, size_t misalign);
int tu_guard_ok(const void *p); /* 1 if both guards are intact */
void tu_guarded_free(void *p);

/* ---- test tensors ---- */
typedef enum {
  TU_BHSD = 0, /* vecattn_tensor_bhsd */
  TU_BSHD,     /* vecattn_tensor_bshd */
  TU_PADDED,   /* [b][h][s][d] with gaps after every row, head and batch */
  TU_SBHD,     /* [s][b][h][d]: a permuted, non-contiguous view */
  TU_LAYOUT_COUNT
} tu_layout;
const char *tu_layout_name(tu_layout l);

typedef struct {
  vecattn_tensor t;
  float *storage;         /* guarded */
  size_t n;               /* floats in storage */
  unsigned char *logical; /* [n]: 1 where the tensor addresses the element */
} tu_tensor;

/* Storage poisoned everywhere (padding included); misaligned by a random
 * multiple of 4 bytes. */
void tu_tensor_make(tu_tensor *x, tu_layout layout, int64_t b, int64_t h, int64_t s, int64_t d);
void tu_tensor_fill_normal(tu_tensor *x); /* logical elements only */
void tu_tensor_poison(tu_tensor *x);      /* all storage */
void tu_tensor_free(tu_tensor *x);
int tu_tensor_guard_ok(const tu_tensor *x);
int tu_tensor_padding_intact(const tu_tensor *x); /* non-logical storage still poison */

static inline float *tu_at(const vecattn_tensor *t, int64_t b, int64_t h, int64_t s, int64_t d) {
  return (float *)t->data + b * t->stride[0] + h * t->stride[1] + s * t->stride[2] + d * t->stride[3];
}
static inline int64_t tu_numel(const vecattn_tensor *t) {
  return t->shape[0] * t->shape[1] * t->shape[2] * t->shape[3];
}
/* Copy of the logical elements, contiguous [b][h][s][d]. */
void tu_tensor_to_dense(const vecattn_tensor *t, float *dst);

size_t tu_count_nonfinite_tensor(const vecattn_tensor *t);
/* ||t - ref|| / ||ref||, ref contiguous [B,H,S,D]. If ||ref|| == 0 returns
 * ||t|| (so an all-zero reference demands exact zeros). */
double tu_rel_l2_tensor(const vecattn_tensor *t, const double *ref);
double tu_rel_l2(const float *a, const double *ref, size_t n);

/* Compare an lse vector with the float64 reference. Entries whose reference
 * is -INFINITY must be exactly -INFINITY; others must be finite. Returns
 * the relative L2 error over the finite entries; *mismatch counts the rest. */
double tu_rel_l2_lse(const float *lse, const double *ref, size_t n, size_t *mismatch);

/* Full check of one sdpa result against the reference: status OK, every
 * element finite, rows whose reference lse is -INFINITY exactly zero,
 * relative L2 error of out (and of lse if lse != NULL) <= tol, guards and
 * padding of out intact (and lse's guards: lse must come from
 * tu_guarded_alloc). label names the case in failure messages. */
void tu_check_sdpa_result(const char *label, vecattn_isa isa, const tu_tensor *out,
                          const float *lse, const double *ref_out, const double *ref_lse, double tol);

/* ---- instruction-set paths ---- */
#define TU_ISA_DONE ((vecattn_isa)-1)
/* First supported ISA (made active), or TU_ISA_DONE. */
vecattn_isa tu_isa_first(void);
/* Restores VECATTN_ISA_AUTO, then moves to (and activates) the next
 * supported ISA after cur, or returns TU_ISA_DONE. Unsupported ones print
 * "SKIP isa <name>: ..." once per suite. VECATTN_TEST_ISAS=sve,neon (a comma
 * list) limits the loop to those paths; naming an unsupported one fails. */
vecattn_isa tu_isa_next(vecattn_isa cur);
/* Whether VECATTN_TEST_ISAS (if set) names isa: for tests with their own path lists. */
int tu_isa_selected(vecattn_isa isa);
#define TU_FOR_EACH_ISA(var) for (vecattn_isa var = tu_isa_first(); var != TU_ISA_DONE; var = tu_isa_next(var))
/* Same as a callback. */
void tu_for_each_isa(void (*fn)(vecattn_isa isa, void *ctx), void *ctx);
/* The ISAs a test iterates, in order: every path but AUTO. */
#define TU_ISA_COUNT (VECATTN_ISA_COUNT - 1)
extern const vecattn_isa tu_all_isas[TU_ISA_COUNT];

/* Bytes of a snapshot of storage, for "input unchanged" checks. */
void *tu_snapshot(const void *p, size_t bytes);

#endif
