// train_run_stage.cpp: see train_run_stage.h.
#include "pipeline/train/train_run_stage.h"

#include <fmt/format.h>

#include "engine/io/interrupt.h"
#include "engine/models/opt_weights.h"
#include "pipeline/run/run_checks.h"
#include "pipeline/train/predictor_set.h"
#include "pipeline/train/train_predictors.h"

namespace dv {
namespace {

TrainOptions train_options(const Experiment& e) {
  TrainOptions o = train_options(e.train, "train.");
  o.device = parse_device(e.device).str();
  o.seed = static_cast<uint64_t>(e.seed);
  return o;
}

class TrainRunStage final : public RunStage {
 public:
  Stage stage() const override { return Stage::kTrain; }
  std::vector<std::string> inputs(const Experiment&, const RunLayout& layout) const override {
    return {layout.acts()};
  }
  std::vector<std::string> outputs(const RunLayout& layout) const override {
    return {layout.predictors() + "/" + kPredictorsFileName};
  }

  void check_inputs(const Experiment& e, const RunLayout& layout, InputCheck& check) const override {
    if (!e.runs(Stage::kCollect)) check.store(layout.acts());  // an earlier run's store, not remade here
  }

  void run(const StageContext& ctx) const override {
    TrainContext train;
    train.stop_requested = [] { return interrupt_requested(); };
    const TrainSummary r = train_predictors(ctx.layout.acts(), ctx.work, train_options(ctx.experiment), train);
    if (r.interrupted)
      throw Interrupted(fmt::format("train: interrupted by {}; {} of {} layers are finished and kept in {}/{}",
                                    signal_name(interrupt_signal()), r.layers.size(), r.options.layers.size(),
                                    ctx.work, kPartialDirName));
  }
};

}  // namespace

const RunStage& train_run_stage() {
  static const TrainRunStage stage;
  return stage;
}

}  // namespace dv
