/* vecattn: attention on CPUs, one SIMD path per instruction set.
 * The contract this header implements is documented in README.md. */
#ifndef VECATTN_H
#define VECATTN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#  define VECATTN_API
#else
#  define VECATTN_API __attribute__((visibility("default")))
#endif

#define VECATTN_VERSION_MAJOR 0
#define VECATTN_VERSION_MINOR 2
#define VECATTN_VERSION_PATCH 0

/* ---- status codes ---- */
typedef enum {
  VECATTN_OK = 0,
  VECATTN_EINVAL = -1,       /* NULL where data is required, bad shape, stride, option */
  VECATTN_ENOMEM = -2,       /* memory could not be allocated */
  VECATTN_EUNSUPPORTED = -3, /* ISA not compiled in or not supported by this CPU/OS */
  VECATTN_EOVERFLOW = -4,    /* sizes whose products overflow int64/size_t, or an extent that
                                does not fit the user address space from its base pointer */
  VECATTN_ENOSPC = -5        /* a KV cache without room for the new positions */
} vecattn_status;

/* Never NULL; unknown codes get a generic message. */
VECATTN_API const char *vecattn_strerror(vecattn_status s);
/* What the last failed call on this thread found wrong, for example
 * "k.shape[2] = 5 but v.shape[2] = 6" or "kv cache full: 4096 + 1 > max_seq 4096".
 * Thread-local storage, never NULL; "" until a call on this thread has failed.
 * Successful calls leave it alone, so read it right after the failing call. */
VECATTN_API const char *vecattn_last_error(void);

/* ---- instruction-set paths ---- */
typedef enum {
  VECATTN_ISA_AUTO = 0, /* best supported (the default) */
  VECATTN_ISA_SCALAR,
  VECATTN_ISA_SSE2,
  VECATTN_ISA_AVX2,   /* AVX2 + FMA */
  VECATTN_ISA_AVX512, /* F + BW + DQ + VL, ZMM state enabled by the OS */
  VECATTN_ISA_NEON,   /* AArch64 Advanced SIMD */
  VECATTN_ISA_AVX512BF16, /* AVX-512 plus AVX512_BF16: the avx512 kernels, and bf16 products
                             (VDPBF16PS) for calls that set opts->reduced_precision */
  VECATTN_ISA_SVE,    /* AArch64 SVE, one kernel build per vector length (128, 256, 512 bits) */
  VECATTN_ISA_NEON32, /* 32-bit ARM (armhf) NEON, non-fused multiply-add */
  VECATTN_ISA_NEONBF16, /* AArch64 NEON plus BF16 (BFDOT), I8MM (SMMLA) and dot product: the
                           neondot kernels, and for calls that set opts->reduced_precision bf16
                           products and int8 matrix products for q8_0 K in prefill */
  VECATTN_ISA_NEONDOT,  /* AArch64 NEON plus the dot product (SDOT, ARMv8.2 asimddp): the neon
                           kernels, and int8 products for q8_0 K in decode for calls that set
                           opts->reduced_precision */
  VECATTN_ISA_SVEBF16   /* AArch64 SVE plus BF16 and I8MM (SVE forms), 256- and 512-bit vectors:
                           the sve kernels, and for calls that set opts->reduced_precision bf16
                           products and int8 matrix products for q8_0 K in prefill */
} vecattn_isa;
#define VECATTN_ISA_COUNT 12 /* number of enumerators above, AUTO included */

VECATTN_API vecattn_isa vecattn_active_isa(void);          /* what calls use now */
VECATTN_API int vecattn_isa_supported(vecattn_isa isa);     /* compiled in AND CPU+OS support it */
VECATTN_API int vecattn_isa_compiled(vecattn_isa isa);      /* compiled into this build */
VECATTN_API vecattn_status vecattn_set_isa(vecattn_isa isa); /* AUTO restores the best */
VECATTN_API const char *vecattn_isa_name(vecattn_isa isa);   /* "scalar", ..., "auto"; "unknown" otherwise */
/* Parses a name as accepted by VECATTN_ISA ("auto", "scalar", "sse2", "avx2", "avx512",
 * "neon", "avx512bf16", "sve", "neon32", "neonbf16", "neondot", "svebf16", in any
 * letter case); returns 0 and sets *isa, or -1. */
