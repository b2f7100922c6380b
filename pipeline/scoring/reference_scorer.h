// reference_scorer.h: the WindowScorer of the LibTorch reference model: the plan becomes the masking hooks
// of sparsity_masks.h (oracle: each token's own dense values; predicted: the trained predictors' logits).
// Windows of one length are scored as one [B, T] forward; with ScoreOptions::pad, all of a call's windows are,
// right-padded to the longest.
#pragma once

#include <memory>

#include "engine/models/opt_model.h"
#include "pipeline/scoring/window_scorer.h"

namespace dv {

class ReferenceScorer : public WindowScorer {
 public:
  // mlp_predicted / head_predicted may be empty (then kPredicted is refused); `model` must outlive the scorer.
  ReferenceScorer(const OptModel& model, ScoreFn mlp_predicted = {}, ScoreFn head_predicted = {});
  ReferenceScorer(const ReferenceScorer&) = delete;
  ReferenceScorer& operator=(const ReferenceScorer&) = delete;

  std::string name() const override { return "reference"; }
  int64_t max_window() const override { return model_.config().max_position_embeddings; }
  int64_t num_layers() const override { return model_.config().num_hidden_layers; }
  bool has_predictors() const override { return mlp_predicted_ && head_predicted_; }
  void set_plan(const ScoringPlan& plan) override;
  WindowScores score(const std::vector<std::vector<int32_t>>& windows, const ScoreOptions& options) override;
  SelectionStats stats() const override { return stats_; }

 private:
  const OptModel& model_;
  ScoreFn mlp_predicted_, head_predicted_;
  SparsityPlan plan_;   // the hooks hold references to plan_, stats_ and counted_
  SelectionStats stats_;
  at::Tensor counted_;  // [B, T, 1] {0,1}: the positions of the current forward that stats_ counts (undefined: all)
  ForwardHooks hooks_;
};

}  // namespace dv
