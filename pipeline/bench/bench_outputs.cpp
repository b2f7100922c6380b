// bench_outputs.cpp: see bench_outputs.h.
#include "pipeline/bench/bench_outputs.h"

#include <cstdio>
#include <cstdlib>

#include <fmt/format.h>

#include "engine/io/atomic_file.h"
#include "kernels/common/build_info.h"
#include "pipeline/report/plot_scripts.h"

namespace dv::cli {
namespace {

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
          {"speedup_vs_dense", r.speedup_vs_dense},
          {"catchup_per_step", r.catchup_per_step},
          {"catchup_max", r.catchup_max},
          {"forced_per_step", r.forced_per_step},
          {"catchup_lost", r.catchup_lost}};
}

std::string csv(const engine::BenchReport& rep) {
  std::string s =
      "shape,layers,model_layers,per_layer,batch,engine,mlp_density,head_density,mlp_kept,heads_kept,median_ms,p10_ms,"
      "p90_ms,ms_per_layer,weight_bytes,kv_bytes,predictor_bytes,floor_ms,achieved_gbps,pct_of_copy,speedup_vs_dense,"
      "catchup_per_step,catchup_max,forced_per_step,catchup_lost\n";
  for (const auto& r : rep.rows)
    s += fmt::format("{},{},{},{},{},{},{},{},{},{},{:.5f},{:.5f},{:.5f},{:.6f},{:.0f},{:.0f},{:.0f},{:.5f},{:.1f},{:.2f},{:.4f},"
                     "{:.2f},{},{:.2f},{}\n",
                     r.shape, r.layers, r.model_layers, r.per_layer ? 1 : 0, r.batch, r.engine, r.mlp_density,
                     r.head_density, r.mlp_kept, r.heads_kept, r.median_ms, r.p10_ms, r.p90_ms, r.ms_per_layer,
                     r.weight_bytes, r.kv_bytes, r.predictor_bytes, r.floor_ms, r.achieved_gbps, r.pct_of_copy,
                     r.speedup_vs_dense, r.catchup_per_step, r.catchup_max, r.forced_per_step, r.catchup_lost);
  return s;
}

}  // namespace

void print_bench_row(const engine::BenchRow& r) {
  std::printf("%-9s %2d/%-2d%s B=%-2d %-16s mlp %.2f heads %.2f  %8.3f ms (p10 %.3f p90 %.3f)  floor %7.3f ms  "
              "%6.0f GB/s %5.1f%% of copy  x%.2f vs dense  catch-up %.1f/step (max %d)\n",
              r.shape.c_str(), r.layers, r.model_layers, r.per_layer ? "*" : " ", r.batch, r.engine.c_str(),
              r.mlp_density, r.head_density, r.median_ms, r.p10_ms, r.p90_ms, r.floor_ms, r.achieved_gbps,
              r.pct_of_copy, r.speedup_vs_dense, r.catchup_per_step, r.catchup_max);
  if (r.predictor_bytes > 0)
    std::printf("          predictors read %.1f MB a step: %.1f%% of the sparse step's weight + K/V bytes\n",
                r.predictor_bytes / 1e6, 100 * r.predictor_bytes / (r.weight_bytes + r.kv_bytes));
  std::fflush(stdout);
}

void append_bench_rows(engine::BenchReport& into, const engine::BenchReport& more) {
  if (into.device.empty()) {
    into.device = more.device;
    into.sms = more.sms;
    into.copy_gbps = more.copy_gbps;
  }
  into.rows.insert(into.rows.end(), more.rows.begin(), more.rows.end());
  into.notes.insert(into.notes.end(), more.notes.begin(), more.notes.end());
}

void write_bench_outputs(const engine::BenchReport& rep, const nlohmann::json& options, const std::string& out) {
  std::printf("device %s, %d SMs, copy bandwidth %.0f GB/s (read + write)\n", rep.device.c_str(), rep.sms,
              rep.copy_gbps);
  for (const auto& n : rep.notes) std::printf("note: %s\n", n.c_str());
  nlohmann::json j;
  j["device"] = rep.device;
  j["sms"] = rep.sms;
  j["copy_gbps"] = rep.copy_gbps;
  j["commit"] = recorded_commit();
  j["options"] = options;
  j["notes"] = rep.notes;
  j["rows"] = nlohmann::json::array();
  for (const auto& r : rep.rows) j["rows"].push_back(row_json(r));
  make_dirs(out);
  write_file_atomic(out + "/bench.json", j.dump(1) + "\n");
  write_file_atomic(out + "/bench.csv", csv(rep));
  try_plot("bench", out);
}

}  // namespace dv::cli