VECATTN_API int vecattn_isa_from_name(const char *name, vecattn_isa *isa);
/* Space-separated CPU features the dispatcher saw, e.g. "sse2 avx2 fma avx512f ...
 * os-ymm os-zmm" on x86, "asimd asimdhp asimddp i8mm bf16 sve sve-vl256" on aarch64
 * (sve-vl<bits>: the SVE vector length), "neon vfpv4" on 32-bit ARM. Static
 * storage, never NULL. */
VECATTN_API const char *vecattn_cpu_features(void);

/* ---- element types ---- */
typedef enum {
  VECATTN_F32 = 0, /* IEEE binary32: the default, what a zeroed tensor holds */
  VECATTN_F16,     /* IEEE binary16 */
  VECATTN_BF16,    /* bfloat16: the upper 16 bits of a binary32 */
  VECATTN_Q8_0     /* llama.cpp's q8_0: blocks of 32 int8 along the last dimension,
                      each preceded by one f16 scale (34 bytes); value = scale * int8 */
} vecattn_dtype;
#define VECATTN_DTYPE_COUNT 4
#define VECATTN_Q8_0_BLOCK 32       /* elements per q8_0 block */
#define VECATTN_Q8_0_BLOCK_BYTES 34 /* bytes per q8_0 block: f16 scale + 32 int8 */

VECATTN_API const char *vecattn_dtype_name(vecattn_dtype t); /* "f32", "f16", "bf16", "q8_0"; "unknown" */
/* Parses a name as vecattn_dtype_name prints it; returns 0 and sets *t, or -1. */
VECATTN_API int vecattn_dtype_from_name(const char *name, vecattn_dtype *t);
/* Bytes n elements of type t occupy (for Q8_0, n a multiple of 32); 0 if t is
 * unknown, n < 0, n is not whole q8_0 blocks or the size overflows size_t. */
VECATTN_API size_t vecattn_dtype_bytes(vecattn_dtype t, int64_t n);

/* ---- tensors ----
 * Strides count elements for every type. For Q8_0 the last dimension must be a
 * multiple of 32 and every stride but stride[3] a multiple of 32 too: element
 * offset e (a multiple of 32) starts at byte (e / 32) * 34 of data, so a
 * llama.cpp q8_0 KV cache is read in place. */
typedef struct {
  void *data;
  int64_t shape[4];    /* [batch, heads, seq, dim] */
  int64_t stride[4];   /* in elements; stride[3] must be 1 */
  vecattn_dtype dtype; /* element type; 0 (zero-initialised) is F32 */
} vecattn_tensor;

/* contiguous [b][h][s][d] f32 */
VECATTN_API vecattn_tensor vecattn_tensor_bhsd(float *data, int64_t b, int64_t h, int64_t s, int64_t d);
/* contiguous [b][s][h][d] f32, as QKV projections produce */
VECATTN_API vecattn_tensor vecattn_tensor_bshd(float *data, int64_t b, int64_t s, int64_t h, int64_t d);
/* The same layouts for any element type. */
VECATTN_API vecattn_tensor vecattn_tensor_bhsd_typed(void *data, vecattn_dtype dtype, int64_t b, int64_t h,
                                                     int64_t s, int64_t d);
VECATTN_API vecattn_tensor vecattn_tensor_bshd_typed(void *data, vecattn_dtype dtype, int64_t b, int64_t s,
                                                     int64_t h, int64_t d);

/* Converts n elements from src (type from) to dst (type to), on the active ISA.
 * Rounding is to nearest, ties to even; NaN stays NaN; f32 beyond the f16 range
 * becomes +-Inf. Q8_0 follows ggml's quantizer: per block of 32, d = max|x| / 127,
 * stored as f16, and int8 = round(x * (1 / d)) (0 when d is 0), ties to even as in
 * ggml's SIMD quantizers; n must then be a multiple of 32.
 * Two non-f32 types convert through f32. EINVAL: NULL pointers, n < 0, unknown
 * types, n not whole blocks, src and dst overlapping. */
