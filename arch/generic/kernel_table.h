/* Defines vecattn_kernels_<VEC_ISA> from the generic bodies compiled for this ISA. */
#ifndef VECATTN_GENERIC_KERNEL_TABLE_H
#define VECATTN_GENERIC_KERNEL_TABLE_H

#define VEC_CAT_(a, b) a##b
#define VEC_CAT(a, b) VEC_CAT_(a, b)
#define VEC_STR_(a) #a
#define VEC_STR(a) VEC_STR_(a)

/* Tiles of about 64 query rows x 64 keys keep Q^T, the scores and the
 * accumulators of a tile within L1/L2. Query blocks are rounded to whole
 * register blocks; key blocks stay a power of two, so a paged cache's
 * power-of-two pages never cut one (66 keys, 11 gemm row blocks of 6, left
 * runs of 2 and 4 keys between pages of 16: 9% slower prefill at block 16,
 * 3% at 128; contiguous keys lose nothing to one 4-row block in 11). */
#ifndef VF_BLOCK_TARGET
#define VF_BLOCK_TARGET 64
#endif
#define VF_COL_BLOCK (VF_LANES * VF_NR)

const struct vecattn_kernels VEC_CAT(vecattn_kernels_, VEC_ISA) = {
    .isa = VEC_ISA_ENUM,
    .name = VEC_STR(VEC_ISA),
    .lanes = VF_LANES,
    .block_q = VF_COL_BLOCK * ((VF_BLOCK_TARGET + VF_COL_BLOCK - 1) / VF_COL_BLOCK),
    .block_k = VF_BLOCK_TARGET,
    .gemm_mr = VF_MR,
    .gemm_nr = VF_LANES * VF_NR,
    .gemm = gemm,
    .gemm_typed = gemm_typed,
    .gemm_at = gemm_at,
    .gemm_nt = gemm_nt,
    .gemm_nt_st = gemm_nt_st,
    .softmax_update = softmax_update,
    .softmax_update_pairs = VF_SOFTMAX_UPDATE_PAIRS,
    .exp_shift_sum = exp_shift_sum,
    .scale = scale,
    .scale_add = scale_add,
    .additive = additive,
    .pack_bt = pack_bt,
    .pack_scaled_t = pack_scaled_t,
    .to_f32 = to_f32,
    .from_f32 = from_f32,
    .scale_to_f32 = scale_to_f32,
    .scale_from_f32 = scale_from_f32,
    .gemm_bf16 = VF_GEMM_BF16,
    .pack_bf16_pairs = VF_PACK_BF16_PAIRS,
    .pack_bf16_row = VF_PACK_BF16_ROW,
    .zip_bf16 = VF_ZIP_BF16,
    .gemm_nt_st_bf16 = VF_GEMM_NT_ST_BF16,
    .quantize_q8 = VF_QUANTIZE_Q8,
    .gemm_nt_st_q8 = VF_GEMM_NT_ST_Q8,
    .pack_q8 = VF_PACK_Q8,
    .q8mm_place = VF_Q8MM_PLACE,
    .gemm_q8mm = VF_GEMM_Q8MM,
};

#endif
