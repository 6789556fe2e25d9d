/* Defines vecattn_kernels_<VEC_ISA> from the generic bodies compiled for this ISA. */
#ifndef VECATTN_GENERIC_KERNEL_TABLE_H
#define VECATTN_GENERIC_KERNEL_TABLE_H

#define VEC_CAT_(a, b) a##b
#define VEC_CAT(a, b) VEC_CAT_(a, b)
#define VEC_STR_(a) #a
#define VEC_STR(a) VEC_STR_(a)

#ifndef VF_BLOCK_Q_TARGET
#define VF_BLOCK_Q_TARGET 64
#endif
#ifndef VF_BLOCK_K
#define VF_BLOCK_K 64
#endif

_Static_assert(VF_BLOCK_K % VF_LANES == 0, "key block must be whole vectors");

const struct vecattn_kernels VEC_CAT(vecattn_kernels_, VEC_ISA) = {
    .isa = VEC_ISA_ENUM,
    .name = VEC_STR(VEC_ISA),
    .lanes = VF_LANES,
    .block_q = VF_MR * ((VF_BLOCK_Q_TARGET + VF_MR - 1) / VF_MR),
    .block_k = VF_BLOCK_K,
    .gemm = gemm,
    .gemm_nt = gemm_nt,
    .softmax_update = softmax_update,
    .exp_shift_sum = exp_shift_sum,
    .scale = scale,
};

#endif
