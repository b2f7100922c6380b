// sparsity_masks.cpp: top-k masks and the bookkeeping of what they keep.
#include "pipeline/stages/sparsity_masks.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"

namespace dv {

ScoreFn oracle_scores() {
  return [](const MaskQuery& q) { return q.dense_scores; };
}

int64_t kept_count(int64_t n, double density) {
  return std::clamp<int64_t>(static_cast<int64_t>(std::ceil(density * static_cast<double>(n) - 1e-9)), 0, n);
}

at::Tensor topk_mask(const at::Tensor& scores, double density) {
  const int64_t n = scores.size(-1), k = kept_count(n, density);
  auto mask = at::zeros(scores.sizes(), scores.options().dtype(at::kFloat));
  if (k == 0) return mask;
  if (k == n) return mask.fill_(1.0);
  auto idx = std::get<1>(scores.to(at::kFloat).topk(k, -1, /*largest=*/true, /*sorted=*/false));
  return mask.scatter_(-1, idx, 1.0);
}

ForwardHooks make_mask_hooks(const SparsityPlan& plan, MaskStats* stats) {
  ForwardHooks hooks;
  if (plan.mlp_density < 1.0) {
    DV_CHECK(static_cast<bool>(plan.mlp_scores), "MLP sparsity requested without a scorer");
    hooks.mlp_mask = [&plan, stats](const MaskQuery& q) {
      at::Tensor mask = topk_mask(plan.mlp_scores(q), plan.mlp_density).to(q.dense_scores.device());
      if (stats != nullptr) {
        const at::Tensor act = q.dense_scores.to(at::kFloat);
        const at::Tensor active = (act > 0).to(at::kFloat);
        stats->mlp_active += active.sum().item<double>();
        stats->mlp_active_kept += (active * mask).sum().item<double>();
        stats->mlp_mass += act.sum().item<double>();
        stats->mlp_mass_kept += (act * mask).sum().item<double>();
      }
      return mask;
    };
  }
  if (plan.head_density < 1.0) {
    DV_CHECK(static_cast<bool>(plan.head_scores), "head sparsity requested without a scorer");
    hooks.head_mask = [&plan, stats](const MaskQuery& q) {
      at::Tensor mask = topk_mask(plan.head_scores(q), plan.head_density).to(q.dense_scores.device());
      if (stats != nullptr) {
        const at::Tensor norms = q.dense_scores.to(at::kFloat);
        stats->head_mass += norms.sum().item<double>();
        stats->head_mass_kept += (norms * mask).sum().item<double>();
      }
      return mask;
    };
  }
  return hooks;
}

}  // namespace dv