VECATTN_API vecattn_status vecattn_convert(const void *src, vecattn_dtype from, void *dst, vecattn_dtype to,
                                           int64_t n);

/* ---- scaled dot-product attention ---- */
typedef struct {
  float scale;                /* 0 -> 1/sqrt(head_dim) */
  int causal;                 /* query i sees key j only if j <= i + (Nk - Nq) (bottom-right aligned) */
  int64_t window;             /* > 0: query i also sees only keys j > i + (Nk - Nq) - window; 0 = off */
  const int32_t *kv_len;      /* optional [batch]: keys j >= kv_len[b] are masked (padding) */
  const vecattn_tensor *bias; /* optional additive bias, logical shape [B,Hq,Nq,Nk]; stride 0 broadcasts; -INFINITY masks */
  const float *alibi_slopes;  /* optional [Hq]: adds slope[h] * (j - (i + Nk - Nq)) */
  float *lse;                 /* optional out [B,Hq,Nq]: natural-log sum of exp of the scaled, masked scores */
  int num_threads;            /* 0 -> OpenMP default; 1 -> serial */
  int reduced_precision;      /* != 0: allow bf16 products (Q, K, V and the softmax weights rounded
                                 to bf16, f32 accumulation) where the active ISA has them (avx512bf16,
                                 neonbf16, svebf16), and int8 products against q8_0 K (queries
                                 quantised to int8 per 32-element block, exact int32 sums) where it
                                 has those (in decode: neondot, neonbf16, sve, svebf16; in prefill:
                                 neonbf16, svebf16, whose V products then stay bf16); 0: products in
                                 f32 whatever the input types */
} vecattn_sdpa_opts;          /* zero-initialised = plain non-causal attention */

VECATTN_API vecattn_status vecattn_sdpa(const vecattn_tensor *q, /* [B, Hq,  Nq, D ] */
                                        const vecattn_tensor *k, /* [B, Hkv, Nk, D ] */
                                        const vecattn_tensor *v, /* [B, Hkv, Nk, Dv] */
                                        vecattn_tensor *out,     /* [B, Hq,  Nq, Dv] */
                                        const vecattn_sdpa_opts *opts); /* NULL = defaults */

/* Writes the softmax probabilities vecattn_sdpa uses (same masks, same scale);
 * opts->lse, if set, receives the same log-sum-exp as vecattn_sdpa writes. */
VECATTN_API vecattn_status vecattn_attention_weights(const vecattn_tensor *q, const vecattn_tensor *k,
                                                     vecattn_tensor *weights, /* [B, Hq, Nq, Nk] */
                                                     const vecattn_sdpa_opts *opts);

/* ---- ragged batches (FlashAttention's varlen convention) ----
 * n_seqs sequences packed along the sequence dimension of batch-1 tensors:
 *   q   [1, Hq,  total_q, D ]  (packed [total_q, Hq, D] rows: vecattn_tensor_bshd(q, 1, total_q, Hq, D))
 *   k   [1, Hkv, total_k, D ], v [1, Hkv, total_k, Dv]
 *   out [1, Hq,  total_q, Dv]
 * Sequence s owns queries [cu_seqlens_q[s], cu_seqlens_q[s + 1]) and keys
 * [cu_seqlens_k[s], cu_seqlens_k[s + 1]) and attends only to its own keys: each
 * sequence is computed as vecattn_sdpa computes one batch row with Nq and Nk its
 * own lengths (causal bottom-right aligned per sequence, window, ALiBi, GQA, every
 * element type for K and V, scale, reduced_precision). opts->lse, if set, is
 * [Hq, total_q]. A sequence with no keys gets zeros and lse = -inf; one with no
 * queries writes nothing; rows past cu_seqlens_q[n_seqs] are not written.
 * All sequences run in one parallel region, long ones split by work; bitwise
 * identical for any num_threads. EINVAL: what vecattn_sdpa rejects, a batch other
 * than 1, opts->kv_len or opts->bias (per batch row; use the sequence lengths),
 * NULL cu_seqlens, n_seqs < 0, cu_seqlens that do not start at 0, decrease or end
 * past total_q / total_k, cu_seqlens overlapping out or lse. Nothing is written on
 * error. Validation reads each cu_seqlens entry once: O(n_seqs). */
