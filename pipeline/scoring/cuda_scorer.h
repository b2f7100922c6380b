// cuda_scorer.h: the WindowScorer of the CUDA engine (CUDA builds only): each window is prefilled in one pass
// with the plan's per-token selections (engine/cuda/prefill.h), chosen by the engine itself: its fp16 predictor
// copies (predicted), each token's own dense values (oracle), per-layer densities and dense layers in its
// SparseSpec with k = kept_count(density, n), as the reference masks count it. It can record the selections
// it made, so that the reference masked with exactly those can be held against it (compare_with_reference).
#pragma once

#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "engine/cuda/cuda_engine.h"
#include "pipeline/train/predictor_set.h"
#include "pipeline/scoring/scorer_factory.h"
#include "pipeline/scoring/window_scorer.h"

namespace dv {

class CudaScorer : public WindowScorer {
 public:
  // The engine holds `batch` windows of up to max_window tokens; predictors may be null.
  CudaScorer(const OptWeights& weights, const PredictorSet* predictors, int64_t max_window, int batch);

  std::string name() const override { return "cuda"; }
  int64_t max_window() const override { return engine_->max_len(); }
  int64_t num_layers() const override { return engine_->config().num_hidden_layers; }
  bool has_predictors() const override { return predictors_.has_value(); }
  void set_plan(const ScoringPlan& plan) override;
  // Greedy flags from the argmax on the device (only T - 1 bytes per window come to the host).
  WindowScores score(const std::vector<std::vector<int32_t>>& windows, const ScoreOptions& options) override;
  SelectionStats stats() const override { return stats_; }

  // With recording on, the masks of the last prefill (one call of up to batch windows) are kept.
  void set_recording(bool on) { recording_ = on; }
  const engine::PrefillOutputs& last_prefill() const { return last_; }
  engine::CudaEngine& engine() { return *engine_; }

 private:
  std::unique_ptr<engine::CudaEngine> engine_;
  std::optional<engine::SparseSpec> predictors_;
  bool sparse_ = false;
  bool recording_ = false;
  SelectionStats stats_;
  engine::PrefillOutputs last_;
};

// The CUDA scorer a request asks for (scorer_factory.h's make_scorer for engine "cuda"): windows of
// request.max_window (0 = min(max_position_embeddings, 2048)), the request's predictors (every layer trained).
std::unique_ptr<CudaScorer> make_cuda_scorer(const OptModel& model, const ScorerRequest& request);

// Window by window (stride = seq_len, one window per prefill): the engine's NLL with its selections recorded,
// then `reference` (the fp32 CPU model of the same weights) masked with exactly those selections. JSON with
// both perplexities, their relative difference and the mean per-token NLL difference.
nlohmann::json compare_with_reference(CudaScorer& scorer, const OptModel& reference, const std::vector<int32_t>& ids,
                                      int64_t seq_len);

}  // namespace dv
