// sparse_mlp_up_ref.h: plain C++ reference of sparse_mlp_up, also its CPU path.
// Takes the kernel's Args with every pointer on the host (k_dev points at a host int); double accumulation,
// fp16 output rounded once, entries j >= k untouched, exactly as the kernel. Throws dv::Error on bad input
// (an index outside [0, ffn), a bad size). ln_row_partials is not read: the statistics come from x itself,
// which the partials only summarize.
#pragma once

#include "kernels/sparse_mlp_up/sparse_mlp_up.cuh"

namespace dv::kernels {

void sparse_mlp_up_ref(const SparseMlpUpArgs& args);

}  // namespace dv::kernels