VECATTN_API vecattn_status vecattn_sdpa_varlen(const vecattn_tensor *q, const vecattn_tensor *k,
                                               const vecattn_tensor *v, vecattn_tensor *out,
                                               const int32_t *cu_seqlens_q, const int32_t *cu_seqlens_k,
                                               int64_t n_seqs, const vecattn_sdpa_opts *opts);

/* ---- merging partial results over key shards (context parallelism) ----
 * parts[s] (s < n_parts) is attention over shard s of the keys, [B, Hq, Nq, Dv]
 * (f32, f16 or bf16), with its lse part_lse[s] (contiguous [B, Hq, Nq] floats), as
 * vecattn_sdpa writes them; the shards are disjoint and together cover the keys.
 * Writes the attention over all of them: lse = log(sum_s exp(part_lse[s])) and
 * out = sum_s exp(part_lse[s] - lse) * parts[s] (lse optional, [B, Hq, Nq]). A row
 * whose shard lse is -inf (masked there) is not read from that shard; a row masked
 * in every shard gets zeros and lse = -inf. Bitwise identical for any num_threads
 * (0 -> OpenMP default). EINVAL: NULL arrays, out or part_lse[s], n_parts < 1,
 * num_threads < 0, a part whose shape differs from out's, a layout or type the
 * tensors may not have, out or lse overlapping any input or each other.
 * EOVERFLOW: extents that overflow. */
VECATTN_API vecattn_status vecattn_merge(const vecattn_tensor *parts, const float *const *part_lse,
                                         int64_t n_parts, vecattn_tensor *out, float *lse, int num_threads);

/* ---- paged KV cache (many sequences in one pool, as vLLM pages its cache) ----
 * A pool of n_blocks blocks, each holding block_size token positions of keys
 * (k_type) and values (v_type) for n_kv_heads heads of head_dim elements. Block
 * b's row for kv head h and position i within the block starts at element
 *   ((b * n_kv_heads + h) * block_size + i) * head_dim
 * of the K pool (bytes as vecattn_dtype_bytes counts elements), the same in the
 * V pool, so one head's keys in a block are contiguous. Sequence ids run from 0
 * to max_seqs - 1; each sequence has a block table (block ids in any order; two
 * sequences may share blocks, e.g. a common prompt prefix) and a length:
 * position p of the sequence lives in block table[p / block_size] at p % block_size.
 * One cache belongs to one layer. Calls that change a cache (append, write,
 * set_seq, truncate, copy, release) must not run concurrently with any other call
 * on the same cache; calls that only read it (sdpa_paged, read, the getters) may
 * run together from many threads. */
typedef struct vecattn_paged_cache vecattn_paged_cache; /* opaque */
typedef struct {
  int64_t n_blocks;     /* blocks in the pool, > 0 */
  int64_t block_size;   /* token positions per block, > 0 */
  int64_t n_kv_heads;   /* > 0 */
  int64_t head_dim;     /* > 0; a multiple of 32 when a type is Q8_0 */
  vecattn_dtype k_type; /* any vecattn_dtype; 0 = F32 */
  vecattn_dtype v_type;
  int64_t max_seqs;     /* sequence ids 0 .. max_seqs - 1, > 0 */
  void *k_pool, *v_pool; /* optional caller-owned pools laid out as above (both or neither,
                            not overlapping); NULL: create allocates them once, zeroed */
} vecattn_paged_cache_desc;

/* EINVAL: NULL c or desc, sizes <= 0, unknown types, Q8_0 with head_dim % 32 != 0,
 * one pool given without the other, pools that overlap. EOVERFLOW: a pool whose
 * bytes overflow or do not fit the address space. ENOMEM. */
