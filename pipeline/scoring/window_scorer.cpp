// window_scorer.cpp: plan names, the plan as reference masks, and perplexity over any scorer.
#include "pipeline/scoring/window_scorer.h"

#include <algorithm>

#include "kernels/common/error.h"

namespace dv {

Selection parse_selection(const std::string& name) {
  if (name == "dense") return Selection::kDense;
  if (name == "oracle") return Selection::kOracle;
  if (name == "predicted") return Selection::kPredicted;
  if (name == "fixed") return Selection::kFixed;
  DV_FAIL("unknown selection '{}' (dense, oracle, predicted, fixed)", name);
}

const char* selection_name(Selection s) {
  switch (s) {
    case Selection::kDense: return "dense";
    case Selection::kOracle: return "oracle";
    case Selection::kPredicted: return "predicted";
    case Selection::kFixed: return "fixed";
  }
  return "?";
}

SparsityPlan sparsity_plan(const ScoringPlan& plan, const ScoreFn& mlp_predicted, const ScoreFn& head_predicted) {
  SparsityPlan p;
  if (plan.selection == Selection::kDense) return p;
  DV_CHECK(plan.selection != Selection::kFixed, "random fixed selections run on the CUDA engine only (--engine cuda)");
  DV_CHECK(plan.mlp_threshold == 0, "a threshold selection runs on the CUDA engine only (--engine cuda)");
  p.mlp_density = plan.mlp_density;
  p.head_density = plan.head_density;
  p.mlp_layer_density = plan.mlp_layer_density;
  p.head_layer_density = plan.head_layer_density;
  p.dense_layer = plan.dense_layer;
  const bool oracle = plan.selection == Selection::kOracle;
  p.mlp_scores = oracle ? oracle_scores() : mlp_predicted;
  p.head_scores = oracle ? oracle_scores() : head_predicted;
  DV_CHECK(oracle || (p.mlp_scores && p.head_scores), "selection 'predicted' needs predictors (--predictors)");
  return p;
}

WindowScores sized_scores(const std::vector<std::vector<int32_t>>& windows, const ScoreOptions& options) {
  DV_CHECK(options.next.empty() || options.next.size() == windows.size(), "score: {} next tokens for {} windows",
           options.next.size(), windows.size());
  WindowScores out;
  out.logprobs.resize(windows.size());
  if (options.greedy) out.greedy.resize(windows.size());
  return out;
}

size_t next_run(const std::vector<std::vector<int32_t>>& windows, size_t begin, size_t max_batch,
                const ScoreOptions& options) {
  size_t end = begin + 1;
  while (end < windows.size() && end - begin < max_batch &&
         (options.pad || windows[end].size() == windows[begin].size()))
    ++end;
  return end;
}

PerplexityResult scorer_perplexity(WindowScorer& scorer, const std::vector<int32_t>& ids, const PerplexityOptions& o) {
  const int64_t L = o.seq_len > 0 ? o.seq_len : std::min<int64_t>(scorer.max_window(), 2048);
  DV_CHECK(L >= 2, "--seq-len must be at least 2, got {}", L);
  DV_CHECK(L <= scorer.max_window(), "--seq-len {} exceeds the {} positions of the {} engine (max_position_embeddings)",
           L, scorer.max_window(), scorer.name());
  const std::string label = scorer.name() == "reference" ? "perplexity" : "perplexity (" + scorer.name() + " engine)";
  return windowed_perplexity(ids, L, o.batch, label, o.show_progress,
                             [&](const std::vector<std::vector<int32_t>>& windows) {
                               double nll = 0;
                               for (const auto& lp : scorer.logprobs(windows))
                                 for (const float v : lp) nll -= static_cast<double>(v);
                               return nll;
                             });
}

}  // namespace dv
