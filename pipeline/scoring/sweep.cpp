// sweep.cpp: the points of a sweep and each point's scorer plan.
#include "pipeline/scoring/sweep.h"

#include <algorithm>

#include "kernels/common/error.h"

namespace dv {

std::vector<PlannedPoint> plan_points(const EvalSweep& s, bool have_predictors) {
  std::vector<PlannedPoint> out;
  for (const auto& mode : s.modes) {
    DV_CHECK(mode == "dense" || mode == "oracle" || mode == "predicted",
             "eval: unknown mode '{}' (dense, oracle, predicted)", mode);
    if (mode == "dense") {
      out.push_back({"dense", "none"});
      continue;
    }
    DV_CHECK(mode != "predicted" || have_predictors, "eval: mode 'predicted' needs --predictors");
    for (const auto& target : s.targets) {
      DV_CHECK(target == "mlp" || target == "heads" || target == "both",
               "eval: unknown target '{}' (mlp, heads, both)", target);
      if (target == "mlp")
        for (double d : s.mlp_densities) out.push_back({mode, target, d, 1.0});
      if (target == "heads")
        for (double d : s.head_densities) out.push_back({mode, target, 1.0, d});
      if (target == "both") {
        const size_t n = std::max(s.mlp_densities.size(), s.head_densities.size());
        for (size_t i = 0; i < n; ++i)
          out.push_back({mode, target, s.mlp_densities[std::min(i, s.mlp_densities.size() - 1)],
                         s.head_densities[std::min(i, s.head_densities.size() - 1)]});
      }
    }
  }
  for (const auto& p : out)
    DV_CHECK(p.mlp > 0 && p.mlp <= 1 && p.heads > 0 && p.heads <= 1, "eval: densities must be in (0, 1], got {} / {}",
             p.mlp, p.heads);
  return out;
}

ScoringPlan point_plan(const PlannedPoint& p, const std::vector<bool>& dense_layer) {
  ScoringPlan plan;
  plan.selection = parse_selection(p.mode);
  plan.mlp_density = p.mlp;
  plan.head_density = p.heads;
  plan.dense_layer = dense_layer;
  return plan;
}

EvalSweep runnable_sweep(const EvalSweep& sweep, const std::string& predictors) {
  EvalSweep s = sweep;
  if (predictors.empty()) s.modes.erase(std::remove(s.modes.begin(), s.modes.end(), "predicted"), s.modes.end());
  return s;
}

}  // namespace dv
