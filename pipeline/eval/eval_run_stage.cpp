// eval_run_stage.cpp: see eval_run_stage.h.
#include "pipeline/eval/eval_run_stage.h"

#include <fmt/format.h>

#include "engine/io/interrupt.h"
#include "pipeline/eval/eval_stage.h"
#include "pipeline/experiment/content_hash.h"
#include "pipeline/run/run_checks.h"
#include "pipeline/run/shared_model.h"
#include "pipeline/scoring/scorer_factory.h"
#include "pipeline/tasks/task_docs.h"
#include "pipeline/tasks/task_stage.h"
#include "pipeline/train/predictor_set.h"

namespace dv {
namespace {

// eval.tasks: scored over the same sweep and predictors as the perplexity, into the eval dir (tasks.csv).
TaskRunOptions task_options(const Experiment& e, const EvalRunOptions& eval) {
  TaskRunOptions o;
  for (const EvalTaskSpec& t : e.eval.tasks) o.tasks.push_back({t.name, t.format, t.file});
  o.out = eval.out;
  o.predictors = eval.predictors;
  o.max_docs = e.eval.task_max_docs;
  o.batch = e.eval.task_batch;
  o.seed = static_cast<uint64_t>(e.seed);
  o.sweep = eval.sweep;
  o.engine = eval.engine;  // eval.engine: the tasks are scored by the same engine as the perplexity
  o.model_dir = e.model;
  o.device = e.device;
  o.dtype = e.dtype;
  return o;
}

// What a perplexity point depends on besides its place in the sweep: the stage hash of the experiment with
// the sweep's lists and the tasks set aside, over the model, the text and the predictors. Adding, removing or
// reordering densities, modes or targets keeps it; anything else changes it.
std::string point_key(const Experiment& e, const RunLayout& layout) {
  Experiment k = e;
  k.eval.sweep.modes = {"dense"};
  k.eval.sweep.targets = {"mlp"};
  k.eval.sweep.mlp_densities = {1.0};
  k.eval.sweep.head_densities = {1.0};
  k.eval.tasks.clear();
  k.eval.task_max_docs = kEvalDefaults.task_max_docs;
  k.eval.task_batch = kEvalDefaults.task_batch;
  std::vector<std::string> in = {e.model, e.eval.text};
  if (e.runs(Stage::kTrain)) in.push_back(layout.predictors() + "/" + kPredictorsFileName);
  return run_stage_hash(k, Stage::kEval, in, layout.root);
}

class EvalRunStage final : public RunStage {
 public:
  Stage stage() const override { return Stage::kEval; }
  std::vector<std::string> inputs(const Experiment& e, const RunLayout& layout) const override {
    std::vector<std::string> in = {e.model, e.eval.text};
    if (e.runs(Stage::kTrain)) in.push_back(layout.predictors() + "/" + kPredictorsFileName);
    for (const EvalTaskSpec& t : e.eval.tasks) in.push_back(t.file);
    return in;
  }

  void check_inputs(const Experiment& e, const RunLayout&, InputCheck& check) const override {
    check.checkpoint(e.model, "model");
    check.text(e.eval.text, "eval.text");
    // Each task file parsed as the stage will read it: a malformed line fails now, not after the perplexity sweep.
    for (const EvalTaskSpec& t : e.eval.tasks)
      check.once(t.file, [&] {
        try {
          read_task(t.name, t.format, t.file, e.eval.task_max_docs);
        } catch (const Error& err) {
          throw Error(fmt::format("eval.tasks ({}): {}", t.name, err.what()));
        }
      });
  }

  void run(const StageContext& ctx) const override {
    const Experiment& e = ctx.experiment;
    EvalRunOptions o = eval_run_options(e.eval, ctx.work);
    o.predictors = e.runs(Stage::kTrain) ? ctx.layout.predictors() : "";
    check_engine_available(o.engine, "eval.engine");
    o.model_dir = e.model;
    o.device = e.device;
    o.dtype = e.dtype;
    o.point_key = point_key(e, ctx.layout);
    if (!ctx.force) o.reuse_from = ctx.layout.stage_dir(Stage::kEval);  // --force scores every point afresh
    run_eval(ctx.model.model(), ctx.model.tokenizer(), o);
    if (!e.eval.tasks.empty()) run_tasks(ctx.model.model(), ctx.model.tokenizer(), task_options(e, o));
    // A stop that came while plotting (the plot may be missing): the stage re-runs whole.
    check_interrupt("eval");
  }
};

}  // namespace

const RunStage& eval_run_stage() {
  static const EvalRunStage stage;
  return stage;
}

}  // namespace dv
