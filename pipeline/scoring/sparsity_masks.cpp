// sparsity_masks.cpp: the masks of a plan (top-k, sparsity_rule.h) and the bookkeeping of what they keep.
#include "pipeline/scoring/sparsity_masks.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"
#include "pipeline/train/selection.h"

namespace dv {

ScoreFn oracle_scores() {
  return [](const MaskQuery& q) { return q.dense_scores; };
}

std::vector<bool> dense_layer_flags(const std::vector<int64_t>& layers, int64_t n_layers, const std::string& what) {
  std::vector<bool> flags(static_cast<size_t>(n_layers), false);
  for (const int64_t l : layers) {
    DV_CHECK(l >= -n_layers && l < n_layers,
             "{}: layer {} is outside this {}-layer model (use 0..{}, or -1 for the last)", what, l, n_layers,
             n_layers - 1);
    flags[static_cast<size_t>(l < 0 ? l + n_layers : l)] = true;
  }
  return flags;
}

at::Tensor selections_mask(const std::vector<std::vector<std::vector<int>>>& selections, int layer, int64_t T,
                           int64_t n) {
  at::Tensor mask = at::ones({1, T, n}, at::kFloat);
  // Through a raw pointer: one LibTorch op per entry made a window at 50% MLP density take seconds.
  float* p = mask.data_ptr<float>();
  const int64_t steps = std::min<int64_t>(T, static_cast<int64_t>(selections.size()));
  for (int64_t t = 0; t < steps; ++t) {
    float* row = p + t * n;
    std::fill(row, row + n, 0.0f);
    for (const int i : selections[t].at(layer)) {
      DV_CHECK(i >= 0 && i < n, "selection {} at position {} of layer {} is outside [0, {})", i, t, layer, n);
      row[i] = 1.0f;
    }
  }
  return mask;
}

namespace {
// A dense layer's mask keeps everything; the others keep the scorer's top-k.
at::Tensor layer_mask(const SparsityPlan& plan, const ScoreFn& scores, double density, const MaskQuery& q) {
  if (plan.is_dense(q.layer)) return at::ones(q.dense_scores.sizes(), q.dense_scores.options().dtype(at::kFloat));
  const at::Tensor s = scores(q).to(at::kFloat);
  return select_topk(s, kept_count(density, s.size(-1))).to(q.dense_scores.device());
}
}  // namespace

ForwardHooks make_mask_hooks(const SparsityPlan& plan, SelectionStats* stats, const at::Tensor* counted) {
  ForwardHooks hooks;
  // The dense values as the stats count them: padded positions weigh 0.
  auto weighed = [counted](const at::Tensor& values) {
    const at::Tensor v = values.to(at::kFloat);
    return counted != nullptr && counted->defined() ? v * counted->to(v.device()) : v;
  };
  auto any_below_one = [](double d, const std::vector<double>& per_layer) {
    return d < 1.0 || std::any_of(per_layer.begin(), per_layer.end(), [](double x) { return x < 1.0; });
  };
  if (any_below_one(plan.mlp_density, plan.mlp_layer_density)) {
    DV_CHECK(static_cast<bool>(plan.mlp_scores), "MLP sparsity requested without a scorer");
    hooks.mlp_mask = [&plan, stats, weighed](const MaskQuery& q) {
      at::Tensor mask = layer_mask(plan, plan.mlp_scores, plan.mlp_density_of(q.layer), q);
      if (stats != nullptr) {
        const at::Tensor act = weighed(q.dense_scores);
        const at::Tensor active = (act > 0).to(at::kFloat);
        stats->mlp_active += active.sum().item<double>();
        stats->mlp_active_kept += (active * mask).sum().item<double>();
        stats->mlp_mass += act.sum().item<double>();
        stats->mlp_mass_kept += (act * mask).sum().item<double>();
      }
      return mask;
    };
  }
  if (any_below_one(plan.head_density, plan.head_layer_density)) {
    DV_CHECK(static_cast<bool>(plan.head_scores), "head sparsity requested without a scorer");
    hooks.head_mask = [&plan, stats, weighed](const MaskQuery& q) {
      at::Tensor mask = layer_mask(plan, plan.head_scores, plan.head_density_of(q.layer), q);
      if (stats != nullptr) {
        const at::Tensor norms = weighed(q.dense_scores);
        stats->head_mass += norms.sum().item<double>();
        stats->head_mass_kept += (norms * mask).sum().item<double>();
      }
      return mask;
    };
  }
  return hooks;
}

}  // namespace dv