VECATTN_API vecattn_status vecattn_paged_cache_create(vecattn_paged_cache **c, const vecattn_paged_cache_desc *desc);
VECATTN_API void vecattn_paged_cache_destroy(vecattn_paged_cache *c); /* NULL: no-op; caller-owned pools are not freed */

/* Appends new K/V rows to sequences, taking free blocks from the pool as needed
 * (the library's own block allocator): for i < n_seqs, rows [cu_new[i], cu_new[i + 1])
 * of k_new and v_new go to positions len, len + 1, ... of sequence seq_ids[i].
 * k_new [1, Hkv, total_new, D] and v_new likewise (packed [total_new, Hkv, D]
 * rows: vecattn_tensor_bshd_typed(.., 1, total_new, Hkv, D)), f32, f16 or bf16 (or the
 * cache's own type), converted as vecattn_convert converts. A block that other
 * sequences also hold is copied before it is written (copy on write), so sharing
 * never changes another sequence. ENOSPC: not enough free blocks for all of it.
 * EINVAL: NULL arguments, a sequence id out of range or listed twice, cu_new that
 * does not start at 0, decreases or ends past total_new, shapes that do not match
 * the cache. Nothing changes on error. */
VECATTN_API vecattn_status vecattn_paged_cache_append(vecattn_paged_cache *c, const int32_t *seq_ids,
                                                      const int32_t *cu_new, int64_t n_seqs,
                                                      const vecattn_tensor *k_new, const vecattn_tensor *v_new);
/* Low level, as vLLM's slot mapping: row t of k_new and v_new (shaped as for append,
 * total_new = n_tokens) is stored at slot slots[t] = block * block_size + offset.
 * Tables and lengths are not changed (an external scheduler owns them: set_seq).
 * EINVAL: a slot outside the pool, two rows for one slot, NULL arguments, shapes
 * that do not match. Nothing is written on error. */
VECATTN_API vecattn_status vecattn_paged_cache_write(vecattn_paged_cache *c, const vecattn_tensor *k_new,
                                                     const vecattn_tensor *v_new, const int64_t *slots,
                                                     int64_t n_tokens);
/* Gives sequence seq the table blocks[0 .. n_blocks) and the length len (an external
 * scheduler's choice; blocks may repeat across sequences; the blocks seq held before
 * are released). EINVAL: seq out of range, a block id outside the pool, n_blocks < 0,
 * len < 0 or len > n_blocks * block_size, blocks NULL with n_blocks > 0. */
VECATTN_API vecattn_status vecattn_paged_cache_set_seq(vecattn_paged_cache *c, int64_t seq, const int32_t *blocks,
                                                       int64_t n_blocks, int64_t len);
/* Sequence seq's table: *blocks (valid until the next call that changes the cache)
 * and *n_blocks. EINVAL: seq out of range, NULL outputs. */
VECATTN_API vecattn_status vecattn_paged_cache_table(const vecattn_paged_cache *c, int64_t seq,
                                                     const int32_t **blocks, int64_t *n_blocks);
VECATTN_API int64_t vecattn_paged_cache_seq_len(const vecattn_paged_cache *c, int64_t seq); /* -1: bad c or seq */
VECATTN_API int64_t vecattn_paged_cache_capacity(const vecattn_paged_cache *c);    /* n_blocks * block_size; 0 for NULL */
VECATTN_API int64_t vecattn_paged_cache_free_blocks(const vecattn_paged_cache *c); /* blocks no sequence holds */
/* Keeps the first len positions of seq (0 <= len <= its length, else EINVAL), the
 * rejected tail of a speculative draft; blocks past them go back to the pool. */
VECATTN_API vecattn_status vecattn_paged_cache_truncate(vecattn_paged_cache *c, int64_t seq, int64_t len);
/* dst becomes a copy of src (beam search): it shares src's full blocks and gets its
 * own copy of a partly filled last block; dst's old blocks are released first.
 * ENOSPC: no free block for that copy. EINVAL: ids out of range. src == dst: no-op. */
