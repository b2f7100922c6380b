// fused_mlp_ref.h: the fused MLP block on the host (the test oracle and CPU path of fused_mlp.cuh).
#pragma once

#include "kernels/fused_mlp/fused_mlp.cuh"

namespace dv::kernels {

// Same Args with host pointers (workspace and num_sms unused). LN statistics and the dot products in double;
// the normalized input and h rounded to fp16 where the kernel rounds them (the MMA's fp16 operands).
void fused_mlp_ref(const FusedMlpArgs& args);

}  // namespace dv::kernels
