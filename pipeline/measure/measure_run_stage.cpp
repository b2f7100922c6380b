// measure_run_stage.cpp: see measure_run_stage.h.
#include "pipeline/measure/measure_run_stage.h"

#include "engine/io/interrupt.h"
#include "engine/models/opt_weights.h"
#include "pipeline/measure/measure_stage.h"
#include "pipeline/run/run_checks.h"
#include "pipeline/train/predictor_set.h"

namespace dv {
namespace {

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
