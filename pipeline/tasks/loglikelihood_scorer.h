// loglikelihood_scorer.h: lm-eval-harness's `loglikelihood` request over token ids, through the one scoring
// interface (pipeline/scoring/window_scorer.h): the LibTorch reference with masks or the CUDA engine with its
// own selections, under the plan last given to the scorer's set_plan (dense / oracle / predicted, densities,
// dense layers). For each (context, continuation) pair: the sum of the continuation tokens' log-probabilities
// given everything before them, and whether greedy decoding would have produced exactly the continuation.
#pragma once

#include <cstdint>
#include <vector>

#include "pipeline/scoring/window_scorer.h"

namespace dv {

struct TokenRequest {
  std::vector<int32_t> context, continuation;  // both non-empty
};

struct LoglikelihoodResult {
  double logprob = 0;   // sum over continuation tokens of log p(token | prefix)
  bool greedy = false;  // argmax at every continuation position equals the continuation token
};

// As the harness's HFLM: requests sorted longest first (batches pad little), up to `batch` per score() call,
// right-padded together; contexts longer than max_length() = the scorer's max_window() lose their first tokens:
// the model reads (context + continuation)[-(max_length + 1):][:-1], the last token is scored past its end.
class LoglikelihoodScorer {
 public:
  // `scorer` must outlive this.
  LoglikelihoodScorer(WindowScorer& scorer, int64_t batch, bool show_progress = true)
      : scorer_(scorer), batch_(batch), show_progress_(show_progress) {}
  // Results in request order; dv::Error for an empty context or continuation, or a continuation longer than
  // max_length().
  std::vector<LoglikelihoodResult> loglikelihood(const std::vector<TokenRequest>& requests);
  int64_t max_length() const { return scorer_.max_window(); }
  WindowScorer& scorer() { return scorer_; }

 private:
  WindowScorer& scorer_;
  int64_t batch_;
  bool show_progress_;
};

}  // namespace dv
