/* The neon32 (armhf) kernel table: the generic bodies compiled with only this ISA's flags. */
#include "kernels.h"
#include "vec.h"
#include "generic/gemm.h"
#include "generic/gemm_nt.h"
#include "generic/softmax.h"
#include "generic/additive.h"
#include "generic/pack.h"
#include "generic/kernel_table.h"
