// cmd_bench.cpp: `dejavu bench`: runs engine/cuda's decode benchmark, prints one line per configuration and
// the goals (dense vs floor, sparse vs dense on opt-13b / opt-30b), writes bench.json + bench.csv
// (atomically) and bench.png through scripts/plot_bench.py.
#include "pipeline/cli/cmd_bench.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/cuda/decode_bench.h"
#include "engine/io/atomic_file.h"
#include "pipeline/stages/eval_stage.h"

namespace dv::cli {
namespace {

struct BenchArgs {
  engine::DecodeBenchOptions bench;
  std::string out = "results/bench";
  bool no_predictors = false;
};

nlohmann::json row_json(const engine::BenchRow& r) {
  return {{"shape", r.shape},
          {"layers", r.layers},
          {"model_layers", r.model_layers},
          {"per_layer", r.per_layer},
          {"batch", r.batch},
          {"engine", r.engine},
          {"mlp_density", r.mlp_density},
          {"head_density", r.head_density},
          {"mlp_kept", r.mlp_kept},
          {"heads_kept", r.heads_kept},
          {"median_ms", r.median_ms},
          {"p10_ms", r.p10_ms},
          {"p90_ms", r.p90_ms},
          {"ms_per_layer", r.ms_per_layer},
          {"weight_bytes", r.weight_bytes},
          {"kv_bytes", r.kv_bytes},
          {"predictor_bytes", r.predictor_bytes},
          {"floor_ms", r.floor_ms},
          {"achieved_gbps", r.achieved_gbps},
          {"pct_of_copy", r.pct_of_copy},
          {"speedup_vs_dense", r.speedup_vs_dense}};
}

std::string csv(const engine::BenchReport& rep) {
  std::string s =
      "shape,layers,model_layers,per_layer,batch,engine,mlp_density,head_density,mlp_kept,heads_kept,median_ms,p10_ms,"
      "p90_ms,ms_per_layer,weight_bytes,kv_bytes,predictor_bytes,floor_ms,achieved_gbps,pct_of_copy,speedup_vs_dense\n";
  for (const auto& r : rep.rows)
    s += fmt::format("{},{},{},{},{},{},{},{},{},{},{:.5f},{:.5f},{:.5f},{:.6f},{:.0f},{:.0f},{:.0f},{:.5f},{:.1f},{:.2f},{:.4f}\n",
                     r.shape, r.layers, r.model_layers, r.per_layer ? 1 : 0, r.batch, r.engine, r.mlp_density,
                     r.head_density, r.mlp_kept, r.heads_kept, r.median_ms, r.p10_ms, r.p90_ms, r.ms_per_layer,
                     r.weight_bytes, r.kv_bytes, r.predictor_bytes, r.floor_ms, r.achieved_gbps, r.pct_of_copy,
                     r.speedup_vs_dense);
  return s;
}

void print_row(const engine::BenchRow& r) {
  std::printf("%-9s %2d/%-2d%s B=%-2d %-16s mlp %.2f heads %.2f  %8.3f ms (p10 %.3f p90 %.3f)  floor %7.3f ms  "
              "%6.0f GB/s %5.1f%% of copy  x%.2f vs dense\n",
              r.shape.c_str(), r.layers, r.model_layers, r.per_layer ? "*" : " ", r.batch, r.engine.c_str(),
              r.mlp_density, r.head_density, r.median_ms, r.p10_ms, r.p90_ms, r.floor_ms, r.achieved_gbps,
              r.pct_of_copy, r.speedup_vs_dense);
  std::fflush(stdout);
}

// The goals, read off the rows (batch 1): a report, not a test.
void print_goals(const engine::BenchReport& rep, const engine::DecodeBenchOptions& o) {
  std::printf("\ngoals (batch 1; * = built with fewer layers, per-layer figures):\n");
  for (const auto& r : rep.rows) {
    if (r.batch != 1) continue;
    if (r.engine == "dense")
      std::printf("  %-9s dense at %.1f%% of the floor (goal >= 85%%): %s\n", r.shape.c_str(),
                  100 * r.floor_ms / r.median_ms, 100 * r.floor_ms / r.median_ms >= 85 ? "met" : "NOT met");
    const bool at_goal_point = std::abs(r.mlp_density - o.mlp_density) < 1e-9 && std::abs(r.head_density - o.head_density) < 1e-9;
    if (r.engine != "dense" && at_goal_point)
      std::printf("  %-9s %-16s mlp %.2f heads %.2f: x%.2f vs dense (goal >= 3 on opt-13b/opt-30b), %.1f%% of copy\n",
                  r.shape.c_str(), r.engine.c_str(), r.mlp_density, r.head_density, r.speedup_vs_dense, r.pct_of_copy);
  }
}

void run_bench(BenchArgs& a) {
  a.bench.predictors = !a.no_predictors;
  std::printf("dejavu bench: shapes");
  for (const auto& s : a.bench.shapes) std::printf(" %s", s.c_str());
  std::printf(", prompt %d, %d warm-up + %d timed steps per configuration\n", a.bench.prompt_len, a.bench.warmup,
              a.bench.iters);
  const engine::BenchReport rep = engine::run_decode_bench(a.bench, print_row);
  std::printf("device %s, %d SMs, copy bandwidth %.0f GB/s (read + write)\n", rep.device.c_str(), rep.sms,
              rep.copy_gbps);
  for (const auto& n : rep.notes) std::printf("note: %s\n", n.c_str());
  print_goals(rep, a.bench);

  nlohmann::json j;
  j["device"] = rep.device;
  j["sms"] = rep.sms;
  j["copy_gbps"] = rep.copy_gbps;
  const char* commit = std::getenv("DEJAVU_COMMIT");
  j["commit"] = commit != nullptr ? commit : "";
  j["options"] = {{"shapes", a.bench.shapes},         {"batch_sizes", a.bench.batch_sizes},
                  {"batch_shape", a.bench.batch_shape}, {"mlp_densities", a.bench.mlp_densities},
                  {"head_density", a.bench.head_density}, {"mlp_density", a.bench.mlp_density},
                  {"prompt_len", a.bench.prompt_len},   {"warmup", a.bench.warmup},
                  {"iters", a.bench.iters},             {"predictors", a.bench.predictors},
                  {"rank_mlp", a.bench.rank_mlp},       {"rank_att", a.bench.rank_att},
                  {"predictor_dtypes", a.bench.predictor_dtypes},
                  {"predictor_mlp_densities", a.bench.predictor_mlp_densities},
                  {"max_layers", a.bench.max_layers},   {"seed", a.bench.seed}};
  j["notes"] = rep.notes;
  j["rows"] = nlohmann::json::array();
  for (const auto& r : rep.rows) j["rows"].push_back(row_json(r));
  make_dirs(a.out);
  write_file_atomic(a.out + "/bench.json", j.dump(1) + "\n");
  write_file_atomic(a.out + "/bench.csv", csv(rep));
  try_plot("bench", a.out);
  std::printf("bench: results in %s (bench.json, bench.csv, bench.png)\n", a.out.c_str());
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand("bench", "Decode latency of the CUDA engine: dense vs sparse (JSON, CSV, plot)");
  auto& b = a->bench;
  cmd->add_option("--out", a->out, "output directory")->capture_default_str();
  cmd->add_option("--shapes", b.shapes, "OPT shapes (random fp16 weights)")->capture_default_str()->delimiter(',');
  cmd->add_option("--batch-sizes", b.batch_sizes, "batch sizes swept on --batch-shape")
      ->capture_default_str()->delimiter(',');
  cmd->add_option("--batch-shape", b.batch_shape, "the shape whose batch sizes are swept")->capture_default_str();
  cmd->add_option("--mlp-densities", b.mlp_densities, "MLP densities of the fixed-selection sweep (batch 1)")
      ->capture_default_str()->delimiter(',');
  cmd->add_option("--head-density", b.head_density, "fraction of heads kept")->capture_default_str();
  cmd->add_option("--mlp-density", b.mlp_density, "MLP density of the predictor rows and the batch sweep")
      ->capture_default_str();
  cmd->add_option("--prompt-len", b.prompt_len, "prompt tokens before the timed decode steps")->capture_default_str();
  cmd->add_option("--warmup", b.warmup, "untimed steps per configuration")->capture_default_str();
  cmd->add_option("--iters", b.iters, "timed steps per configuration (median reported)")->capture_default_str();
  cmd->add_flag("--no-predictors", a->no_predictors, "skip the rows with random low-rank predictors");
  cmd->add_option("--rank-mlp", b.rank_mlp, "MLP predictor rank")->capture_default_str();
  cmd->add_option("--rank-att", b.rank_att, "attention predictor rank")->capture_default_str();
  cmd->add_option("--predictor-dtype", b.predictor_dtypes, "predictor weight formats timed side by side: fp16, int8")
      ->capture_default_str()->delimiter(',');
  cmd->add_option("--predictor-mlp-densities", b.predictor_mlp_densities,
                  "MLP densities of the predictor rows (default: --mlp-density)")->delimiter(',');
  cmd->add_option("--max-layers", b.max_layers, "build at most N layers per shape (0 = all that fit)")
      ->capture_default_str();
  cmd->add_option("--seed", b.seed, "random weights and selections")->capture_default_str();
  cmd->callback([a] { run_bench(*a); });
}

}  // namespace dv::cli