VECATTN_API vecattn_status vecattn_paged_cache_copy_seq(vecattn_paged_cache *c, int64_t src, int64_t dst);
/* Empties seq: length 0, its blocks back to the pool (unless another sequence holds them). */
VECATTN_API vecattn_status vecattn_paged_cache_release(vecattn_paged_cache *c, int64_t seq);
/* As vecattn_kv_cache_read, for positions [pos0, pos0 + n) of sequence seq. */
VECATTN_API vecattn_status vecattn_paged_cache_read(const vecattn_paged_cache *c, int64_t seq, int64_t pos0,
                                                    int64_t n, void *k_out, vecattn_dtype k_type, void *v_out,
                                                    vecattn_dtype v_type);

/* Attention over the paged cache for many sequences in one call: decode steps and
 * chunked prefill in any mix. q [1, Hq, total_q, D] and out [1, Hq, total_q, D]
 * pack the queries of n_seqs sequences as vecattn_sdpa_varlen packs them
 * (cu_seqlens_q); sequence i's queries attend to all seq_len(seq_ids[i]) positions
 * of sequence seq_ids[i] (append their own K/V first), causal bottom-right aligned
 * when opts->causal: its last query sees every position. Window, ALiBi, GQA, scale,
 * lse ([Hq, total_q]), reduced_precision and num_threads as in vecattn_sdpa_varlen;
 * the result equals vecattn_sdpa_varlen over the same rows stored contiguously.
 * The workspace is O(threads x tile), never O(context). EINVAL: what
 * vecattn_sdpa_varlen rejects, NULL c or seq_ids, a sequence id out of range, a
 * sequence with more queries than positions, D or Hkv that differ from the cache's. */
VECATTN_API vecattn_status vecattn_sdpa_paged(const vecattn_tensor *q, vecattn_tensor *out,
                                              const vecattn_paged_cache *c, const int32_t *seq_ids,
                                              const int32_t *cu_seqlens_q, int64_t n_seqs,
                                              const vecattn_sdpa_opts *opts);

/* ---- classic score functions (encoder-decoder attention) ---- */
typedef enum {
  VECATTN_SCORE_DOT,        /* s = q.k */
  VECATTN_SCORE_SCALED_DOT, /* s = q.k / sqrt(D), or opts->scale */
  VECATTN_SCORE_GENERAL,    /* Luong: s = q^T W k */
  VECATTN_SCORE_ADDITIVE    /* Bahdanau: s = v^T tanh(W_q q + W_k k) */
} vecattn_score;

typedef struct {
  vecattn_score kind;
  const float *w;   /* GENERAL: W [Dq x Dk] row-major, score = q^T W k.
                       ADDITIVE: W_q [Da x Dq] */
  const float *u;   /* ADDITIVE: W_k [Da x Dk] */
  const float *v_a; /* ADDITIVE: v [Da]; score = v^T tanh(W_q q + W_k k) */
  int64_t attn_dim; /* ADDITIVE: Da */
} vecattn_score_fn;

/* Same masks, threads and guarantees as vecattn_sdpa; for GENERAL/ADDITIVE,
 * opts->scale is ignored unless non-zero and Dq may differ from Dk, and out and
 * opts->lse must not overlap the weights the kind reads (w; u and v_a): EINVAL. */
VECATTN_API vecattn_status vecattn_attend(const vecattn_score_fn *fn, const vecattn_tensor *q,
                                          const vecattn_tensor *k, const vecattn_tensor *v,
                                          vecattn_tensor *out, const vecattn_sdpa_opts *opts);

/* ---- multi-head attention layer and KV cache ---- */
typedef struct {
  int64_t d_model, n_heads, n_kv_heads, head_dim; /* n_kv_heads 0 -> n_heads */
  const float *wq, *wk, *wv, *wo; /* row-major [out x in]: wq [n_heads*head_dim x d_model],
                                     wk/wv [n_kv_heads*head_dim x d_model], wo [d_model x n_heads*head_dim] */
  const float *bq, *bk, *bv, *bo; /* optional biases */
  int rope;                       /* 0 none, 1 rotary embeddings on q and k (half-split, GPT-NeoX/Llama) */
  float rope_theta;               /* 0 -> 10000 */
} vecattn_mha_weights;

