/* The svebf16<bits> kernel table: the generic bodies compiled for one SVE
 * vector length with BF16 and I8MM (meson builds this file once per length). */
#include "kernels.h"
#include "vec.h"
#include "generic/gemm.h"
#include "generic/gemm_nt.h"
#include "generic/softmax.h"
#include "generic/additive.h"
#include "generic/pack.h"
#include "generic/convert.h"
#include "generic/gemm_bf16.h"
#include "generic/gemm_nt_q8.h"
#include "generic/gemm_q8mm.h"
#include "generic/kernel_table.h"
