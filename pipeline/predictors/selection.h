// selection.h: turning predictor logits into the {0,1} keep-masks that eval applies and that the
// training metrics score. Top-k keeps a fixed count per token (the paper's inference: fixed mlp-K
// and att-K per layer); the threshold keeps whatever the predictor is confident about.
#pragma once

#include <cstdint>

#include <ATen/ATen.h>

namespace dv {

// How many of n units a keep-fraction means: ceil(fraction * n), clamped to [1, n] (the same rule
// as the eval stage's kept_count, so training metrics and eval talk about the same k).
int64_t topk_count(double fraction, int64_t n);

// logits: [..., n] -> mask of the same shape and dtype with 1 at the k largest entries of each row.
at::Tensor select_topk(const at::Tensor& logits, int64_t k);

// logits: [..., n] -> mask of the same shape and dtype with 1 where sigmoid(logit) >= probability.
at::Tensor select_threshold(const at::Tensor& logits, double probability);

}  // namespace dv