typedef struct vecattn_kv_cache vecattn_kv_cache; /* opaque */
VECATTN_API vecattn_status vecattn_kv_cache_create(vecattn_kv_cache **c, int64_t batch, int64_t n_kv_heads,
                                                   int64_t head_dim, int64_t max_seq);
/* The same with keys stored as k_type and values as v_type (any vecattn_dtype; Q8_0
 * needs head_dim % 32 == 0, else EINVAL). Appends round as vecattn_convert does. */
VECATTN_API vecattn_status vecattn_kv_cache_create_typed(vecattn_kv_cache **c, int64_t batch,
                                                         int64_t n_kv_heads, int64_t head_dim,
                                                         int64_t max_seq, vecattn_dtype k_type,
                                                         vecattn_dtype v_type);
VECATTN_API void vecattn_kv_cache_destroy(vecattn_kv_cache *c);
VECATTN_API int64_t vecattn_kv_cache_len(const vecattn_kv_cache *c);
VECATTN_API vecattn_status vecattn_kv_cache_reset(vecattn_kv_cache *c);

/* Operations beside append. One cache belongs to one layer; its length is shared by
 * every batch row. capacity(NULL) is 0, else max_seq. truncate keeps the first len
 * positions (0 <= len <= the current length, else EINVAL): a rejected speculative
 * draft is rolled back, and the next append overwrites what followed. copy_row
 * copies batch row src_b's stored positions over row dst_b (beam search; EINVAL
 * for rows out of range). read copies positions [pos0, pos0 + n) of batch row b
 * (within the length, else EINVAL) into k_out and/or v_out (either may be NULL, not
 * both), each [n_kv_heads][n][head_dim] of the type asked for: the stored bytes
 * when it is the stored type, else converted as vecattn_convert converts. EINVAL
 * also for unknown types, Q8_0 with head_dim % 32 != 0, outputs that overlap each
 * other or the cache. Nothing is changed on error. */
VECATTN_API int64_t vecattn_kv_cache_capacity(const vecattn_kv_cache *c);
VECATTN_API vecattn_status vecattn_kv_cache_truncate(vecattn_kv_cache *c, int64_t len);
VECATTN_API vecattn_status vecattn_kv_cache_copy_row(vecattn_kv_cache *c, int64_t src_b, int64_t dst_b);
VECATTN_API vecattn_status vecattn_kv_cache_read(const vecattn_kv_cache *c, int64_t b, int64_t pos0, int64_t n,
                                                 void *k_out, vecattn_dtype k_type, void *v_out,
                                                 vecattn_dtype v_type);

/* A cache holds, per batch row and kv head, up to max_seq keys and values.
 * create: all sizes > 0 (else EINVAL), EOVERFLOW/ENOMEM when it cannot be held.
 * len(NULL) is 0; reset empties it (EINVAL on NULL); destroy(NULL) is a no-op. */

/* x: [batch, seq, d_model] row-major; y: same shape. With a cache, the new keys/values
 * are appended (positions continue from the cache length) and attention covers
 * cache + new tokens; without one (NULL), plain self-attention over x.
 * opts apply to the attention step as in vecattn_sdpa (set causal = 1 for a decoder:
 * the mask is bottom-right aligned, so prefill + one-token steps over a cache equal one
 * causal call over the whole sequence; opts->lse is [batch, n_heads, seq]).
 * EINVAL: NULL w, weight matrix, x or y; sizes <= 0; n_heads % n_kv_heads != 0; rope not
 * 0 or 1; rope with an odd head_dim or rope_theta < 0; a cache whose batch, n_kv_heads or
 * head_dim differ from the call's; y overlapping a weight or bias; opts->lse overlapping x,
 * y, a weight or bias (or any other input). ENOSPC: a cache without room for seq more
 * positions (len + seq > max_seq). EOVERFLOW: sizes whose products overflow, or buffers
 * that do not fit the address space. On any error y and the cache are unchanged. y may be
 * x or overlap it (x is read in full before y is written). The kernel table (ISA) is read
 * once per call: projections and attention always run on the same path. Projections and
 * attention run on opts->num_threads threads. */
