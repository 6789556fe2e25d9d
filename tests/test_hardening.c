/* Hostile arguments, beyond test_validation: every tensor and option of
 * vecattn_sdpa, vecattn_attention_weights and vecattn_attend is broken in
 * turn. A server passes client-chosen shapes and options straight through,
 * so each bad call must return its documented status and leave every byte
 * alone. All buffers, inputs and outputs alike, live in one guarded arena
 * that must be byte-identical after a rejected call. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

enum { B = 2, HQ = 4, HKV = 2, NQ = 5, NK = 7, D = 8, DV = 6, DA = 4 };

/* Arena layout, in floats. kv_len (int32) shares the float-sized slots. The
 * lead slack lets an overlapping output start before q and still be inside. */
enum {
  LEAD = 320,
  OFF_Q = LEAD,
  OFF_K = OFF_Q + B * HQ * NQ * D,
  OFF_V = OFF_K + B * HKV * NK * D,
  OFF_BIAS = OFF_V + B * HKV * NK * DV,
  OFF_ALIBI = OFF_BIAS + B * HQ * NQ * NK,
  OFF_KVLEN = OFF_ALIBI + HQ,
  OFF_FW = OFF_KVLEN + B,   /* attend: W [D x D] (general) or W_q [DA x D] */
  OFF_FU = OFF_FW + D * D,  /* attend: W_k [DA x D] */
  OFF_FV = OFF_FU + DA * D, /* attend: v [DA] */
  OFF_OUT = OFF_FV + DA,
  OFF_W = OFF_OUT + B * HQ * NQ * DV,
  OFF_LSE = OFF_W + B * HQ * NQ * NK,
  OFF_END = OFF_LSE + B * HQ * NQ,
  ARENA = OFF_END + 64
};

static float *arena;

typedef enum { CALL_SDPA, CALL_WEIGHTS, CALL_ATTEND } call_kind;
static const char *const call_name[] = {"vecattn_sdpa", "vecattn_attention_weights", "vecattn_attend"};

/* One call's arguments: pointers so that NULL can be passed for any. */
typedef struct {
  vecattn_tensor q, k, v, out, w, bias;
  vecattn_sdpa_opts o;
  vecattn_score_fn fn;
  const vecattn_tensor *qp, *kp, *vp;
  vecattn_tensor *outp; /* out for sdpa/attend, w for weights */
  const vecattn_sdpa_opts *op;
  const vecattn_score_fn *fnp;
} call_args;

static int32_t *kv_len_slots(void) { return (int32_t *)(void *)(arena + OFF_KVLEN); }

/* After copying a call_args, its pointers must follow the copy. */
static void repoint(call_args *a, const call_args *from) {
#define FOLLOW(ptr, field) \
  if (from->ptr == &from->field) a->ptr = &a->field
  FOLLOW(qp, q);
  FOLLOW(kp, k);
  FOLLOW(vp, v);
  FOLLOW(outp, out);
  FOLLOW(outp, w);
  FOLLOW(op, o);
  FOLLOW(fnp, fn);
#undef FOLLOW
  if (from->o.bias == &from->bias) a->o.bias = &a->bias;
}

/* Fills *p with a valid call of the given kind using every option. */
static void valid_args(call_args *p, call_kind kind) {
  call_args a;
  memset(&a, 0, sizeof a);
  a.q = vecattn_tensor_bhsd(arena + OFF_Q, B, HQ, NQ, D);
  a.k = vecattn_tensor_bhsd(arena + OFF_K, B, HKV, NK, D);
  a.v = vecattn_tensor_bhsd(arena + OFF_V, B, HKV, NK, DV);
  a.out = vecattn_tensor_bhsd(arena + OFF_OUT, B, HQ, NQ, DV);
  a.w = vecattn_tensor_bhsd(arena + OFF_W, B, HQ, NQ, NK);
  a.bias = vecattn_tensor_bhsd(arena + OFF_BIAS, B, HQ, NQ, NK);
  a.o.causal = 1;
  a.o.window = 4;
  a.o.kv_len = kv_len_slots();
  a.o.bias = &a.bias;
  a.o.alibi_slopes = arena + OFF_ALIBI;
  a.o.lse = arena + OFF_LSE;
  a.o.num_threads = tu_threads_ok() ? 2 : 1; /* threads hang under qemu-user */
  a.fn.kind = VECATTN_SCORE_ADDITIVE;
  a.fn.w = arena + OFF_FW;
  a.fn.u = arena + OFF_FU;
  a.fn.v_a = arena + OFF_FV;
  a.fn.attn_dim = DA;
  a.qp = &a.q, a.kp = &a.k, a.vp = kind == CALL_WEIGHTS ? NULL : &a.v;
  a.outp = kind == CALL_WEIGHTS ? &a.w : &a.out;
  a.op = &a.o;
  a.fnp = &a.fn;
  *p = a;
  repoint(p, &a);
}

static void setup(void) {
  tu_reseed(0x4A5D);
  arena = tu_guarded_alloc(ARENA * sizeof(float), 8);
  tu_fill_normal(arena, ARENA);
  tu_poison(arena + OFF_OUT, OFF_END - OFF_OUT);
  for (int h = 0; h < HQ; ++h) arena[OFF_ALIBI + h] = -0.25f * (float)(h + 1);
  kv_len_slots()[0] = NK, kv_len_slots()[1] = NK - 2;
}

static void teardown(void) { tu_guarded_free(arena); }

static vecattn_status call(call_kind kind, const call_args *a) {
  switch (kind) {
  case CALL_SDPA: return vecattn_sdpa(a->qp, a->kp, a->vp, a->outp, a->op);
  case CALL_WEIGHTS: return vecattn_attention_weights(a->qp, a->kp, a->outp, a->op);
  default: return vecattn_attend(a->fnp, a->qp, a->kp, a->vp, a->outp, a->op);
  }
}

static int status_known(vecattn_status s) {
  return s == VECATTN_OK || s == VECATTN_EINVAL || s == VECATTN_ENOMEM || s == VECATTN_EUNSUPPORTED ||
         s == VECATTN_EOVERFLOW || s == VECATTN_ENOSPC;
}

