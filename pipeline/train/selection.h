// selection.h: the sparsity rule (kernels/common/sparsity_rule.h) on tensors: the {0,1} keep-masks that the
// reference masks apply and that the training metrics and measure score. Top-k keeps a fixed count per token
// (the paper's inference: fixed mlp-K and att-K per layer; k = kept_count(density, n)); the threshold keeps
// whatever the predictor is confident about.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

#include "kernels/common/sparsity_rule.h"

namespace dv {

// scores: [..., n] -> mask of the same shape and dtype with 1 at the k largest entries of each row.
at::Tensor select_topk(const at::Tensor& logits, int64_t k);

// logits: [..., n] -> mask of the same shape and dtype with 1 where sigmoid(logit) >= probability.
at::Tensor select_threshold(const at::Tensor& logits, double probability);

}  // namespace dv