VECATTN_API vecattn_status vecattn_mha_forward(const vecattn_mha_weights *w, const float *x, int64_t batch,
                                               int64_t seq, vecattn_kv_cache *cache, float *y,
                                               const vecattn_sdpa_opts *opts);
/* Cross-attention: queries from x [batch, seq_q, d_model], keys and values from
 * memory [batch, seq_kv, d_model]; y: [batch, seq_q, d_model]. No causal mask between
 * two sequences: opts->causal != 0 is EINVAL. Rotary embeddings are not applied (memory
 * positions are unrelated to query positions; w->rope is still validated). Other opts,
 * errors and guarantees as vecattn_mha_forward. */
VECATTN_API vecattn_status vecattn_mha_cross(const vecattn_mha_weights *w, const float *x, int64_t batch,
                                             int64_t seq_q, const float *memory, int64_t seq_kv, float *y,
                                             const vecattn_sdpa_opts *opts);

/* The layer over a ragged batch and a paged cache: x [total, d_model] packs n_seqs
 * sequences' new tokens (rows [cu_seqlens[i], cu_seqlens[i + 1]) belong to
 * sequence seq_ids[i]); y likewise. Token t is rotated (w->rope) by positions[t]
 * (NULL: each sequence's tokens take the positions that follow its cache length).
 * With a cache, the new keys and values are appended to it (as
 * vecattn_paged_cache_append) and each sequence attends to its cache; without one
 * (NULL; seq_ids may then be NULL), each sequence attends to its own tokens. opts
 * as for vecattn_sdpa_paged (opts->lse [n_heads, total]). Equals one
 * vecattn_mha_forward per sequence. Errors as vecattn_mha_forward and
 * vecattn_paged_cache_append; ENOSPC leaves y and the cache unchanged. */
VECATTN_API vecattn_status vecattn_mha_forward_varlen(const vecattn_mha_weights *w, const float *x,
                                                      const int32_t *cu_seqlens, const int32_t *seq_ids,
                                                      int64_t n_seqs, const int64_t *positions,
                                                      vecattn_paged_cache *cache, float *y,
                                                      const vecattn_sdpa_opts *opts);

/* ---- rotary embeddings with a position per token ----
 * Rotates x in place as the layer does (rope = 1: half-split, GPT-NeoX/Llama; angles
 * pos * theta^(-2i/head_dim) formed in double): token t's n_heads head vectors of
 * head_dim floats start at x + t * ld and turn by positions[t]. theta 0 -> 10000.
 * For servers that run their own projections over ragged batches. EINVAL: NULL x
 * or positions, n_tokens < 0, n_heads or head_dim <= 0, odd head_dim, ld <
 * n_heads * head_dim, theta < 0 or not finite, a negative position, positions
 * overlapping x, num_threads < 0. EOVERFLOW: extents that overflow. Bitwise
 * identical for any num_threads. */
VECATTN_API vecattn_status vecattn_rope(float *x, int64_t n_tokens, int64_t ld, int64_t n_heads, int64_t head_dim,
                                        const int64_t *positions, float theta, int num_threads);

/* ---- matrix multiply (the kernel behind the layer's projections) ----
 * y[i][j] = sum_p x[i][p] * w[j][p] (+ bias[j]): x [m x k], w [n x k] ([out x in], as
 * the layer's weights), y [m x n], all row-major and contiguous; bias optional [n].
 * y must not overlap x, w or bias (EINVAL). num_threads: 0 -> OpenMP default, 1 -> serial;
 * results are bitwise identical for any num_threads on one ISA. */
VECATTN_API vecattn_status vecattn_matmul(const float *x, int64_t m, int64_t k, const float *w, int64_t n,
                                          const float *bias, float *y, int num_threads);

/* ---- version ---- */
VECATTN_API const char *vecattn_version(void);

#ifdef __cplusplus
}
#endif
#endif /* VECATTN_H */
