// eval_stage.h: the accuracy stage: perplexity of the model run dense, oracle-sparse and
// predictor-sparse, at every point of a density sweep, MLP and heads separately and together.
// Results land as eval.csv + eval.json (+ eval.png when matplotlib is present) in the output dir.
#pragma once

#include <string>
#include <vector>

#include "engine/models/perplexity.h"
#include "engine/tokenizer/bpe_tokenizer.h"
#include "pipeline/stages/sparsity_masks.h"
#include "pipeline/stages/window_scorer.h"

namespace dv {

struct EvalSweep {
  std::vector<std::string> modes = {"dense", "oracle", "predicted"};  // predicted needs scorers
  std::vector<std::string> targets = {"mlp", "heads", "both"};
  std::vector<double> mlp_densities = {0.5, 0.25, 0.1};   // fraction of fc1 neurons kept
  std::vector<double> head_densities = {0.75, 0.5, 0.25};  // fraction of heads kept
  std::vector<int64_t> dense_layers;  // left dense at every sparse point (-1 = the last layer)
};

struct EvalPoint {
  std::string mode, target;
  double mlp_density = 1, head_density = 1;
  PerplexityResult ppl;
  MaskStats kept;
};

struct Scorers {
  ScoreFn mlp, heads;  // empty when no predictors were given
};

// One point of a sweep: a mode (dense, oracle, predicted), a target (none, mlp, heads, both) and densities.
struct PlannedPoint {
  std::string mode, target;
  double mlp = 1, heads = 1;
};
// The points of a sweep in order (dense first when listed); dv::Error for unknown modes or targets, bad
// densities, or 'predicted' without predictors. "both" pairs the lists as run_eval_sweep says.
std::vector<PlannedPoint> plan_points(const EvalSweep& sweep, bool have_predictors);
// The scorer's plan of one point (WindowScorer::set_plan): its selection, densities and the dense layers.
ScoringPlan point_plan(const PlannedPoint& point, const std::vector<bool>& dense_layer);

// "both" pairs mlp_densities[i] with head_densities[i] (the shorter list repeats its last value).
// Every point is scored through `scorer` (reference masks or the CUDA engine's own selections).
std::vector<EvalPoint> run_eval_sweep(WindowScorer& scorer, const std::vector<int32_t>& ids,
                                      const PerplexityOptions& ppl_options, const EvalSweep& sweep);
// The same through the reference model with these predictor scorers.
std::vector<EvalPoint> run_eval_sweep(const OptModel& model, const std::vector<int32_t>& ids,
                                      const PerplexityOptions& ppl_options, const EvalSweep& sweep,
                                      const Scorers& predicted);

// eval.csv, eval.json and the plot under out_dir; `context` (JSON object text) is stored in eval.json.
void write_eval_results(const std::string& out_dir, const std::vector<EvalPoint>& points, const std::string& context);

// The sweep as it can run: without a predictor dir, 'predicted' is dropped from its modes.
EvalSweep runnable_sweep(const EvalSweep& sweep, const std::string& predictors);

// The whole stage: tokenizes text, builds the scorers from predictors (when given), runs the sweep and
// writes the results; what `dejavu eval` and `dejavu run` call.
struct EvalRunOptions {
  std::string text, out, predictors;  // predictors empty: the 'predicted' mode is dropped
  int64_t max_tokens = 8192;          // 0 = all
  int64_t seq_len = 0;
  int64_t batch = 1;
  EvalSweep sweep;
  std::string model_dir, device, dtype;  // recorded in eval.json (device as requested, e.g. auto; the used one beside)
  std::string engine = "reference";      // reference | cuda: who scores (eval.engine, --engine)
};
std::vector<EvalPoint> run_eval(const OptModel& model, BpeTokenizer& tokenizer, const EvalRunOptions& options);

// Runs plot_<what>.py (found as plot_scripts.h says) over a results dir when python3 with matplotlib is
// available; a missing plotter is a warning, not an error (plots are for people, the CSV/JSON are the results).
void try_plot(const std::string& what, const std::string& out_dir);

}  // namespace dv
