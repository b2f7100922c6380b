// sweep.h: the points of a sweep (sweep_spec.h): modes (dense / oracle / predicted) times targets (mlp /
// heads / both) times densities, each turned into the scorer's plan (scoring_plan.h). Shared by the eval and
// tasks stages.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/scoring/scoring_plan.h"
#include "pipeline/scoring/sweep_spec.h"

namespace dv {

// One point of a sweep: a mode (dense, oracle, predicted), a target (none, mlp, heads, both) and densities.
struct PlannedPoint {
  std::string mode, target;
  double mlp = 1, heads = 1;
};
// The points of a sweep in order (dense first when listed); dv::Error for unknown modes or targets, bad
// densities, or 'predicted' without predictors. "both" pairs the lists as run_eval_sweep says.
std::vector<PlannedPoint> plan_points(const EvalSweep& sweep, bool have_predictors);
// The scorer's plan of one point (WindowScorer::set_plan): its selection, densities and the dense layers.
ScoringPlan point_plan(const PlannedPoint& point, const std::vector<bool>& dense_layer);

// The sweep as it can run: without a predictor dir, 'predicted' is dropped from its modes.
EvalSweep runnable_sweep(const EvalSweep& sweep, const std::string& predictors);

}  // namespace dv
