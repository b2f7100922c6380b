// measure_run_stage.cpp: see measure_run_stage.h.
#include "pipeline/measure/measure_run_stage.h"

#include "engine/io/interrupt.h"
#include "engine/models/opt_weights.h"
#include "pipeline/experiment/content_hash.h"
#include "pipeline/measure/measure_stage.h"
#include "pipeline/run/run_checks.h"
#include "pipeline/train/predictor_set.h"

namespace dv {
namespace {

// The stage hash of the experiment with the measure section's sweep lists set aside, over these inputs: what a
// part of measure's results depends on besides which values were swept (measure_reuse.h).
std::string reuse_key(const Experiment& e, const std::vector<std::string>& inputs, const RunLayout& layout) {
  Experiment k = e;
  k.measure = MeasureSection{{0.5}, {0.5}, {0.5}, {0.5}};
  return run_stage_hash(k, Stage::kMeasure, inputs, layout.root);
}

class MeasureRunStage final : public RunStage {
 public:
  Stage stage() const override { return Stage::kMeasure; }
  std::vector<std::string> inputs(const Experiment& e, const RunLayout& layout) const override {
    if (e.runs(Stage::kTrain)) return {layout.acts(), layout.predictors() + "/" + kPredictorsFileName};
    return {layout.acts()};
  }

  void check_inputs(const Experiment& e, const RunLayout& layout, InputCheck& check) const override {
    if (!e.runs(Stage::kCollect)) check.store(layout.acts());  // an earlier run's store, not remade here
  }

  void run(const StageContext& ctx) const override {
    const Experiment& e = ctx.experiment;
    MeasureOptions o;
    o.acts = ctx.layout.acts();
    o.predictors = e.runs(Stage::kTrain) ? ctx.layout.predictors() : "";
    o.out = ctx.work;
    o.sweeps = e.measure;
    o.device = parse_device(e.device).str();
    o.oracle_key = reuse_key(e, {ctx.layout.acts()}, ctx.layout);
    if (!o.predictors.empty()) o.predictor_key = reuse_key(e, inputs(e, ctx.layout), ctx.layout);
    if (!ctx.force) o.reuse_from = ctx.layout.stage_dir(Stage::kMeasure);  // --force measures everything afresh
    run_measure(o);
    // A stop that came while plotting (the plot may be missing): the stage re-runs whole.
    check_interrupt("measure");
  }
};

}  // namespace

const RunStage& measure_run_stage() {
  static const MeasureRunStage stage;
  return stage;
}

}  // namespace dv
