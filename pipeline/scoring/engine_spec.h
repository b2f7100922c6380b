// engine_spec.h: the one function from the sparsity plan (scoring_plan.h) to the CUDA engine's SparseSpec
// (engine/cuda/sparse_spec.h), used by every command that runs the engine sparse (eval and tasks through the
// CUDA scorer, generate, bench), so a density or a selection means there what the reference masks do.
// CUDA builds only.
#pragma once

#include "engine/cuda/sparse_spec.h"
#include "pipeline/scoring/scoring_plan.h"
#include "pipeline/train/predictor_set.h"

namespace dv {

// The engine's predictor blocks (kPredictor, one LowRankWeights per layer; untrained layers run dense).
engine::SparseSpec predictor_spec(const PredictorSet& set);

// The plan as the engine's SparseSpec; `predictors` (may be null) supplies the kPredictor blocks (dv::Error
// when the plan is kPredicted without them).
engine::SparseSpec engine_spec(const ScoringPlan& plan, const engine::SparseSpec* predictors);

}  // namespace dv
