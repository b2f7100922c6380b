// engine_spec.cpp: see engine_spec.h.
#include "pipeline/scoring/engine_spec.h"

#include <algorithm>

#include "kernels/common/error.h"

namespace dv {
namespace {

engine::BlockSpec predictor_block(const std::vector<LowRankPredictor>& preds, PredictorInput input) {
  engine::BlockSpec b;
  b.source = engine::SelectionSource::kPredictor;
  b.input = engine::parse_predictor_input_kind(predictor_input_name(input));
  for (const LowRankPredictor& p : preds)
    b.predictors.push_back({p.empty() ? at::Tensor() : p.w1(), p.empty() ? at::Tensor() : p.w2()});
  return b;
}

bool all_dense(double density, const std::vector<double>& per_layer) {
  return density >= 1.0 && std::all_of(per_layer.begin(), per_layer.end(), [](double d) { return d >= 1.0; });
}

// One block kind of the plan; `predicted` is the predictor block (for kPredicted), seed the kFixed lists'.
engine::BlockSpec plan_block(const ScoringPlan& plan, double density, const std::vector<double>& per_layer,
                             const engine::BlockSpec* predicted, engine::PredictorInputKind default_input,
                             uint64_t seed) {
  engine::BlockSpec b;
  b.input = default_input;
  if (plan.selection == Selection::kDense) return b;
  if (!plan.sparse_at_full_density && all_dense(density, per_layer)) return b;
  switch (plan.selection) {
    case Selection::kPredicted:
      DV_CHECK(predicted != nullptr, "selection 'predicted' needs predictors (--predictors)");
      b = *predicted;
      break;
    case Selection::kOracle: b.source = engine::SelectionSource::kOracle; break;
    case Selection::kFixed:
      b.source = engine::SelectionSource::kFixed;
      b.seed = seed;
      break;
    case Selection::kDense: break;
  }
  b.density = density;
  b.layer_density = per_layer;
  return b;
}

}  // namespace

engine::SparseSpec predictor_spec(const PredictorSet& set) {
  engine::SparseSpec spec;
  spec.mlp = predictor_block(set.mlp, set.mlp_input);
  spec.heads = predictor_block(set.att, set.att_input);
  return spec;
}

engine::SparseSpec engine_spec(const ScoringPlan& plan, const engine::SparseSpec* predictors) {
  engine::SparseSpec spec;
  spec.mlp = plan_block(plan, plan.mlp_density, plan.mlp_layer_density,
                        predictors != nullptr ? &predictors->mlp : nullptr, spec.mlp.input, plan.seed);
  spec.heads = plan_block(plan, plan.head_density, plan.head_layer_density,
                          predictors != nullptr ? &predictors->heads : nullptr, spec.heads.input, plan.seed + 1);
  if (plan.mlp_threshold > 0) {
    DV_CHECK(plan.selection == Selection::kPredicted, "a threshold selection needs the predictors (--predictors)");
    spec.mlp.threshold = true;
    spec.mlp.probability = static_cast<float>(plan.mlp_threshold);
  }
  spec.dense_layer = plan.dense_layer;
  return spec;
}

}  // namespace dv
