// bench_outputs.cpp: see bench_outputs.h.
#include "pipeline/bench/bench_outputs.h"

#include <cstdio>
#include <cstdlib>

#include "kernels/common/build_info.h"
#include "pipeline/report/plot_scripts.h"
#include "pipeline/report/result_table.h"

// bench.csv and bench.json's rows: engine/cuda's BenchRow, one schema for both (pipeline/report/result_table.h).
namespace dv::engine {
DV_RESULT_ROW(BenchRow, shape, layers, model_layers, per_layer, batch, engine, mlp_density, head_density, mlp_kept,
              heads_kept, median_ms, p10_ms, p90_ms, ms_per_layer, weight_bytes, kv_bytes, predictor_bytes, floor_ms,
              achieved_gbps, pct_of_copy, speedup_vs_dense, catchup_per_step, catchup_max, forced_per_step,
              catchup_lost, catchup_bytes)
}  // namespace dv::engine

namespace dv::cli {

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
  const nlohmann::json doc = {{"device", rep.device}, {"sms", rep.sms},          {"copy_gbps", rep.copy_gbps},
                               {"commit", recorded_commit()}, {"options", options}, {"notes", rep.notes}};
  write_result_table(out, "bench", rep.rows, doc, "rows");
  try_plot("bench", out);
}

}  // namespace dv::cli