/* Runs the call; on failure the whole arena must be unchanged, on success
 * everything but out, weights and lse. */
static void expect(call_kind kind, const call_args *a, vecattn_status want, const char *what) {
  float *before = tu_snapshot(arena, ARENA * sizeof(float));
  const vecattn_status got = call(kind, a);
  const char *msg = vecattn_strerror(got);
  ck_assert_msg(msg && msg[0], "%s(%s): vecattn_strerror(%d) is empty", call_name[kind], what, (int)got);
  ck_assert_msg(status_known(got), "%s(%s): status %d is not a vecattn_status", call_name[kind], what, (int)got);
  ck_assert_msg(got == want, "%s(%s): status %d (%s), want %d (%s)", call_name[kind], what, (int)got, msg,
                (int)want, vecattn_strerror(want));
  ck_assert_msg(tu_guard_ok(arena), "%s(%s): wrote outside the arena", call_name[kind], what);
  const size_t writable_lo = want == VECATTN_OK ? OFF_OUT : OFF_END;
  ck_assert_msg(memcmp(before, arena, writable_lo * sizeof(float)) == 0 &&
                    memcmp(before + OFF_END, arena + OFF_END, (ARENA - OFF_END) * sizeof(float)) == 0,
                "%s(%s): %s", call_name[kind], what,
                want == VECATTN_OK ? "wrote outside out/weights/lse" : "failed but wrote into the arena");
  free(before);
}

#define EACH_CALL(kind) for (call_kind kind = CALL_SDPA; kind <= CALL_ATTEND; kind = (call_kind)(kind + 1))

/* The tensor a test mutates: 0 q, 1 k, 2 v (sdpa/attend only), 3 the output. */
static vecattn_tensor *tensor_of(call_args *a, call_kind kind, int which) {
  switch (which) {
  case 0: return &a->q;
  case 1: return &a->k;
  case 2: return kind == CALL_WEIGHTS ? NULL : &a->v;
  default: return kind == CALL_WEIGHTS ? &a->w : &a->out;
  }
}
static const char *const tensor_name[] = {"q", "k", "v", "out"};

/* ------------------------------------------------------------------ */

#if defined(__x86_64__) || defined(__aarch64__)
/* The last float below the end of user space (2^47 on x86-64, 2^48 on
 * aarch64 Linux): an array of two or more floats from here passes the end. */
static float *user_space_top(void) {
#if defined(__aarch64__)
  return (float *)((uintptr_t)1 << 48) - 1;
#else
  return (float *)((uintptr_t)1 << 47) - 1;
#endif
}
#endif

START_TEST(test_valid_baseline) {
  EACH_CALL(kind) {
    call_args a;
    valid_args(&a, kind);
    expect(kind, &a, VECATTN_OK, "all options");
    a.op = NULL;
    expect(kind, &a, VECATTN_OK, "opts NULL");
    if (!tu_threads_ok()) continue;
    valid_args(&a, kind);
    a.o.num_threads = INT_MAX; /* capped by the work, not an error */
    expect(kind, &a, VECATTN_OK, "num_threads INT_MAX");
  }
}
END_TEST

/* One hostile mutation of the valid arguments a0 (in a test's locals a, a0,
 * kind), then the call must fail with `want` and write nothing. */
#define CASE_WANT(mutation, label, want) \
  do {                                   \
    a = a0;                              \
    repoint(&a, &a0);                    \
    mutation;                            \
    expect(kind, &a, want, label);       \
  } while (0)
#define CASE(mutation, label) CASE_WANT(mutation, label, VECATTN_EINVAL)

START_TEST(test_null_pointers) {
  EACH_CALL(kind) {
    call_args a0, a;
    valid_args(&a0, kind);
    CASE(a.qp = NULL, "q NULL");
    CASE(a.kp = NULL, "k NULL");
    CASE(a.outp = NULL, "out NULL");
    CASE(a.q.data = NULL, "q.data NULL");
    CASE(a.k.data = NULL, "k.data NULL");
    CASE(a.outp->data = NULL, "out.data NULL");
    CASE(a.bias.data = NULL, "bias.data NULL");
    if (kind != CALL_WEIGHTS) {
      CASE(a.vp = NULL, "v NULL");
      CASE(a.v.data = NULL, "v.data NULL");
    }
    if (kind == CALL_ATTEND) {
      CASE(a.fnp = NULL, "fn NULL");
      CASE(a.fn.w = NULL, "fn.w NULL (additive)");
      CASE(a.fn.u = NULL, "fn.u NULL (additive)");
      CASE(a.fn.v_a = NULL, "fn.v_a NULL (additive)");
      CASE((a.fn.kind = VECATTN_SCORE_GENERAL, a.fn.w = NULL), "fn.w NULL (general)");
    }
    /* A zeroed tensor: NULL data and zero dims. */
    CASE(memset(&a.q, 0, sizeof a.q), "q all zero");
    CASE(memset(a.outp, 0, sizeof *a.outp), "out all zero");
  }
}
END_TEST

/* Sets shape or stride entries [dim_lo, dim_hi) of each of the first `tensors`
 * of q, k, v, out, bias to each bad value in turn, on every entry point, and
 * expects `want` with nothing written. */
static void expect_bad_entry(int in_stride, int dim_lo, int dim_hi, int tensors, const int64_t *bad,
                             size_t n_bad, vecattn_status want) {
  char what[96];
  EACH_CALL(kind) for (int which = 0; which < tensors; ++which) for (int dim = dim_lo; dim < dim_hi; ++dim)
      for (size_t i = 0; i < n_bad; ++i) {
    call_args a0, a;
    valid_args(&a0, kind);
    a = a0;
    repoint(&a, &a0);
    vecattn_tensor *t = which == 4 ? &a.bias : tensor_of(&a, kind, which);
    if (!t) continue;
    (in_stride ? t->stride : t->shape)[dim] = bad[i];
    snprintf(what, sizeof what, "%s.%s[%d]=%lld", which == 4 ? "bias" : tensor_name[which],
             in_stride ? "stride" : "shape", dim, (long long)bad[i]);
    expect(kind, &a, want, what);
  }
}

