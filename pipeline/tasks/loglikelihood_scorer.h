// loglikelihood_scorer.h: the one seam between task evaluation and a model: lm-eval-harness's
// `loglikelihood` request over token ids. A scorer returns, for each (context, continuation) pair, the sum of
// the continuation tokens' log-probabilities given everything before them and whether greedy decoding would
// have produced exactly the continuation, with the model run under a sparsity plan (dense / oracle /
// predicted, per-layer dense flags). TaskReferenceScorer runs the LibTorch reference (CPU or CUDA) with the
// eval stage's masks; a CUDA-engine scorer implements the same interface.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/models/opt_model.h"
#include "pipeline/stages/sparsity_masks.h"

namespace dv {

struct TokenRequest {
  std::vector<int32_t> context, continuation;  // both non-empty
};

struct LoglikelihoodResult {
  double logprob = 0;   // sum over continuation tokens of log p(token | prefix)
  bool greedy = false;  // argmax at every continuation position equals the continuation token
};

class LoglikelihoodScorer {
 public:
  virtual ~LoglikelihoodScorer() = default;
  // Results in request order. Contexts longer than max_length() lose their first tokens, as the harness does:
  // the model reads (context + continuation)[-(max_length + 1):][:-1].
  virtual std::vector<LoglikelihoodResult> loglikelihood(const std::vector<TokenRequest>& requests,
                                                         const SparsityPlan& plan) = 0;
  virtual int64_t max_length() const = 0;
};

// The reference model: requests sorted longest first (as the harness does, so batches pad little), up to
// `batch` sequences per forward, right-padded (causal attention: padding never reaches a real position).
class TaskReferenceScorer : public LoglikelihoodScorer {
 public:
  TaskReferenceScorer(const OptModel& model, int64_t batch, bool show_progress = true)
      : model_(model), batch_(batch), show_progress_(show_progress) {}
  std::vector<LoglikelihoodResult> loglikelihood(const std::vector<TokenRequest>& requests,
                                                 const SparsityPlan& plan) override;
  int64_t max_length() const override { return model_.config().max_position_embeddings; }

 private:
  const OptModel& model_;
  int64_t batch_;
  bool show_progress_;
};

}  // namespace dv
