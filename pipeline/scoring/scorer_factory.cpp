// scorer_factory.cpp: engine names -> scorers; the CUDA scorer only in builds that have the engine.
#include "pipeline/scoring/scorer_factory.h"

#include <algorithm>

#include "kernels/common/error.h"
#include "pipeline/train/predictor_set.h"
#include "pipeline/scoring/predicted_scorers.h"
#include "pipeline/scoring/reference_scorer.h"
#ifdef DEJAVU_HAVE_CUDA_ENGINE
#include "engine/cuda/engine_context.h"
#include "pipeline/scoring/cuda_scorer.h"
#endif

namespace dv {

void check_engine_name(const std::string& engine, const std::string& what) {
  DV_CHECK(engine == "reference" || engine == "cuda", "{}: unknown engine '{}' (reference, cuda)", what, engine);
}

void check_engine_available(const std::string& engine, const std::string& what) {
  check_engine_name(engine, what);
  if (engine != "cuda") return;
#ifdef DEJAVU_HAVE_CUDA_ENGINE
  DV_CHECK(engine::cuda_device_available(), "{} cuda: no CUDA GPU is visible on this machine", what);
#else
  DV_FAIL("{} cuda: this dejavu was built without CUDA (the engine needs nvcc and a GPU); use reference", what);
#endif
}

std::unique_ptr<WindowScorer> make_scorer(const OptModel& model, const ScorerRequest& r) {
  check_engine_available(r.engine, "--engine");
  if (r.engine == "reference") {
    if (r.predictors.empty()) return std::make_unique<ReferenceScorer>(model);
    const Scorers s = load_predicted_scorers(r.predictors, model);
    return std::make_unique<ReferenceScorer>(model, s.mlp, s.heads);
  }
#ifdef DEJAVU_HAVE_CUDA_ENGINE
  return make_cuda_scorer(model, r);
#else
  DV_FAIL("internal: engine '{}' without a CUDA build", r.engine);
#endif
}

}  // namespace dv
