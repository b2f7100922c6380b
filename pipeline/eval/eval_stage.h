// eval_stage.h: the accuracy stage: perplexity of the model run dense, oracle-sparse and
// predictor-sparse, at every point of a density sweep, MLP and heads separately and together.
// Results land as eval.csv + eval.json (+ eval.png when matplotlib is present) in the output dir.
#pragma once

#include <string>
#include <vector>

#include "engine/models/perplexity.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "pipeline/eval/eval_section.h"
#include "pipeline/scoring/predicted_scorers.h"
#include "pipeline/scoring/sparsity_masks.h"
#include "pipeline/scoring/sweep.h"
#include "pipeline/scoring/window_scorer.h"

namespace dv {

struct EvalPoint {
  std::string mode, target;
  double mlp_density = 1, head_density = 1;
  PerplexityResult ppl;
  SelectionStats kept;
};

// "both" pairs mlp_densities[i] with head_densities[i] (the shorter list repeats its last value).
// Every point is scored through `scorer` (reference masks or the CUDA engine's own selections).
std::vector<EvalPoint> run_eval_sweep(WindowScorer& scorer, const std::vector<int32_t>& ids,
                                      const PerplexityOptions& ppl_options, const EvalSweep& sweep);
// The same for these points of a sweep (plan_points), e.g. the ones an earlier run did not score.
std::vector<EvalPoint> run_eval_points(WindowScorer& scorer, const std::vector<int32_t>& ids,
                                       const PerplexityOptions& ppl_options, const std::vector<PlannedPoint>& planned,
                                       const std::vector<int64_t>& dense_layers);
// The same through the reference model with these predictor scorers.
std::vector<EvalPoint> run_eval_sweep(const OptModel& model, const std::vector<int32_t>& ids,
                                      const PerplexityOptions& ppl_options, const EvalSweep& sweep,
                                      const Scorers& predicted);

// eval.csv, eval.json and the plot under out_dir; `context` (JSON object text) is stored in eval.json.
void write_eval_results(const std::string& out_dir, const std::vector<EvalPoint>& points, const std::string& context);

// The whole stage: tokenizes text, builds the scorers from predictors (when given), runs the sweep and
// writes the results; what `dejavu eval` and `dejavu run` call.
// The eval section's fields (eval_section.h) take their defaults from there; eval_run_options() fills them.
struct EvalRunOptions {
  std::string text, out, predictors;  // predictors empty: the 'predicted' mode is dropped
  int64_t max_tokens = kEvalDefaults.max_tokens;
  int64_t seq_len = kEvalDefaults.seq_len;
  int64_t batch = 1;
  EvalSweep sweep;
  std::string model_dir, device, dtype;  // recorded in eval.json (device as requested, e.g. auto; the used one beside)
  std::string engine = kEvalDefaults.engine;
  // Reuse of finished points: point_key identifies everything a point's perplexity depends on except which
  // points the sweep lists (model, text, predictors, tokens, window, engine, dense layers, device, dtype);
  // a point of reuse_from/eval.json recorded with the same key is taken as it is instead of scored again.
  // Empty: every point is scored.
  std::string point_key;
  std::string reuse_from;
};
// The perplexity part of an eval section (text, tokens, window, sweep, engine) as options writing into `out`.
EvalRunOptions eval_run_options(const EvalSection& section, const std::string& out);
// Returns how many points eval.csv holds (scored now or reused).
size_t run_eval(const OptModel& model, BpeTokenizer& tokenizer, const EvalRunOptions& options);

}  // namespace dv