START_TEST(test_nonpositive_dims) {
  static const int64_t bad[] = {0, -1, -(int64_t)NK, INT64_MIN};
  expect_bad_entry(0, 0, 4, 5, bad, sizeof bad / sizeof bad[0], VECATTN_EINVAL);
}
END_TEST

START_TEST(test_shape_mismatch) {
  EACH_CALL(kind) {
    call_args a0, a;
    valid_args(&a0, kind);
    CASE(a.k.shape[0] = 1, "k batch 1 != q batch 2");
    CASE(a.outp->shape[0] = 1, "out batch 1");
    CASE(a.outp->shape[1] = HKV, "out heads = Hkv");
    CASE(a.outp->shape[2] = NQ + 1, "out Nq+1");
    CASE(a.outp->shape[3] += 1, "out last dim +1");
    CASE((a.k = vecattn_tensor_bhsd(arena + OFF_K, B, 3, 4, D), a.v = vecattn_tensor_bhsd(arena + OFF_V, B, 3, 4, DV),
          a.out.shape[1] = a.w.shape[1] = HQ, a.w.shape[3] = 4, a.bias.shape[3] = 1, a.o.kv_len = NULL),
         "Hq 4 % Hkv 3 != 0");
    CASE((a.k.shape[1] = HQ * 2, a.v.shape[1] = HQ * 2, a.k.stride[0] = a.v.stride[0] = 0), "Hkv 8 > Hq 4");
    CASE((a.k.shape[2] = NK - 1, a.v.shape[2] = NK - 1), "Nk shrunk under bias and weights");
    if (kind != CALL_WEIGHTS) {
      CASE(a.v.shape[0] = 1, "v batch 1");
      CASE(a.v.shape[1] = 1, "v heads 1 != k heads 2");
      CASE(a.v.shape[2] = NK - 1, "v Nk-1");
      CASE(a.v.shape[3] = DV - 1, "v Dv-1 != out Dv");
    }
    if (kind != CALL_ATTEND) /* attend's general/additive scores allow Dk != Dq */
      CASE(a.k.shape[3] = D / 2, "k head dim != q head dim");
    CASE(a.bias.shape[0] = B + 1, "bias batch B+1");
    CASE(a.bias.shape[2] = 2, "bias Nq 2 (neither Nq nor 1)");
    CASE(a.bias.shape[3] = NK + 1, "bias Nk+1");
  }
}
END_TEST

START_TEST(test_bad_strides) {
  static const int64_t bad3[] = {0, 2, -1, INT64_MAX, INT64_MIN};
  static const int64_t neg[] = {-1, INT64_MIN};
  expect_bad_entry(1, 3, 4, 4, bad3, sizeof bad3 / sizeof bad3[0], VECATTN_EINVAL);
  expect_bad_entry(1, 0, 3, 4, neg, sizeof neg / sizeof neg[0], VECATTN_EINVAL);
  char what[96];
  /* bias: negative strides on any dim, broadcast ones included */
  EACH_CALL(kind) for (int dim = 0; dim < 4; ++dim) {
    call_args a0, a;
    valid_args(&a0, kind);
    a = a0;
    repoint(&a, &a0);
    a.bias.stride[dim] = -1;
    snprintf(what, sizeof what, "bias.stride[%d]=-1", dim);
    expect(kind, &a, VECATTN_EINVAL, what);
  }
}
END_TEST

/* Strides whose extent overflows int64, size_t bytes, or the address space. */
START_TEST(test_overflowing_strides) {
  static const int64_t huge[] = {INT64_MAX, INT64_MAX / 2 + 1, (int64_t)1 << 62, ((int64_t)1 << 62) - 2};
  expect_bad_entry(1, 0, 3, 5, huge, sizeof huge / sizeof huge[0], VECATTN_EOVERFLOW);
}
END_TEST

/* Extents that fit int64 and size_t but not the user address space: reading
 * them would fault. One step of 2^46 f32 elements already ends at 2^48 bytes,
 * past x86-64's 2^47 and aarch64's 2^48; 2^60 (f32) and 2^61 (f16 k) keep the
 * byte count inside int64. */
START_TEST(test_strides_past_address_space) {
  const int64_t p46 = (int64_t)1 << 46;
  static const int64_t big[] = {(int64_t)1 << 46, (int64_t)1 << 50, (int64_t)1 << 60};
  expect_bad_entry(1, 0, 3, 5, big, sizeof big / sizeof big[0], VECATTN_EOVERFLOW);
  char what[96];
  EACH_CALL(kind) for (int dim = 0; dim < 4; ++dim) {
    call_args a0, a;
    valid_args(&a0, kind);
    CASE_WANT((a.k.dtype = VECATTN_F16, a.k.stride[dim] = dim == 3 ? 1 : (int64_t)1 << 61), "k f16, stride 2^61",
              dim == 3 ? VECATTN_OK : VECATTN_EOVERFLOW);
    snprintf(what, sizeof what, "bias.stride[%d] = 2^46", dim);
    CASE_WANT(a.bias.stride[dim] = p46, what, VECATTN_EOVERFLOW);
    ck_assert_msg(strstr(vecattn_last_error(), "address space") != NULL, "%s: detail \"%s\"", what,
                  vecattn_last_error());
  }
}
END_TEST

/* Option arrays and lse whose end passes the top of user space: rejected
 * before anything is read or written through them. */
START_TEST(test_options_past_address_space) {
#if defined(__x86_64__) || defined(__aarch64__)
  float *const top = user_space_top(); /* every array here ends above the limit */
  EACH_CALL(kind) {
    call_args a0, a;
    valid_args(&a0, kind);
    CASE_WANT(a.o.lse = top, "lse at the top of user space", VECATTN_EOVERFLOW);
    CASE_WANT(a.o.alibi_slopes = top, "alibi at the top of user space", VECATTN_EOVERFLOW);
    CASE_WANT(a.o.kv_len = (const int32_t *)(const void *)top, "kv_len at the top of user space", VECATTN_EOVERFLOW);
    CASE_WANT(a.q.data = top, "q at the top of user space", VECATTN_EOVERFLOW);
    CASE_WANT(a.outp->data = (void *)UINTPTR_MAX, "out wraps the address space", VECATTN_EOVERFLOW);
    if (kind == CALL_ATTEND) {
      CASE_WANT(a.fn.w = top, "fn.w at the top of user space", VECATTN_EOVERFLOW);
      CASE_WANT(a.fn.v_a = top, "fn.v_a at the top of user space", VECATTN_EOVERFLOW);
    }
  }
#else
  printf("SKIP test_options_past_address_space: no user address-space limit known on this platform\n");
#endif
}
END_TEST

