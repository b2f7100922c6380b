// window_scorer.h: the one interface through which the stages that score text (perplexity, eval, zero-shot
// tasks) ask for log-likelihoods, after lm-eval-harness's LM interface: token windows in, per-token log-probs
// out, under a sparsity plan (dense / oracle / predicted, per-layer densities, dense layers). The LibTorch
// reference (reference_scorer.h, masks) and the CUDA engine (cuda_scorer.h, its own per-token selections)
// implement it, so `--engine reference|cuda` picks an implementation, not a command, and a test can hold the
// two against each other on the same plan.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/models/perplexity.h"
#include "pipeline/scoring/scoring_plan.h"
#include "pipeline/scoring/sparsity_masks.h"

namespace dv {

// What score() returns beside the log-probs, and how it batches (lm-eval's `loglikelihood` needs both).
struct ScoreOptions {
  bool greedy = false;  // also fill WindowScores::greedy
  // Run windows of different lengths together: each batch is right-padded to its longest window (causal
  // attention: padding never reaches a real position); padded positions are neither returned nor counted in
  // stats(). false: only runs of equal-length windows share a forward (the perplexity recipe's windows).
  bool pad = false;
  // Non-empty: next[w] is the token after windows[w], scored from the window's last position, so logprobs[w]
  // and greedy[w] get one entry more (T in all). lm-eval's split: the model reads
  // (context + continuation)[-(max_length + 1):][:-1] and the last token is predicted past the window's end.
  std::vector<int32_t> next;
};

struct WindowScores {
  std::vector<std::vector<float>> logprobs;   // as logprobs()
  std::vector<std::vector<uint8_t>> greedy;   // greedy[w][t]: the argmax of the logits after windows[w][0..t] is
                                              // the token scored there (empty unless ScoreOptions::greedy)
};

class WindowScorer {
 public:
  virtual ~WindowScorer() = default;
  virtual std::string name() const = 0;        // "reference" | "cuda"
  virtual int64_t max_window() const = 0;      // longest window accepted
  virtual int64_t num_layers() const = 0;
  virtual bool has_predictors() const = 0;     // Selection::kPredicted is available
  // Applies to every later call; resets stats().
  virtual void set_plan(const ScoringPlan& plan) = 0;
  // logprobs() with the options above; the argmax is taken where the logits are (the engine's device).
  virtual WindowScores score(const std::vector<std::vector<int32_t>>& windows, const ScoreOptions& options) = 0;
  // logprobs[w][t] = log p(windows[w][t + 1] | windows[w][0..t]) for t < size - 1 (a 1-token window: none).
  std::vector<std::vector<float>> logprobs(const std::vector<std::vector<int32_t>>& windows) {
    return score(windows, ScoreOptions{}).logprobs;
  }
  virtual SelectionStats stats() const = 0;         // what the plan's selections kept since set_plan
};

// For implementations of score(): the outputs sized for `windows` (dv::Error unless options.next is empty or
// has one token per window), and the end of the run of windows from `begin` that one forward takes: up to
// max_batch windows, of one length unless options.pad.
WindowScores sized_scores(const std::vector<std::vector<int32_t>>& windows, const ScoreOptions& options);
size_t next_run(const std::vector<std::vector<int32_t>>& windows, size_t begin, size_t max_batch,
                const ScoreOptions& options);

// The plan's masks for the reference model (SparsityPlan with the given scorers for kPredicted); dv::Error for
// kFixed and a threshold, which only the CUDA engine runs.
SparsityPlan sparsity_plan(const ScoringPlan& plan, const ScoreFn& mlp_predicted, const ScoreFn& head_predicted);

// The fixed-length window recipe of engine/models/perplexity.h through a scorer: windows of L tokens (stride
// L, the last shorter), options.batch full windows per logprobs() call; NLL summed in double.
PerplexityResult scorer_perplexity(WindowScorer& scorer, const std::vector<int32_t>& ids,
                                   const PerplexityOptions& options);

}  // namespace dv
