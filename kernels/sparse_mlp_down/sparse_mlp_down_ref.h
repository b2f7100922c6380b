// sparse_mlp_down_ref.h: plain C++ reference of sparse_mlp_down, also its CPU path.
// Takes the kernel's Args with every pointer on the host (k_dev points at a host int; workspace unused);
// double accumulation, one fp16 rounding of resid + b2 + sum. Throws dv::Error on an index outside the
// weight rows or bad sizes. With row_partials set, also writes them (sparse_mlp_down_row_partials_ref of out).
#pragma once

#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"

namespace dv::kernels {

void sparse_mlp_down_ref(const SparseMlpDownArgs& args);

// partials[c][b] = (sum, sum of squares) over the 512-column slice c of out's row b (fp16 values, double sums
// rounded to fp32): the contract of sparse_mlp_down's row_partials, from whatever out holds.
void sparse_mlp_down_row_partials_ref(const __half* out, int B, int d, float* partials);

}  // namespace dv::kernels
