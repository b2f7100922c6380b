// tp_reference.h: a CPU (LibTorch) reference of one tensor-parallel OPT forward: every rank runs its partial
// attention and MLP blocks on its own slices, and the partial outputs are summed where the all-reduce would be
// (after out_proj and after fc2, two a layer). What a multi-GPU run must reproduce, checkable on one machine.
#pragma once

#include <vector>

#include <ATen/ATen.h>

#include "engine/models/opt_weights.h"

namespace dv {

// ranks: each rank's weights (slice_weights / load_rank_weights), rank order, one world. ids: [B, T] int64.
// Returns float32 logits [B, T, vocab] (full prefill, no cache).
at::Tensor tp_reference_forward(const std::vector<OptWeights>& ranks, const at::Tensor& ids);

}  // namespace dv
