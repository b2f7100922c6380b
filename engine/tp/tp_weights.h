// tp_weights.h: one rank's weights under tensor parallelism, in OptWeights' shape (config stays the full
// model's): q/k/v_w [d/N, d], q/k/v_b [d/N], out_w [d, d/N], fc1_w [ffn/N, d], fc1_b [ffn/N], fc2_w [d, ffn/N];
// out_b and fc2_b [d] on rank 0 and [0] elsewhere; every other tensor whole.
#pragma once

#include <string>

#include <ATen/ATen.h>

#include "engine/io/checkpoint.h"
#include "engine/models/opt_weights.h"
#include "engine/tp/tp_partition.h"

namespace dv {

// The OptWeights tensor a checkpoint name (without prefix) stands for, e.g. "layers.2.fc2.bias".
at::Tensor opt_weight_by_name(const OptWeights& w, const std::string& name);

// The rank's weights cut from full weights already in memory (tests, random weights).
OptWeights slice_weights(const OptWeights& full, const TpPlan& plan);

// The rank's weights read from a checkpoint: the shards stay memory-mapped and only the slice's bytes are read
// and converted. Row slices (dim 0: q/k/v, fc1, biases) are one contiguous range of the file; column slices
// (dim 1: out_proj, fc2) are gathered row by row into a copy, touching every row's pages but only 1/N of each
// row's bytes.
OptWeights load_rank_weights(const Checkpoint& ckpt, int rank, int world, at::ScalarType dtype, at::Device device);

// Replaces a rank's out_proj / fc2 biases by the whole ones ([d] each, zeros without biases). The GPU engine
// adds them after the all-reduce, on every rank (Megatron's way), inside its fused bias + residual + layer norm;
// the plan's rank-0-only slices are the partial-sum form the CPU reference uses. Same sum either way.
void load_whole_row_biases(const Checkpoint& ckpt, OptWeights& w, at::ScalarType dtype, at::Device device);

}  // namespace dv
