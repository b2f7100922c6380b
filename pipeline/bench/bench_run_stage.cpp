// bench_run_stage.cpp: see bench_run_stage.h.
#include "pipeline/bench/bench_run_stage.h"

#include <string>
#include <vector>

#include "engine/cuda/decode_bench.h"
#include "engine/cuda/engine_context.h"
#include "pipeline/bench/bench_model.h"
#include "pipeline/bench/bench_outputs.h"
#include "pipeline/bench/bench_plan.h"
#include "pipeline/train/predictor_set.h"

namespace dv {
namespace {

void run_bench_stage(const Experiment& e, const std::string& out, const std::string& predictors) {
  const BenchSection& b = e.bench;
  const auto seed = static_cast<uint64_t>(e.seed) + 1;
  engine::BenchReport report;
  nlohmann::json options = {{"section", "bench of " + e.name}};
  if (b.times_model()) {
    cli::ModelBenchArgs m;
    cli::apply_bench_section(b, m);
    m.model_dir = e.model;
    m.predictors = predictors;
    m.seed = seed;
    cli::append_bench_rows(report, cli::bench_model(m, cli::print_bench_row));
    options["model"] = cli::model_bench_options_json(m);
  }
  engine::DecodeBenchOptions o;
  cli::apply_bench_section(b, o);
  o.seed = seed;
  if (!o.shapes.empty()) {
    cli::append_bench_rows(report, engine::run_decode_bench(o, cli::print_bench_row));
    options["shapes"] = {{"shapes", o.shapes},           {"batch_sizes", o.batch_sizes},
                         {"batch_shape", o.batch_shape}, {"mlp_densities", o.mlp_densities},
                         {"mlp_density", o.mlp_density}, {"head_density", o.head_density},
                         {"prompt_len", o.prompt_len},   {"iters", o.iters}};
  }
  cli::write_bench_outputs(report, options, out);
}

class BenchRunStage final : public RunStage {
 public:
  Stage stage() const override { return Stage::kBench; }
  std::vector<std::string> inputs(const Experiment& e, const RunLayout& layout) const override {
    std::vector<std::string> in;
    if (e.bench.times_model()) in.push_back(e.model);
    if (e.bench.times_model() && e.runs(Stage::kTrain))
      in.push_back(layout.predictors() + "/" + kPredictorsFileName);
    if (!e.bench.text.empty()) in.push_back(e.bench.text);
    return in;
  }
  std::string unavailable() const override {
    return engine::cuda_device_available() ? std::string() : std::string("no CUDA GPU on this machine");
  }
  void run(const StageContext& ctx) const override {
    const Experiment& e = ctx.experiment;
    run_bench_stage(e, ctx.work, e.runs(Stage::kTrain) ? ctx.layout.predictors() : "");
  }
};

}  // namespace

const RunStage& bench_run_stage() {
  static const BenchRunStage stage;
  return stage;
}

}  // namespace dv
