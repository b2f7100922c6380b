// decode_bench.h: per-token decode latency of the dense and sparse engines on random weights of OPT shapes,
// after a prompt of prompt_len tokens (run dense through the decode step, once per shape and batch size;
// every measured configuration rewinds to the end of that prompt). Timing: CUDA events between consecutive
// graph replays (the GPU time of each step, launch gaps included), after warm-up; median of many steps.
// Roofline: the bytes a step must read (bench_bytes.h) over the device-to-device copy bandwidth measured in
// the same run. One shape is allocated at a time and freed before the next; a shape that does not fit is
// built with as many layers as fit and its rows are marked per_layer (divide by layers for per-layer cost).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/io/opt_config.h"

namespace dv::engine {

struct DecodeBenchOptions {
  std::vector<std::string> shapes = {"opt-1.3b", "opt-6.7b", "opt-13b", "opt-30b", "opt-66b"};
  std::vector<int> batch_sizes = {1, 2, 4, 8, 16, 32};  // swept on batch_shape only (others: batch 1)
  std::string batch_shape = "opt-13b";
  std::vector<double> mlp_densities = {0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0};  // fixed selections, batch 1
  double head_density = 0.5;
  double mlp_density = 0.1;  // the predictor rows and the batch sweep's sparse rows
  int prompt_len = 128;
  int warmup = 5;
  int iters = 40;
  bool predictors = true;  // also time random low-rank predictors (top-k, lookahead on the side stream)
  int rank_mlp = 1000;     // the paper's latency-code ranks: the largest ranks the rule below may pick
  int rank_att = 512;
  // Predictor ranks per shape (predictor_budget.h): the largest ranks whose bytes stay within this share of the
  // sparse step's bytes; 0 = rank_mlp / rank_att on every shape.
  double predictor_share = 0.1;
  // Batch > 1: how the rows' predicted selections are united, rows side by side ("per-row", "max").
  std::vector<std::string> batch_unions = {"per-row"};
  double dense_crossover = 0.9;  // a united selection past this fraction of n becomes all n
  // Predictor weight formats timed side by side: "fp16" (rows "sparse-predictor") and/or "int8" (rows
  // "sparse-predictor-int8", per-row int8 weights).
  std::vector<std::string> predictor_dtypes = {"fp16"};
  std::vector<double> predictor_mlp_densities;  // MLP densities of the predictor rows; empty: {mlp_density}
  std::string kv_heads = "auto";  // sparse rows: K/V of the selected heads or of all (SparseSpec::kv_heads)
  // What the random MLP predictors read (SparseSpec's input names): attn_input (layer l's attention input, forked
  // at the start of layer l and joined before its MLP) or prev_mlp_input (layer l-1's MLP input: a whole layer
  // of slack on the side stream). The head predictors read prev_attn_input.
  std::string mlp_predictor_input = "attn_input";
  // Which blocks the predictor rows predict: both, or one ("mlp" | "heads") with the other on a fixed random
  // subset (fixed heads: no K/V catch-up). A diagnostic: where the predictors' cost over sparse-fixed goes.
  std::string predicted_blocks = "both";
  // Not empty: after timing each persistent row, one more step of it traced (decode_trace.h): its per-op times
  // into <trace_dir>/persistent_trace_<shape>_<row>.csv and its summary printed (`bench --persistent-trace`).
  std::string trace_dir;
  // Decode paths timed side by side on the same engine and sequence: "graph" and/or "persistent" (rows named
  // <engine>-persistent; the persistent path runs batches <= 8 with fp16 predictors, other rows stay graph-only).
  std::vector<std::string> decode_paths = {"graph"};
  int max_layers = 0;      // 0: every layer that fits
  double reserve_gib = 4;  // device memory left free beyond the engine's buffers
  uint64_t seed = 1;
};

struct BenchRow {
  std::string shape;
  int layers = 0, model_layers = 0;
  bool per_layer = false;  // built with fewer layers than the model has
  int batch = 1;
  std::string engine;      // dense | sparse-fixed | sparse-union | sparse-predictor[-int8][-max] (-max: max union),
                           // with "-persistent" appended for the persistent decode path
  double mlp_density = 1, head_density = 1;
  int mlp_kept = 0, heads_kept = 0;
  double median_ms = 0, p10_ms = 0, p90_ms = 0, ms_per_layer = 0;
  double weight_bytes = 0, kv_bytes = 0, predictor_bytes = 0;
  double floor_ms = 0, achieved_gbps = 0, pct_of_copy = 0;
  double speedup_vs_dense = 0;  // dense median / this median (same shape, batch)
  // K/V catch-up of the timed steps (device counters; sparse rows): head-positions recomputed per step over
  // all layers (selected heads' missed positions + forced catch-up), the forced part, and positions lost
  // from the input ring (a broken catch-up plan; always 0).
  double catchup_per_step = 0;
  int catchup_max = 0;
  double forced_per_step = 0;
  long long catchup_lost = 0;
  double catchup_bytes = 0;  // what the catch-up adds to the step's bytes (bench_bytes.h), in floor_ms too
};

struct BenchReport {
  std::string device;
  int sms = 0;
  double copy_gbps = 0;
  std::vector<BenchRow> rows;
  std::vector<std::string> notes;  // shapes skipped or truncated, and why
};

BenchReport run_decode_bench(const DecodeBenchOptions& options, const std::function<void(const BenchRow&)>& on_row);

// The pieces of the sweep that model_bench.h and engine/tp's bench reuse.
class CudaEngine;
struct LowRankWeights;
struct BlockSpec;
// "per-row" or "max" as the BlockSpec's batch union; throws on other names.
void set_batch_union(BlockSpec& block, const std::string& name);
// Random low-rank predictors (fp16, on the current device) of the given rank for n outputs, one per layer
// (latency only: their selections are arbitrary).
std::vector<LowRankWeights> random_predictors(const OptConfig& c, int layers, int rank, int n, uint64_t seed);
enum class StepMode;
struct StepTiming {
  double median = 0, p10 = 0, p90 = 0;
  double catchup_per_step = 0, forced_per_step = 0;  // sparse steps: the K/V catch-up counters
  int catchup_max = 0;
  long long catchup_lost = 0;
};
// A report without rows: the device's name and SMs, and the copy bandwidth measured now.
BenchReport device_bench_report();
// Rewinds to the end of the prompt, warms up, then times `iters` consecutive steps with events (sparse: and
// reads the catch-up counters of the timed steps). With `tokens` ((warmup + iters) * batch ids, [step][row]) every
// step first uploads its own tokens (real inputs: selections change per token); without, each step re-reads the
// tokens already on the device.
StepTiming time_decode_steps(CudaEngine& engine, StepMode mode, int prompt_len, int warmup, int iters,
                             const std::vector<int32_t>& tokens = {});
// The row name of `engine` on a decode path ("dense", "dense-persistent"); whether the path runs this
// configuration (the persistent path: batch <= 8, no int8 predictors).
std::string path_row_name(const std::string& engine, const std::string& path);
bool path_runs(const std::string& path, int batch, bool int8_predictors);
// A row from one timing: bytes and roofline at the mean attended length of the timed steps.
BenchRow make_bench_row(const CudaEngine& engine, const std::string& shape, int model_layers, const std::string& name,
                        double mlp_density, double head_density, int mlp_kept, int heads_kept, const StepTiming& t,
                        double mean_len, double predictor_bytes, double copy_gbps, double dense_ms);

}  // namespace dv::engine
