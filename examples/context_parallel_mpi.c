/* Context parallelism over MPI: one decode step over Nk = 2^20 keys (f16 K/V)
 * split across ranks. Each rank makes its shard's keys and values (every
 * element a hash of a fixed seed and its index, so any rank makes the same
 * numbers), runs vecattn_sdpa with lse over it, and rank 0 gathers every
 * (out, lse), merges them with vecattn_merge and checks the result against
 * one vecattn_sdpa call over all keys in its own process.
 *
 *   mpirun -np 2 ./vecattn-example-context-parallel-mpi [log2_keys]
 *
 * Exits non-zero on every rank when the merged result is off by more than 1e-5. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vecattn.h>

enum { HQ = 4, HKV = 1, D = 64, DV = 64 };
#define SEED UINT64_C(0x5eed0c0ffee)
#define TOLERANCE 1e-5

/* Uniform in [-1, 1) from (tensor, index): independent of which rank asks. */
static float element(uint64_t tensor, uint64_t index) {
  uint64_t z = SEED ^ (tensor * UINT64_C(0x9E3779B97F4A7C15)) ^ (index * UINT64_C(0xD1342543DE82EF95));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  z ^= z >> 31;
  return (float)((double)(z >> 11) * (2.0 / 9007199254740992.0) - 1.0);
}

/* Keys [k0, k1) of tensor `which` (1 = K, 2 = V) as f16 [HKV][k1 - k0][dim]. */
static uint16_t *make_kv(int which, int64_t k0, int64_t k1, int64_t dim) {
  const int64_t n = k1 - k0;
  uint16_t *kv = malloc((size_t)(HKV * n * dim) * sizeof *kv);
  float row[D > DV ? D : DV];
  if (!kv) return NULL;
  for (int64_t h = 0; h < HKV; ++h)
    for (int64_t j = k0; j < k1; ++j) {
      for (int64_t d = 0; d < dim; ++d) row[d] = element((uint64_t)which, (uint64_t)((h * (INT64_C(1) << 40) + j) * dim + d));
      vecattn_convert(row, VECATTN_F32, kv + (h * n + (j - k0)) * dim, VECATTN_F16, dim);
    }
  return kv;
}

