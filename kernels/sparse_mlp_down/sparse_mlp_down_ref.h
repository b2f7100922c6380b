// sparse_mlp_down_ref.h: plain C++ reference of sparse_mlp_down, also its CPU path.
// Takes the kernel's Args with every pointer on the host (k_dev points at a host int; workspace unused);
// double accumulation, one fp16 rounding of resid + b2 + sum. Throws dv::Error on an index outside the
// weight rows or bad sizes.
#pragma once

#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"

namespace dv::kernels {

void sparse_mlp_down_ref(const SparseMlpDownArgs& args);

}  // namespace dv::kernels