/* Element counts past int64 and size_t, on each function's output. */
START_TEST(test_overflowing_dims) {
  const int64_t p21 = (int64_t)1 << 21, p28 = (int64_t)1 << 28, p31 = (int64_t)1 << 31;
  EACH_CALL(kind) {
    call_args a0, a;
    valid_args(&a0, kind);
    a = a0;
    repoint(&a, &a0);
    a.op = NULL;
    /* Broadcast inputs (stride 0) keep their extents tiny; only the output
     * and the counts are huge: 2^21 * 2^21 * 2^21 * DV > 2^63. */
    a.q.shape[0] = a.k.shape[0] = a.v.shape[0] = p21;
    a.q.shape[1] = p21, a.k.shape[1] = a.v.shape[1] = 1;
    a.q.shape[2] = p21;
    for (int d = 0; d < 3; ++d) a.q.stride[d] = a.k.stride[d] = a.v.stride[d] = 0;
    vecattn_tensor *o = a.outp;
    o->shape[0] = o->shape[1] = o->shape[2] = p21;
    o->stride[2] = o->shape[3], o->stride[1] = o->stride[2] * p21, o->stride[0] = o->stride[1] * p21;
    expect(kind, &a, VECATTN_EOVERFLOW, "output 2^63+ elements");
    /* q [1, 2^31, 2^28, D]: 2^62 elements fit int64, their bytes not size_t. */
    a = a0, repoint(&a, &a0), a.op = NULL;
    a.q.shape[0] = a.k.shape[0] = a.v.shape[0] = 1;
    a.q.shape[1] = p31, a.q.shape[2] = p28, a.q.stride[1] = a.q.stride[2] = 0;
    a.k.shape[1] = a.v.shape[1] = 1;
    o = a.outp;
    o->shape[0] = 1, o->shape[1] = p31, o->shape[2] = p28;
    o->stride[2] = o->shape[3], o->stride[1] = o->stride[2] * p28, o->stride[0] = 0;
    expect(kind, &a, VECATTN_EOVERFLOW, "q [1,2^31,2^28,8]: bytes overflow size_t");
  }
}
END_TEST

/* Outputs whose own elements alias: later writes would clobber earlier ones. */
START_TEST(test_output_aliases_itself) {
  EACH_CALL(kind) {
    call_args a0, a;
    valid_args(&a0, kind);
    CASE_WANT(a.outp->stride[2] = 0, "out rows all at one address", VECATTN_EINVAL);
    CASE_WANT(a.outp->stride[1] = 0, "out heads at one address", VECATTN_EINVAL);
    CASE_WANT(a.outp->stride[0] = a.outp->stride[1], "out batch 1 = head 1", VECATTN_EINVAL);
    CASE_WANT(a.outp->stride[2] = a.outp->shape[3] - 1, "out rows overlap by one", VECATTN_EINVAL);
    /* a permuted but injective layout is fine: [b][s][h][d] */
    CASE_WANT((a.outp->stride[1] = a.outp->shape[3], a.outp->stride[2] = HQ * a.outp->shape[3]), "out as bshd",
         VECATTN_OK);
  }
}
END_TEST

/* out and lse against every other buffer of the call, options included. */
START_TEST(test_overlap) {
  char what[128];
  EACH_CALL(kind) {
    call_args a0;
    valid_args(&a0, kind);
    const int64_t out_n = tu_numel(a0.outp), lse_n = B * HQ * NQ;
    struct {
      const char *name;
      const void *lo;
      int64_t floats;
    } inputs[] = {
        {"q", arena + OFF_Q, OFF_K - OFF_Q},           {"k", arena + OFF_K, OFF_V - OFF_K},
        {"bias", arena + OFF_BIAS, OFF_ALIBI - OFF_BIAS}, {"alibi", arena + OFF_ALIBI, HQ},
        {"kv_len", arena + OFF_KVLEN, B},              {"v", arena + OFF_V, OFF_BIAS - OFF_V},
        {"fn.w (W_q)", arena + OFF_FW, DA * D},        {"fn.u (W_k)", arena + OFF_FU, DA * D},
        {"fn.v_a", arena + OFF_FV, DA},
    };
    const size_t n_inputs = kind == CALL_WEIGHTS ? 5 : kind == CALL_SDPA ? 6 : 9;
    for (size_t i = 0; i < n_inputs; ++i) {
      const float *lo = inputs[i].lo, *last = lo + inputs[i].floats - 1;
      /* out: starting on the input's last element, ending on its first, inside */
      const float *starts[] = {last, lo - out_n + 1, lo};
      static const char *const how[] = {"starts on its last element", "ends on its first element",
                                        "starts at its start"};
      for (int s = 0; s < 3; ++s) {
        call_args a = a0;
        repoint(&a, &a0);
        a.outp->data = (float *)starts[s];
        snprintf(what, sizeof what, "out %s of %s", how[s], inputs[i].name);
        expect(kind, &a, VECATTN_EINVAL, what);
      }
      const float *lse_starts[] = {last, lo - lse_n + 1};
      for (int s = 0; s < 2; ++s) {
        call_args a = a0;
        repoint(&a, &a0);
        a.o.lse = (float *)lse_starts[s];
        snprintf(what, sizeof what, "lse %s of %s", how[s], inputs[i].name);
        expect(kind, &a, VECATTN_EINVAL, what);
      }
    }
    /* lse and out against each other */
    call_args a = a0;
    repoint(&a, &a0);
    a.o.lse = (float *)a.outp->data + out_n - 1;
    expect(kind, &a, VECATTN_EINVAL, "lse starts on out's last element");
    a.o.lse = (float *)a.outp->data - lse_n + 1;
    expect(kind, &a, VECATTN_EINVAL, "lse ends on out's first element");
    a.o.lse = (float *)a.outp->data;
    expect(kind, &a, VECATTN_EINVAL, "lse == out");
    /* adjacent is fine */
    a.o.lse = (float *)a.outp->data + out_n;
    expect(kind, &a, VECATTN_OK, "lse right after out");
  }
}
END_TEST

