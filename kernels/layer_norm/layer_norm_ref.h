// layer_norm_ref.h: plain C++ reference of launch_layer_norm (host pointers in the same Args struct).
// Double-precision statistics; the residual sum is rounded to fp16 exactly where the kernel rounds it.
// Also the CPU path for fp16 rows.
#pragma once

#include "kernels/layer_norm/layer_norm.cuh"

namespace dv {

void layer_norm_ref(const LayerNormArgs& args);

}  // namespace dv
