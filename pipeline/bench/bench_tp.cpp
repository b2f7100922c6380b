// bench_tp.cpp: rank or launcher for `dejavu bench --tp N`, and the tables rank 0 writes.
#include "pipeline/bench/bench_tp.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <climits>

#include <cuda_runtime.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "engine/tp/nccl_comm.h"
#include "engine/tp/tp_launch.h"
#include "kernels/common/error.h"
#include "pipeline/report/result_table.h"

namespace dv::cli {
namespace {

void print_row(const TpBenchRow& t) {
  const engine::BenchRow& r = t.row;
  std::printf("  %-9s tp%d %-16s %7.3f ms/step (all-reduce off %7.3f, share %5.1f%%) slowest/mean rank %.3f, "
              "floor %7.3f ms = %5.1f%% of it, x%.2f vs dense, kept/rank mlp %d heads %d, logits spread %.2g%s\n",
              r.shape.c_str(), t.world, r.engine.c_str(), r.median_ms, t.no_reduce_ms, 100 * t.all_reduce_share,
              t.max_rank_ms / t.mean_rank_ms, r.floor_ms, 100 * r.floor_ms / r.median_ms, r.speedup_vs_dense,
              r.mlp_kept, r.heads_kept, t.logits_spread, r.per_layer ? " *" : "");
  std::fflush(stdout);
}

// tp_bench.csv and tp_bench.json's rows: rank 0's BenchRow (bytes and kept units per rank) with the ranks'
// spread, one schema for both (pipeline/report/result_table.h).
struct TpTableRow {
  std::string shape;
  int world = 1, layers = 0, model_layers = 0;
  bool per_layer = false;
  std::string engine;
  double mlp_density = 1, head_density = 1;
  int mlp_kept_per_rank = 0, heads_kept_per_rank = 0, mlp_kept_max_rank = 0, heads_kept_max_rank = 0;
  double median_ms = 0, p10_ms = 0, p90_ms = 0, ms_per_layer = 0, no_all_reduce_ms = 0, all_reduce_share = 0;
  double max_rank_ms = 0, mean_rank_ms = 0, slowest_over_mean_rank = 0;
  double weight_bytes_per_rank = 0, kv_bytes_per_rank = 0, predictor_bytes_per_rank = 0;
  double floor_ms = 0, fraction_of_floor = 0, speedup_vs_dense = 0, logits_spread = 0;
};
DV_RESULT_ROW(TpTableRow, shape, world, layers, model_layers, per_layer, engine, mlp_density, head_density,
              mlp_kept_per_rank, heads_kept_per_rank, mlp_kept_max_rank, heads_kept_max_rank, median_ms, p10_ms,
              p90_ms, ms_per_layer, no_all_reduce_ms, all_reduce_share, max_rank_ms, mean_rank_ms,
              slowest_over_mean_rank, weight_bytes_per_rank, kv_bytes_per_rank, predictor_bytes_per_rank, floor_ms,
              fraction_of_floor, speedup_vs_dense, logits_spread)

TpTableRow table_row(const TpBenchRow& t) {
  const engine::BenchRow& r = t.row;
  return {r.shape,        t.world,         r.layers,          r.model_layers,     r.per_layer,
          r.engine,       r.mlp_density,   r.head_density,    r.mlp_kept,         r.heads_kept,
          t.mlp_kept_max, t.heads_kept_max, r.median_ms,      r.p10_ms,           r.p90_ms,
          r.ms_per_layer, t.no_reduce_ms,  t.all_reduce_share, t.max_rank_ms,     t.mean_rank_ms,
          t.max_rank_ms / t.mean_rank_ms,  r.weight_bytes,    r.kv_bytes,         r.predictor_bytes,
          r.floor_ms,     r.floor_ms / r.median_ms,           r.speedup_vs_dense, t.logits_spread};
}

void write_outputs(const TpBenchReport& rep, const TpBenchArgs& a) {
  std::vector<TpTableRow> rows;
  for (const auto& r : rep.rows) rows.push_back(table_row(r));
  const TpBenchOptions& o = a.bench;
  const nlohmann::json doc = {{"device", rep.device},
                              {"world", rep.world},
                              {"copy_gbps", rep.copy_gbps},
                              {"notes", rep.notes},
                              {"options",
                               {{"shapes", o.shapes}, {"model", o.model_dir}, {"mlp_density", o.mlp_density},
                                {"head_density", o.head_density}, {"predictors", o.predictors},
                                {"rank_mlp", o.rank_mlp}, {"rank_att", o.rank_att}, {"prompt_len", o.prompt_len},
                                {"warmup", o.warmup}, {"iters", o.iters}, {"max_layers", o.max_layers},
                                {"use_graph", o.use_graph}, {"seed", o.seed}}}};
  write_result_table(a.out, "tp_bench", rows, doc, "rows");
}

void run_rank(const TpBenchArgs& a) {
  const TpRankEnv env = tp_rank_from_env();
  DV_CHECK(env.world == a.tp, "bench --tp {}: launched as rank {} of a world of {} (WORLD_SIZE); they must match",
           a.tp, env.rank, env.world);
  if (env.rank == 0)
    std::printf("dejavu bench --tp %d: rank 0 of %d, prompt %d, %d warm-up + %d timed steps, graphs %s\n", a.tp,
                env.world, a.bench.prompt_len, a.bench.warmup, a.bench.iters, a.bench.use_graph ? "on" : "off");
  const TpBenchReport rep = run_tp_bench(env, a.bench, print_row);
  if (env.rank != 0) return;
  std::printf("device %s (rank 0), copy bandwidth %.0f GB/s\n", rep.device.c_str(), rep.copy_gbps);
  for (const auto& n : rep.notes) std::printf("note: %s\n", n.c_str());
  write_outputs(rep, a);
  std::printf("bench --tp %d: results in %s (tp_bench.json, tp_bench.csv)\n", a.tp, a.out.c_str());
}

}  // namespace

void run_tp_bench_command(const TpBenchArgs& a) {
  DV_CHECK(a.tp >= 1, "bench: --tp {} must be >= 1", a.tp);
  if (tp_world_size_in_env() || a.tp == 1) return run_rank(a);
  int gpus = 0;
  if (cudaGetDeviceCount(&gpus) != cudaSuccess) gpus = 0;
  (void)cudaGetLastError();
  DV_CHECK(gpus >= a.tp,
           "bench --tp {}: this machine has {} CUDA GPU(s); tensor parallelism runs one rank per GPU (use --tp <= {} "
           "or a machine with {} GPUs)",
           a.tp, gpus, gpus, a.tp);
  make_dirs(a.out);
  RankLaunch l;
  l.argv = own_command_line();
  l.world = a.tp;
  const auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
  char dir[PATH_MAX];
  DV_CHECK(::realpath(a.out.c_str(), dir) != nullptr, "{}: cannot resolve the output directory", a.out);
  l.id_file = fmt::format("{}/.nccl_id.{}.{}", dir, ::getpid(), stamp);
  l.timeout_s = a.launch_timeout_s;
  std::printf("bench --tp %d: starting %d ranks (one per GPU)\n", a.tp, a.tp);
  std::fflush(stdout);
  launch_ranks(l);
  std::printf("bench --tp %d: all %d ranks finished; results in %s\n", a.tp, a.tp, a.out.c_str());
}

}  // namespace dv::cli