START_TEST(test_bad_options) {
  static const float bad_scale[] = {NAN, INFINITY, -INFINITY};
  char what[64];
  EACH_CALL(kind) {
    call_args a0, a;
    valid_args(&a0, kind);
    for (int i = 0; i < 3; ++i) {
      snprintf(what, sizeof what, "scale=%g", (double)bad_scale[i]);
      CASE(a.o.scale = bad_scale[i], what);
    }
    CASE(a.o.window = -1, "window -1");
    CASE(a.o.window = INT64_MIN, "window INT64_MIN");
    CASE(a.o.num_threads = -1, "num_threads -1");
    CASE(a.o.num_threads = INT_MIN, "num_threads INT_MIN");
    int32_t *kv = kv_len_slots();
    static const int32_t bad_kv[] = {-1, NK + 1, INT32_MIN, INT32_MAX};
    for (int i = 0; i < 4; ++i) {
      kv[1] = bad_kv[i];
      snprintf(what, sizeof what, "kv_len[1]=%d", (int)bad_kv[i]);
      CASE((void)0, what);
    }
    kv[1] = NK - 2;
    if (kind == CALL_ATTEND) {
      CASE(a.fn.kind = (vecattn_score)4, "score kind 4");
      CASE(a.fn.kind = (vecattn_score)-1, "score kind -1");
      CASE(a.fn.kind = (vecattn_score)INT_MAX, "score kind INT_MAX");
      CASE(a.fn.attn_dim = 0, "attn_dim 0");
      CASE(a.fn.attn_dim = -1, "attn_dim -1");
      CASE(a.fn.attn_dim = INT64_MIN, "attn_dim INT64_MIN");
      CASE(a.fn.attn_dim = (int64_t)1 << 40, "attn_dim 2^40");
    }
  }
}
END_TEST

/* A window far larger than the keys is no window at all; the key-range
 * arithmetic must not overflow on the way (Nq > Nk puts the diagonal left
 * of key 0). */
START_TEST(test_huge_window) {
  static const int64_t windows[] = {NK, NK + NQ, INT64_MAX / 2, INT64_MAX};
  char what[64];
  EACH_CALL(kind) for (int causal = 0; causal < 2; ++causal) {
    /* Nq = 5 queries over the first 2 keys. */
    call_args a;
    valid_args(&a, kind);
    a.k.shape[2] = a.v.shape[2] = 2;
    a.w.shape[3] = 2, a.w.stride[2] = 2, a.w.stride[1] = NQ * 2, a.w.stride[0] = HQ * NQ * 2;
    a.o.bias = NULL, a.o.kv_len = NULL, a.o.causal = causal;
    a.o.window = 0;
    tu_poison(arena + OFF_OUT, OFF_END - OFF_OUT);
    expect(kind, &a, VECATTN_OK, "window 0");
    float ref[OFF_END - OFF_OUT];
    memcpy(ref, arena + OFF_OUT, sizeof ref);
    for (size_t i = 0; i < sizeof windows / sizeof windows[0]; ++i) {
      a.o.window = windows[i];
      tu_poison(arena + OFF_OUT, OFF_END - OFF_OUT);
      snprintf(what, sizeof what, "window %lld, causal %d", (long long)windows[i], causal);
      expect(kind, &a, VECATTN_OK, what);
      for (int e = 0; e < OFF_END - OFF_OUT; ++e)
        ck_assert_msg(memcmp(&ref[e], arena + OFF_OUT + e, sizeof(float)) == 0,
                      "%s(%s): result differs from window 0 at float %d of out|weights|lse: %g vs %g",
                      call_name[kind], what, e, (double)ref[e], (double)arena[OFF_OUT + e]);
    }
  }
}
END_TEST

START_TEST(test_isa_enums) {
  const vecattn_isa before = vecattn_active_isa();
  const int bad[] = {-1, VECATTN_ISA_COUNT, 99, INT_MAX, INT_MIN};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    const vecattn_isa isa = (vecattn_isa)bad[i];
    ck_assert_msg(vecattn_set_isa(isa) == VECATTN_EUNSUPPORTED, "set_isa(%d) accepted", bad[i]);
    ck_assert_msg(!vecattn_isa_supported(isa), "isa_supported(%d) is true", bad[i]);
    ck_assert_msg(!vecattn_isa_compiled(isa), "isa_compiled(%d) is true", bad[i]);
    const char *name = vecattn_isa_name(isa);
    ck_assert_msg(name && name[0], "isa_name(%d) is empty", bad[i]);
    ck_assert_msg(vecattn_active_isa() == before, "failed set_isa(%d) changed the active ISA", bad[i]);
  }
  for (int i = 0; i < TU_ISA_COUNT; ++i)
    if (!vecattn_isa_supported(tu_all_isas[i])) {
      ck_assert_int_eq(vecattn_set_isa(tu_all_isas[i]), VECATTN_EUNSUPPORTED);
      ck_assert_msg(vecattn_active_isa() == before, "failed set_isa(%s) changed the active ISA",
                    vecattn_isa_name(tu_all_isas[i]));
    }
  vecattn_isa out = VECATTN_ISA_SCALAR;
  ck_assert_int_eq(vecattn_isa_from_name(NULL, &out), -1);
  ck_assert_int_eq(vecattn_isa_from_name("avx2", NULL), -1);
  ck_assert_int_eq(vecattn_isa_from_name("", &out), -1);
  ck_assert_int_eq(vecattn_isa_from_name("AVX2 ", &out), -1);
  ck_assert_int_eq(out, VECATTN_ISA_SCALAR);
  const int codes[] = {1, -5, 100, INT_MAX, INT_MIN};
  for (size_t i = 0; i < sizeof codes / sizeof codes[0]; ++i) {
    const char *m = vecattn_strerror((vecattn_status)codes[i]);
    ck_assert_msg(m && m[0], "strerror(%d) empty", codes[i]);
  }
}
END_TEST


