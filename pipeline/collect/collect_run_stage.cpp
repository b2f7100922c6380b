// collect_run_stage.cpp: see collect_run_stage.h.
#include "pipeline/collect/collect_run_stage.h"

#include <fmt/format.h>

#include "engine/io/interrupt.h"
#include "pipeline/collect/collect_stage.h"
#include "pipeline/run/run_checks.h"
#include "pipeline/run/shared_model.h"

namespace dv {
namespace {

class CollectRunStage final : public RunStage {
 public:
  Stage stage() const override { return Stage::kCollect; }
  std::vector<std::string> inputs(const Experiment& e, const RunLayout&) const override {
    return {e.model, e.collect.text};
  }
  std::vector<std::string> outputs(const RunLayout& layout) const override { return {layout.acts()}; }
  void check_inputs(const Experiment& e, const RunLayout&, InputCheck& check) const override {
    check.checkpoint(e.model, "model");
    check.text(e.collect.text, "collect.text");
  }

  void run(const StageContext& ctx) const override {
    const Experiment& e = ctx.experiment;
    CollectOptions o = collect_options(e.collect, ctx.work + "/acts.h5", "collect.");
    o.force = ctx.force;
    const CollectResult r = run_collect(ctx.model.model(), ctx.model.tokenizer(), e.model, o);
    if (r.interrupted)
      throw Interrupted(fmt::format("collect: interrupted by {}; {} rows are committed and kept in {}.partial",
                                    signal_name(interrupt_signal()), r.rows, o.out));
  }
};

}  // namespace

const RunStage& collect_run_stage() {
  static const CollectRunStage stage;
  return stage;
}

}  // namespace dv
