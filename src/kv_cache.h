/* The KV cache behind vecattn_kv_cache: per batch and kv head, keys and values
 * of up to max_seq positions as contiguous [max_seq][head_dim] rows of their
 * element types, so the attention kernels read them as BHSD tensors. */
#ifndef VECATTN_KV_CACHE_H
#define VECATTN_KV_CACHE_H

#include <stdint.h>

#include "kernels.h"
#include "validate.h"
#include "vecattn.h"

struct vecattn_kv_cache {
  int64_t batch, n_kv_heads, head_dim, max_seq;
  int64_t len; /* positions filled, the same for every batch row */
  vecattn_dtype k_type, v_type;
  void *k, *v; /* [batch][n_kv_heads][max_seq][head_dim] each */
};

/* EINVAL unless the cache has this batch/heads/head_dim; ENOSPC without room
 * for `seq` more positions. */
vecattn_status kv_cache_check(const vecattn_kv_cache *c, int64_t batch, int64_t n_kv_heads,
                              int64_t head_dim, int64_t seq);
/* The bytes of its key and value storage (inputs the layer's outputs avoid). */
void kv_cache_storage(const vecattn_kv_cache *c, byte_span *k, byte_span *v);

/* Converts `seq` new f32 positions into slots [len, len + seq) without
 * committing them: src rows are src[b * ld_b + s * ld_s + h * head_dim + (0 ..
 * head_dim)]. The length only grows with kv_cache_commit, so a later failure
 * leaves the cache as it was. */
void kv_cache_stage(const struct vecattn_kernels *kern, vecattn_kv_cache *c, const float *k_src,
                    const float *v_src, int64_t ld_b, int64_t ld_s, int64_t seq, int num_threads);
void kv_cache_commit(vecattn_kv_cache *c, int64_t seq);

/* The outputs of a cache read (vecattn_kv_cache_read, vecattn_paged_cache_read):
 * not both NULL, known types, q8_0 only with whole blocks, extents that fit,
 * k_out and v_out apart. Sets spans[0] (k_out) and spans[1] (v_out); empty for
 * a NULL output. `what` names the call in messages. */
vecattn_status cache_read_outputs(const char *what, int64_t n_kv_heads, int64_t head_dim, int64_t n,
                                  void *const outs[2], const vecattn_dtype types[2], byte_span spans[2]);

/* BHSD views of the first n positions, typed as stored. */
vecattn_tensor kv_cache_keys(const vecattn_kv_cache *c, int64_t n);
vecattn_tensor kv_cache_values(const vecattn_kv_cache *c, int64_t n);

#endif
