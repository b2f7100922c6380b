// sparse_qkv_ref.h: plain C++ reference of launch_sparse_qkv (host pointers in the same Args struct),
// including the x_hist write, the K/V catch-up from x_hist and the kv_valid update. Double accumulation,
// one rounding to fp16 per output. Also the CPU path.
#pragma once

#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv {

void sparse_qkv_ref(const SparseQkvArgs& args);

}  // namespace dv
