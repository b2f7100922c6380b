// bench_stage.cpp: see bench_stage.h.
#include "pipeline/cli/bench_stage.h"

#include <string>
#include <vector>

#include "engine/cuda/decode_bench.h"
#include "engine/cuda/engine_context.h"
#include "pipeline/cli/bench_model.h"
#include "pipeline/cli/bench_outputs.h"

namespace dv::cli {
namespace {

void run_bench_stage(const Experiment& e, const std::string& out, const std::string& predictors) {
  const BenchSection& b = e.bench;
  engine::BenchReport report;
  nlohmann::json options = {{"section", "bench of " + e.name}};
  if (b.times_model()) {
    ModelBenchArgs m;
    m.model_dir = e.model;
    m.predictors = predictors;
    m.text = b.text;
    m.mlp_densities = b.densities;
    m.head_density = b.head_density;
    m.prompt_len = static_cast<int>(b.prompt_len);
    m.iters = static_cast<int>(b.gen_tokens);
    m.seed = static_cast<uint64_t>(e.seed) + 1;
    append_bench_rows(report, bench_model(m, print_bench_row));
    options["model"] = model_bench_options_json(m);
  }
  engine::DecodeBenchOptions o;
  o.shapes.clear();
  for (const std::string& s : b.shapes)
    if (s != "model") o.shapes.push_back(s);
  if (!o.shapes.empty()) {
    o.batch_shape = o.shapes.front();
    o.batch_sizes.assign(b.batch_sizes.begin(), b.batch_sizes.end());
    o.mlp_densities = b.densities;
    o.mlp_density = b.densities.front();
    o.head_density = b.head_density;
    o.prompt_len = static_cast<int>(b.prompt_len);
    o.iters = static_cast<int>(b.gen_tokens);
    o.seed = static_cast<uint64_t>(e.seed) + 1;
    append_bench_rows(report, engine::run_decode_bench(o, print_bench_row));
    options["shapes"] = {{"shapes", o.shapes},           {"batch_sizes", o.batch_sizes},
                         {"batch_shape", o.batch_shape}, {"mlp_densities", o.mlp_densities},
                         {"mlp_density", o.mlp_density}, {"head_density", o.head_density},
                         {"prompt_len", o.prompt_len},   {"iters", o.iters}};
  }
  write_bench_outputs(report, options, out);
}

}  // namespace

BenchRunner cuda_bench_runner() {
  BenchRunner r;
  r.unavailable = [] {
    return engine::cuda_device_available() ? std::string() : std::string("no CUDA GPU on this machine");
  };
  r.run = run_bench_stage;
  return r;
}

}  // namespace dv::cli
