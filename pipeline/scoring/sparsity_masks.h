// sparsity_masks.h: turns a sparsity choice (which scores, what density) into the masking hooks of the
// reference model. A masked neuron or head contributes nothing; K/V stay dense, which is what the GPU
// engine's exact K/V catch-up produces too, so CPU masked eval and GPU sparse eval agree.
//   oracle:    scores are the dense layer's own values (post-ReLU fc1 output, head output norms),
//              so the top-k keep the largest contributions: the best any predictor could do;
//   predicted: scores are a low-rank predictor's logits from the layer's (or previous layer's) input.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/models/opt_model.h"
#include "kernels/common/sparsity_rule.h"

namespace dv {

// [B, T, n] scores for one layer's neurons (n = ffn) or heads (n = heads).
using ScoreFn = std::function<at::Tensor(const MaskQuery&)>;

struct SparsityPlan {
  double mlp_density = 1.0;   // fraction of fc1 neurons kept per token; >= 1 keeps all (dense)
  double head_density = 1.0;  // fraction of heads kept per token
  ScoreFn mlp_scores;         // required when mlp_density < 1
  ScoreFn head_scores;        // required when head_density < 1
  // dense_layer[l]: layer l is left dense whatever the densities (the reference code keeps OPT-175B's last
  // 10 layers dense). Shorter than the model (or empty): the layers past its end are sparse.
  std::vector<bool> dense_layer;
  bool is_dense(int64_t layer) const {
    return layer >= 0 && layer < static_cast<int64_t>(dense_layer.size()) && dense_layer[layer];
  }
  // Per-layer densities (empty: the single values above; layers past the end use them too), as the CUDA
  // engine's BlockSpec::layer_density.
  std::vector<double> mlp_layer_density, head_layer_density;
  double mlp_density_of(int64_t l) const { return of(mlp_layer_density, l, mlp_density); }
  double head_density_of(int64_t l) const { return of(head_layer_density, l, head_density); }

 private:
  static double of(const std::vector<double>& v, int64_t l, double fallback) {
    return l >= 0 && l < static_cast<int64_t>(v.size()) ? v[l] : fallback;
  }
};

// dense_layer flags from a list of layer indices (negative ones count from the end: -1 is the last layer);
// `what` names the option or key in the error for an index outside the model.
std::vector<bool> dense_layer_flags(const std::vector<int64_t>& layers, int64_t n_layers, const std::string& what);

ScoreFn oracle_scores();  // the dense values themselves (MaskQuery::dense_scores)

// [1, T, n] {0,1} mask from per-position index lists: selections[t][layer] are the units kept at position t
// (as the GPU engine reports them); positions t >= selections.size() keep every unit. dv::Error for an index
// outside [0, n).
at::Tensor selections_mask(const std::vector<std::vector<std::vector<int>>>& selections, int layer, int64_t T,
                           int64_t n);

// Hooks applying `plan`; `stats` (may be null) accumulates what was kept. Both must outlive the hooks.
// counted (may be null; read at each call): a [B, T, 1] {0,1} tensor of the positions stats counts (padding
// is 0); undefined or null: every position.
ForwardHooks make_mask_hooks(const SparsityPlan& plan, SelectionStats* stats, const at::Tensor* counted = nullptr);

}  // namespace dv
