// scorer_factory.h: `--engine reference|cuda` (and eval.engine) -> a WindowScorer. The reference scores with
// the loaded model (any device and dtype); the CUDA engine is built from the same weights in fp16 on the GPU.
// Without a CUDA build or a visible GPU, "cuda" is one dv::Error line (exit 2 at the command line).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "engine/models/opt_model.h"
#include "pipeline/scoring/window_scorer.h"

namespace dv {

struct ScorerRequest {
  std::string engine = "reference";  // reference | cuda
  std::string predictors;            // `dejavu train` directory; empty: no kPredicted
  int64_t max_window = 0;            // cuda: the KV cache length (the windows' length; 0 = min(max_pos, 2048))
  int64_t batch = 1;                 // cuda: windows prefilled together
};

// dv::Error for an unknown engine name, naming `what` (the option or key).
void check_engine_name(const std::string& engine, const std::string& what);
// check_engine_name, then for "cuda": dv::Error unless this build has the engine and a GPU is visible (called
// before a model loads, so that the error comes at once).
void check_engine_available(const std::string& engine, const std::string& what);

std::unique_ptr<WindowScorer> make_scorer(const OptModel& model, const ScorerRequest& request);

}  // namespace dv