/* Attention of the fixed query over keys [k0, k1): out [HQ][DV], lse [HQ]. */
static int attend_range(int64_t k0, int64_t k1, const float *q, float *out, float *lse) {
  uint16_t *k = make_kv(1, k0, k1, D), *v = make_kv(2, k0, k1, DV);
  int rc = 1;
  if (k && v) {
    vecattn_tensor tq = vecattn_tensor_bhsd((float *)q, 1, HQ, 1, D);
    vecattn_tensor tk = vecattn_tensor_bhsd_typed(k, VECATTN_F16, 1, HKV, k1 - k0, D);
    vecattn_tensor tv = vecattn_tensor_bhsd_typed(v, VECATTN_F16, 1, HKV, k1 - k0, DV);
    vecattn_tensor to = vecattn_tensor_bhsd(out, 1, HQ, 1, DV);
    vecattn_sdpa_opts opts = {0};
    opts.lse = lse;
    vecattn_status s = vecattn_sdpa(&tq, &tk, &tv, &to, &opts);
    if (s != VECATTN_OK) fprintf(stderr, "vecattn_sdpa: %s\n", vecattn_strerror(s));
    rc = s != VECATTN_OK;
  } else {
    fprintf(stderr, "out of memory for keys [%lld, %lld)\n", (long long)k0, (long long)k1);
  }
  free(k), free(v);
  return rc;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  const int log2_keys = argc > 1 ? atoi(argv[1]) : 20;
  if (log2_keys < 1 || log2_keys > 30) {
    if (rank == 0) fprintf(stderr, "usage: %s [log2_keys in 1..30]\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  const int64_t nk = INT64_C(1) << log2_keys;
  const int64_t k0 = nk * rank / size, k1 = nk * (rank + 1) / size;

  float q[HQ * D], out[HQ * DV], lse[HQ];
  for (int i = 0; i < HQ * D; ++i) q[i] = element(0, (uint64_t)i);
  int failed = 0;
  const double t0 = MPI_Wtime();
  if (k1 > k0) {
    failed = attend_range(k0, k1, q, out, lse);
  } else { /* more ranks than keys: an empty shard is a fully masked one */
    memset(out, 0, sizeof out);
    for (int h = 0; h < HQ; ++h) lse[h] = -INFINITY;
  }
  const double t_shard = MPI_Wtime() - t0;

  float *all_out = NULL, *all_lse = NULL;
  if (rank == 0) {
    all_out = malloc((size_t)size * sizeof out);
    all_lse = malloc((size_t)size * sizeof lse);
    if (!all_out || !all_lse) MPI_Abort(MPI_COMM_WORLD, 1);
  }
  MPI_Gather(out, HQ * DV, MPI_FLOAT, all_out, HQ * DV, MPI_FLOAT, 0, MPI_COMM_WORLD);
  MPI_Gather(lse, HQ, MPI_FLOAT, all_lse, HQ, MPI_FLOAT, 0, MPI_COMM_WORLD);
  double t_slowest;
  MPI_Reduce(&t_shard, &t_slowest, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
  MPI_Allreduce(MPI_IN_PLACE, &failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);

  int bad = failed;
  if (rank == 0 && !failed) {
    vecattn_tensor *parts = malloc((size_t)size * sizeof *parts);
    const float **part_lse = malloc((size_t)size * sizeof *part_lse);
    float merged[HQ * DV], merged_lse[HQ], single[HQ * DV], single_lse[HQ];
    if (!parts || !part_lse) MPI_Abort(MPI_COMM_WORLD, 1);
    for (int r = 0; r < size; ++r) {
      parts[r] = vecattn_tensor_bhsd(all_out + (size_t)r * HQ * DV, 1, HQ, 1, DV);
      part_lse[r] = all_lse + (size_t)r * HQ;
    }
    vecattn_tensor to = vecattn_tensor_bhsd(merged, 1, HQ, 1, DV);
    vecattn_status s = vecattn_merge(parts, part_lse, size, &to, merged_lse, 0);
    if (s != VECATTN_OK) {
      fprintf(stderr, "vecattn_merge: %s\n", vecattn_strerror(s));
      bad = 1;
    } else {
      const double t1 = MPI_Wtime();
      bad = attend_range(0, nk, q, single, single_lse);
      const double t_single = MPI_Wtime() - t1;
      double max_err = 0.0, max_lse_err = 0.0;
      for (int i = 0; i < HQ * DV; ++i) max_err = fmax(max_err, fabs((double)merged[i] - single[i]));
      for (int h = 0; h < HQ; ++h) /* relative: lse ~ log(Nk) carries float's relative precision */
        max_lse_err = fmax(max_lse_err, fabs((double)merged_lse[h] - single_lse[h]) / fmax(1.0, fabs(single_lse[h])));
      if (!bad) {
        printf("context parallel decode: %d ranks, %lld keys (f16 K/V, Hq %d, Hkv %d, D %d), isa %s\n", size,
               (long long)nk, HQ, HKV, D, vecattn_isa_name(vecattn_active_isa()));
        printf("  slowest shard %.3f s, one process %.3f s\n", t_slowest, t_single);
        printf("  max |merged - single| = %.3g (out), relative %.3g (lse); limit %.0e: %s\n", max_err, max_lse_err, TOLERANCE,
               max_err <= TOLERANCE && max_lse_err <= TOLERANCE ? "OK" : "FAILED");
        bad = !(max_err <= TOLERANCE && max_lse_err <= TOLERANCE);
      }
    }
    free(parts), free(part_lse);
  }
  MPI_Bcast(&bad, 1, MPI_INT, 0, MPI_COMM_WORLD);
  free(all_out), free(all_lse);
  MPI_Finalize();
  return bad ? 1 : 0;
}