/* ---- the layer API: matmul, KV cache, MHA ---- */

enum { DM = 8, NH = 2, NKV = 1, HD = 4, LB = 2, LS = 3, MAXSEQ = 4 };
enum { WQ_N = NH * HD * DM, WKV_N = NKV * HD * DM, X_N = LB * LS * DM };

static float *lw, *lx, *ly; /* weights (wq, wk, wv, wo), x, y; guarded */

static void layer_setup(void) {
  tu_reseed(0x1A7E);
  lw = tu_guarded_alloc((2 * WQ_N + 2 * WKV_N) * sizeof(float), 0);
  lx = tu_guarded_alloc(X_N * sizeof(float), 4);
  ly = tu_guarded_alloc(X_N * sizeof(float), 8);
  tu_fill_normal(lw, 2 * WQ_N + 2 * WKV_N);
  tu_fill_normal(lx, X_N);
}

static void layer_teardown(void) { tu_guarded_free(lw), tu_guarded_free(lx), tu_guarded_free(ly); }

static vecattn_mha_weights layer_weights(void) {
  vecattn_mha_weights w;
  memset(&w, 0, sizeof w);
  w.d_model = DM, w.n_heads = NH, w.n_kv_heads = NKV, w.head_dim = HD;
  w.wq = lw, w.wk = lw + WQ_N, w.wv = lw + WQ_N + WKV_N, w.wo = lw + WQ_N + 2 * WKV_N;
  w.rope = 1;
  return w;
}

/* A rejected layer call: status, message, y untouched, inputs unchanged. */
static void expect_layer(vecattn_status got, vecattn_status want, const char *fn, const char *what,
                         const float *x_before, const float *w_before) {
  ck_assert_msg(got == want, "%s(%s): status %d (%s), want %d", fn, what, (int)got, vecattn_strerror(got), (int)want);
  ck_assert_msg(vecattn_strerror(got)[0], "%s(%s): empty strerror", fn, what);
  for (int i = 0; i < X_N; ++i) ck_assert_msg(tu_is_poison(ly[i]), "%s(%s): failed but wrote y[%d]", fn, what, i);
  ck_assert_msg(memcmp(x_before, lx, X_N * sizeof(float)) == 0, "%s(%s): wrote into x", fn, what);
  ck_assert_msg(memcmp(w_before, lw, (2 * WQ_N + 2 * WKV_N) * sizeof(float)) == 0, "%s(%s): wrote into weights",
                fn, what);
  ck_assert_msg(tu_guard_ok(lx) && tu_guard_ok(ly) && tu_guard_ok(lw), "%s(%s): wrote outside a buffer", fn, what);
}

START_TEST(test_matmul_args) {
  float *xb = tu_snapshot(lx, X_N * sizeof(float)), *wb = tu_snapshot(lw, (2 * WQ_N + 2 * WKV_N) * sizeof(float));
  const int64_t m = LB * LS, k = DM, n = DM; /* y [m x n] fills ly exactly */
  const int64_t huge = (int64_t)1 << 40;
#define MM(x, mm, kk, w, nn, bias, y, th, want, what)                            \
  do {                                                                           \
    tu_poison(ly, X_N);                                                          \
    expect_layer(vecattn_matmul(x, mm, kk, w, nn, bias, y, th), want, "vecattn_matmul", what, xb, wb); \
  } while (0)
  MM(NULL, m, k, lw, n, NULL, ly, 1, VECATTN_EINVAL, "x NULL");
  MM(lx, m, k, NULL, n, NULL, ly, 1, VECATTN_EINVAL, "w NULL");
  MM(lx, m, k, lw, n, NULL, NULL, 1, VECATTN_EINVAL, "y NULL");
  MM(lx, 0, k, lw, n, NULL, ly, 1, VECATTN_EINVAL, "m 0");
  MM(lx, m, -1, lw, n, NULL, ly, 1, VECATTN_EINVAL, "k -1");
  MM(lx, m, k, lw, INT64_MIN, NULL, ly, 1, VECATTN_EINVAL, "n INT64_MIN");
  MM(lx, m, k, lw, n, NULL, ly, -1, VECATTN_EINVAL, "num_threads -1");
  MM(lx, huge, huge, lw, n, NULL, ly, 1, VECATTN_EOVERFLOW, "m*k 2^80");
  MM(lx, m, huge * 16, lw, huge * 16, NULL, ly, 1, VECATTN_EOVERFLOW, "k*n 2^88");
  MM(lx, 1, k, lw, n, NULL, lx + DM - 1, 1, VECATTN_EINVAL, "y starts on x's last element");
  MM(lx, 1, k, lw, n, NULL, lw + n * k - 1, 1, VECATTN_EINVAL, "y starts on w's last element");
  MM(lx, 1, k, lw, n, ly + n - 1, ly, 1, VECATTN_EINVAL, "y ends on bias's first element");
  ck_assert_int_eq(vecattn_matmul(lx, 1, k, lw, n, lx + 3, ly, 1), VECATTN_OK); /* inputs may overlap */
#if defined(__x86_64__) || defined(__aarch64__)
  float *const top = user_space_top();
  MM(lx, m, k, lw, n, NULL, top, 1, VECATTN_EOVERFLOW, "y at the top of user space");
  MM(lx, m, k, top, n, NULL, ly, 1, VECATTN_EOVERFLOW, "w at the top of user space");
  MM(lx, m, k, lw, n, top, ly, 1, VECATTN_EOVERFLOW, "bias at the top of user space");
  /* vecattn_convert: the same limit */
  float tmp[64];
  ck_assert_int_eq(vecattn_convert(tmp, VECATTN_F32, top, VECATTN_F16, 64), VECATTN_EOVERFLOW);
  ck_assert_int_eq(vecattn_convert(top, VECATTN_BF16, tmp, VECATTN_F32, 64), VECATTN_EOVERFLOW);
  ck_assert_int_eq(vecattn_convert(tmp, VECATTN_F32, (void *)UINTPTR_MAX, VECATTN_F32, 1), VECATTN_EOVERFLOW);
#endif
#undef MM
  free(xb), free(wb);
}
END_TEST

START_TEST(test_kv_cache_args) {
  /* On error *c is left alone or set to NULL, never to something to free. */
  vecattn_kv_cache *c = (vecattn_kv_cache *)&c;
  vecattn_kv_cache *const sentinel = c;
  const int64_t huge = (int64_t)1 << 40;
  const int64_t bad[][4] = {{0, 1, 1, 1}, {1, 0, 1, 1}, {1, 1, -1, 1}, {1, 1, 1, INT64_MIN}};
  for (int i = 0; i < 4; ++i) {
    ck_assert_int_eq(vecattn_kv_cache_create(&c, bad[i][0], bad[i][1], bad[i][2], bad[i][3]), VECATTN_EINVAL);
    ck_assert_msg(c == sentinel || c == NULL, "failed create left *c = %p", (void *)c);
  }
  ck_assert_int_eq(vecattn_kv_cache_create(&c, huge, huge, 1, 1), VECATTN_EOVERFLOW);
  ck_assert_int_eq(vecattn_kv_cache_create(&c, 1, 1, huge, huge), VECATTN_EOVERFLOW);
  ck_assert_msg(c == sentinel || c == NULL, "failed create left *c = %p", (void *)c);
  ck_assert_int_eq(vecattn_kv_cache_create(NULL, 1, 1, 1, 1), VECATTN_EINVAL);
  ck_assert_int_eq(vecattn_kv_cache_len(NULL), 0);
  ck_assert_int_eq(vecattn_kv_cache_reset(NULL), VECATTN_EINVAL);
  vecattn_kv_cache_destroy(NULL);
}
END_TEST

START_TEST(test_mha_args) {
  float *xb = tu_snapshot(lx, X_N * sizeof(float)), *wb = tu_snapshot(lw, (2 * WQ_N + 2 * WKV_N) * sizeof(float));
  const vecattn_mha_weights w0 = layer_weights();
  vecattn_mha_weights w;
  vecattn_sdpa_opts o = {0};
  o.causal = 1;
  vecattn_kv_cache *cache, *wrong_batch, *wrong_dim, *small;
  ck_assert_int_eq(vecattn_kv_cache_create(&cache, LB, NKV, HD, MAXSEQ), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_create(&wrong_batch, LB + 1, NKV, HD, MAXSEQ), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_create(&wrong_dim, LB, NKV, HD + 2, MAXSEQ), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_create(&small, LB, NKV, HD, LS - 1), VECATTN_OK);
#define FWD(mutation, xx, batch, seq, c, yy, opts, want, what)                                        \
  do {                                                                                                 \
    w = w0;                                                                                            \
    mutation;                                                                                          \
    tu_poison(ly, X_N);                                                                                \
    expect_layer(vecattn_mha_forward(&w, xx, batch, seq, c, yy, opts), want, "vecattn_mha_forward", what, xb, wb); \
  } while (0)
  FWD((void)0, lx, LB, LS, NULL, NULL, &o, VECATTN_EINVAL, "y NULL");
  FWD((void)0, NULL, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "x NULL");
  FWD(w.wq = NULL, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "wq NULL");
  FWD(w.wo = NULL, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "wo NULL");
  FWD(w.d_model = 0, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "d_model 0");
  FWD(w.n_heads = -2, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "n_heads -2");
  FWD(w.n_kv_heads = -1, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "n_kv_heads -1");
  FWD((w.n_heads = 3, w.n_kv_heads = 2), lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "n_heads 3 % n_kv_heads 2");
  FWD(w.head_dim = 0, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "head_dim 0");
  FWD(w.rope = 2, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "rope 2");
  FWD(w.rope_theta = -1.0f, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "rope_theta -1");
  FWD(w.rope_theta = NAN, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "rope_theta NaN");
  FWD((void)0, lx, 0, LS, NULL, ly, &o, VECATTN_EINVAL, "batch 0");
  FWD((void)0, lx, LB, -1, NULL, ly, &o, VECATTN_EINVAL, "seq -1");
  FWD((void)0, lx, (int64_t)1 << 40, (int64_t)1 << 40, NULL, ly, &o, VECATTN_EOVERFLOW, "batch*seq 2^80");
  FWD(w.d_model = (int64_t)1 << 62, lx, LB, LS, NULL, ly, &o, VECATTN_EOVERFLOW, "d_model 2^62");
  o.num_threads = -1;
  FWD((void)0, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "num_threads -1");
  o.num_threads = 0;
  FWD((void)0, lx, LB, LS, wrong_batch, ly, &o, VECATTN_EINVAL, "cache batch differs");
  FWD((void)0, lx, LB, LS, wrong_dim, ly, &o, VECATTN_EINVAL, "cache head_dim differs");
  FWD((void)0, lx, LB, LS, small, ly, &o, VECATTN_ENOSPC, "cache without room");
  ck_assert_int_eq(vecattn_kv_cache_len(small), 0);
  /* fill the cache to MAXSEQ - 1, then one call too many must leave it as it is */
  tu_poison(ly, X_N);
  ck_assert_int_eq(vecattn_mha_forward(&w0, lx, LB, LS, cache, ly, &o), VECATTN_OK);
  ck_assert_int_eq(vecattn_kv_cache_len(cache), LS);
  FWD((void)0, lx, LB, 2, cache, ly, &o, VECATTN_ENOSPC, "cache overflow by one");
  ck_assert_int_eq(vecattn_kv_cache_len(cache), LS);
  /* outputs against inputs: lse and y may not land on x (y == x is in place), weights, biases */
  float *const wo = lw + WQ_N + 2 * WKV_N;
  vecattn_sdpa_opts ol = o;
  ol.lse = lx;
  FWD((void)0, lx, LB, LS, NULL, ly, &ol, VECATTN_EINVAL, "lse inside x");
  ol.lse = lx + X_N - 1;
  FWD((void)0, lx, LB, LS, NULL, ly, &ol, VECATTN_EINVAL, "lse starts on x's last element");
  ol.lse = ly;
  FWD((void)0, lx, LB, LS, NULL, ly, &ol, VECATTN_EINVAL, "lse == y");
  ol.lse = lw + 5;
  FWD((void)0, lx, LB, LS, NULL, ly, &ol, VECATTN_EINVAL, "lse inside wq");
  ol.lse = lx + 2;
  FWD((void)0, lx, LB, LS, NULL, lx, &ol, VECATTN_EINVAL, "lse inside x when y == x");
  FWD((void)0, lx, LB, LS, NULL, wo, &o, VECATTN_EINVAL, "y == wo");
  FWD((void)0, lx, LB, LS, NULL, lw + 1, &o, VECATTN_EINVAL, "y inside wq");
  FWD(w.bo = ly + 3, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "bo inside y");
  FWD(w.bq = ly + X_N - 1, lx, LB, LS, NULL, ly, &o, VECATTN_EINVAL, "bq starts on y's last element");
  const int32_t kvl[LB] = {LS, LS};
  ol = o, ol.kv_len = kvl, ol.lse = (float *)(void *)kvl;
  FWD((void)0, lx, LB, LS, NULL, ly, &ol, VECATTN_EINVAL, "lse over opts->kv_len");
#if defined(__x86_64__) || defined(__aarch64__)
  float *const top = user_space_top();
  FWD((void)0, lx, LB, LS, NULL, top, &o, VECATTN_EOVERFLOW, "y at the top of user space");
  FWD(w.wq = top, lx, LB, LS, NULL, ly, &o, VECATTN_EOVERFLOW, "wq at the top of user space");
  FWD(w.bv = top, lx, LB, LS, NULL, ly, &o, VECATTN_EOVERFLOW, "bv at the top of user space");
  FWD((void)0, top, LB, LS, NULL, ly, &o, VECATTN_EOVERFLOW, "x at the top of user space");
  ol = o, ol.lse = top;
  FWD((void)0, lx, LB, LS, NULL, ly, &ol, VECATTN_EOVERFLOW, "lse at the top of user space");
#endif
  ck_assert_int_eq(vecattn_kv_cache_len(cache), LS);
#undef FWD
  /* cross attention: memory is x itself */
  tu_poison(ly, X_N);
  expect_layer(vecattn_mha_cross(&w0, lx, LB, LS, lx, LS, ly, &o), VECATTN_EINVAL, "vecattn_mha_cross", "causal",
               xb, wb);
  o.causal = 0;
  tu_poison(ly, X_N);
  expect_layer(vecattn_mha_cross(&w0, lx, LB, LS, NULL, LS, ly, &o), VECATTN_EINVAL, "vecattn_mha_cross",
               "memory NULL", xb, wb);
  tu_poison(ly, X_N);
  expect_layer(vecattn_mha_cross(&w0, lx, LB, LS, lx, 0, ly, &o), VECATTN_EINVAL, "vecattn_mha_cross", "seq_kv 0",
               xb, wb);
  tu_poison(ly, X_N);
  expect_layer(vecattn_mha_cross(NULL, lx, LB, LS, lx, LS, ly, &o), VECATTN_EINVAL, "vecattn_mha_cross", "w NULL",
               xb, wb);
  /* memory is an input like x, but only y == x is in place */
  {
    vecattn_sdpa_opts ol = o;
    ol.lse = lx + 1;
    tu_poison(ly, X_N);
    expect_layer(vecattn_mha_cross(&w0, ly, LB, LS, lx, LS, ly, &ol), VECATTN_EINVAL, "vecattn_mha_cross",
                 "lse inside memory", xb, wb);
    ol.lse = ly;
    tu_poison(ly, X_N);
    expect_layer(vecattn_mha_cross(&w0, lx, LB, LS, lx, LS, ly, &ol), VECATTN_EINVAL, "vecattn_mha_cross", "lse == y",
                 xb, wb);
    tu_poison(ly, X_N);
    expect_layer(vecattn_mha_cross(&w0, ly, LB, LS, lx, LS, lx + 4, &o), VECATTN_EINVAL, "vecattn_mha_cross",
                 "y inside memory", xb, wb);
    tu_poison(ly, X_N);
    expect_layer(vecattn_mha_cross(&w0, lx, LB, LS, lx, LS, lw + WQ_N, &o), VECATTN_EINVAL, "vecattn_mha_cross",
                 "y == wk", xb, wb);
  }
  vecattn_kv_cache_destroy(cache), vecattn_kv_cache_destroy(wrong_batch);
  vecattn_kv_cache_destroy(wrong_dim), vecattn_kv_cache_destroy(small);
  free(xb), free(wb);
}
END_TEST

int main(void) {
  tu_init("hardening");
  Suite *s = suite_create("hardening");
  TCase *tc = tcase_create("hardening");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_add_test(tc, test_valid_baseline);
  tcase_add_test(tc, test_null_pointers);
  tcase_add_test(tc, test_nonpositive_dims);
  tcase_add_test(tc, test_shape_mismatch);
  tcase_add_test(tc, test_bad_strides);
  tcase_add_test(tc, test_overflowing_strides);
  tcase_add_test(tc, test_strides_past_address_space);
  tcase_add_test(tc, test_options_past_address_space);
  tcase_add_test(tc, test_overflowing_dims);
  tcase_add_test(tc, test_output_aliases_itself);
  tcase_add_test(tc, test_overlap);
  tcase_add_test(tc, test_bad_options);
  tcase_add_test(tc, test_huge_window);
  tcase_add_test(tc, test_isa_enums);
  suite_add_tcase(s, tc);
  TCase *layer = tcase_create("layer");
  tcase_add_checked_fixture(layer, layer_setup, layer_teardown);
  tcase_add_test(layer, test_matmul_args);
  tcase_add_test(layer, test_kv_cache_args);
  tcase_add_test(layer, test_mha_args);
  suite_add_tcase(s, layer);
  return tu_run_suite(s);
}
