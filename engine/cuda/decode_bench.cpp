// decode_bench.cpp: the sweep behind `dejavu bench` (see decode_bench.h).
#include "engine/cuda/decode_bench.h"

#include <algorithm>
#include <cmath>
#include <memory>

#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include "engine/cuda/bench_bytes.h"
#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/engine_kernels.cuh"
#include "engine/cuda/predictor_budget.h"
#include "engine/cuda/step_switches.h"
#include "engine/cuda/tensor_ptr.h"
#include "engine/io/atomic_file.h"
#include "kernels/common/cuda_check.h"
#include "kernels/persistent_decode/decode_trace.h"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv::engine {
std::vector<LowRankWeights> random_predictors(const OptConfig& c, int layers, int rank, int n, uint64_t seed) {
  std::vector<LowRankWeights> out(layers);
  for (int l = 0; l < layers; ++l) {
    out[l].w1 = at::empty({rank, c.hidden_size}, cuda_options(at::kHalf));
    out[l].w2 = at::empty({n, rank}, cuda_options(at::kHalf));
    launch_fill_normal(half_ptr(out[l].w1), out[l].w1.numel(), seed + 2 * l, 0.f, 0.05f, nullptr);
    launch_fill_normal(half_ptr(out[l].w2), out[l].w2.numel(), seed + 2 * l + 1, 0.f, 0.05f, nullptr);
  }
  DV_CUDA_CHECK(cudaDeviceSynchronize());
  return out;
}

void set_batch_union(BlockSpec& block, const std::string& name) {
  DV_CHECK(name == "per-row" || name == "max", "bench: batch union '{}' is not per-row or max", name);
  block.batch_union = name == "max" ? kernels::BatchUnion::kMaxLogit : kernels::BatchUnion::kPerRow;
}

namespace {

// Block `b` on a fixed random subset of its density (the predictors' cost split, decode_bench.h).
BlockSpec fixed_block(const BlockSpec& b, uint64_t seed) {
  BlockSpec f;
  f.source = SelectionSource::kFixed;
  f.density = b.density;
  f.seed = seed;
  return f;
}

// One more step of the persistent path, traced: its per-op CSV and its summary (decode_trace.h).
void trace_persistent_step(CudaEngine& engine, StepMode mode, const std::string& dir, const std::string& tag) {
  PersistentDecoder& d = engine.persistent(mode);
  d.set_trace(true);
  engine.enqueue_step(mode);
  const std::vector<kernels::PersistentOpTrace> raw = d.read_trace(engine.stream());
  d.set_trace(false);
  const kernels::StepTrace t = kernels::analyze_step_trace(d.ops(), raw);
  const std::string path = dir + "/persistent_trace_" + tag + ".csv";
  write_file_atomic(path, kernels::step_trace_csv(t));
  fmt::print("bench: {} traced (one step, {}):\n{}", tag, path, kernels::step_trace_summary(t));
}

class ShapeBench {
 public:
  ShapeBench(const DecodeBenchOptions& o, const BenchReport& report, const std::function<void(const BenchRow&)>& emit)
      : o_(o), report_(report), emit_(emit) {}

  void run(const GpuWeights& w, const OptConfig& full, int batch, std::vector<BenchRow>& rows) {
    CudaEngineOptions eo;
    eo.batch = batch;
    eo.max_len = o_.prompt_len + o_.warmup + o_.iters + 1;
    CudaEngine engine(w, eo);
    const OptConfig& c = engine.config();
    engine.reset();
    std::vector<int32_t> tokens(batch);
    for (int b = 0; b < batch; ++b) tokens[b] = static_cast<int32_t>((1000 + 7919 * b) % c.vocab_size);
    engine.set_tokens(tokens);
    for (int t = 0; t < o_.prompt_len; ++t) engine.enqueue_step(StepMode::kDense);
    DV_CUDA_CHECK(cudaStreamSynchronize(engine.stream()));

    const int ffn = static_cast<int>(c.ffn_dim), H = static_cast<int>(c.num_attention_heads);
    const double dense_ms = add(rows, engine, full, "dense", StepMode::kDense, 1, 1, ffn, H, 0, 0, false);
    auto sparse = [&](const std::string& name, double mlp_d, double head_d, bool predictors, bool int8 = false,
                      const std::string& batch_union = "per-row") {
      SparseSpec spec;
      spec.kv_heads = parse_kv_heads(o_.kv_heads);
      spec.mlp.density = mlp_d;
      spec.heads.density = head_d;
      if (predictors) {
        // Ranks by the budget rule on the full model (predictor_budget.h).
        PredictorBudget budget;
        budget.share = o_.predictor_share;
        budget.max_rank_mlp = o_.rank_mlp;
        budget.max_rank_att = o_.rank_att;
        budget.int8 = int8;
        const PredictorSizing ps = size_predictors(full, budget, batch, mlp_d, head_d, mean_len());
        fmt::print("bench: {} {}: predictor ranks {} / {} ({}), {:.1f}% of the sparse step's bytes\n", full.name, name,
                   ps.rank_mlp, ps.rank_att, int8 ? "int8" : "fp16", 100 * ps.share());
        spec.mlp.source = spec.heads.source = SelectionSource::kPredictor;
        spec.mlp.input = parse_predictor_input_kind(o_.mlp_predictor_input);  // lookahead (decode_bench.h)
        spec.heads.input = PredictorInputKind::kPrevAttnInput;
        spec.mlp.predictors = random_predictors(c, w.num_layers(), ps.rank_mlp, ffn, o_.seed * 1000 + 1);
        spec.heads.predictors = random_predictors(c, w.num_layers(), ps.rank_att, H, o_.seed * 1000 + 500001);
        // A diagnostic split of the predictors' cost: one block predicted, the other on its fixed selection
        // (fixed heads: no K/V catch-up).
        if (o_.predicted_blocks == "mlp") {
          spec.heads = fixed_block(spec.heads, o_.seed + 1);
        } else if (o_.predicted_blocks == "heads") {
          spec.mlp = fixed_block(spec.mlp, o_.seed);
        }
        spec.mlp.int8_weights = spec.heads.int8_weights = int8;
        for (BlockSpec* b : {&spec.mlp, &spec.heads}) {
          set_batch_union(*b, batch_union);
          b->dense_crossover = o_.dense_crossover;
        }
      } else {
        spec.mlp.source = spec.heads.source = SelectionSource::kFixed;
        spec.mlp.seed = o_.seed;
        spec.heads.seed = o_.seed + 1;
      }
      engine.set_sparse(spec);
      const auto& tiled = engine.sparse()->w_qkv_tiled;
      const long copies = std::count_if(tiled.begin(), tiled.end(), [](const at::Tensor& t) { return t.defined(); });
      if (qkv_tiled() && copies < static_cast<long>(tiled.size()))
        fmt::print("bench: {} {}: tiled w_qkv copies for {} of {} layers (device memory), the rest row-major\n",
                   full.name, name, copies, tiled.size());
      add(rows, engine, full, name, StepMode::kSparse, mlp_d, head_d, kept_count(mlp_d, ffn), kept_count(head_d, H),
          dense_ms, engine.sparse()->predictor_bytes, int8);
      engine.rewind(o_.prompt_len);
      engine.clear_sparse();
    };
    if (batch == 1)
      for (double m : o_.mlp_densities) sparse("sparse-fixed", m, o_.head_density, false);
    else
      sparse("sparse-fixed", o_.mlp_density, o_.head_density, false);
    if (batch > 1) {
      // Independent per-row selections of density p unite to 1 - (1 - p)^B: the pessimistic end of how
      // the union grows with batch (real selections overlap more).
      const double um = 1 - std::pow(1 - o_.mlp_density, batch), uh = 1 - std::pow(1 - o_.head_density, batch);
      sparse("sparse-union", std::min(1.0, um), std::min(1.0, uh), false);
    }
    if (o_.predictors) {
      const std::vector<double> densities =
          o_.predictor_mlp_densities.empty() ? std::vector<double>{o_.mlp_density} : o_.predictor_mlp_densities;
      for (double m : densities)
        for (const std::string& dtype : o_.predictor_dtypes)
          for (const std::string& u : o_.batch_unions) {
            if (batch == 1 && u != o_.batch_unions.front()) continue;  // one row: every union is the same
            const std::string name = std::string(dtype == "int8" ? "sparse-predictor-int8" : "sparse-predictor") +
                                     (batch > 1 && u == "max" ? "-max" : "");
            sparse(name, m, o_.head_density, true, dtype == "int8", u);
          }
    }
  }

 private:
  // One row per decode path (o_.decode_paths, in order); returns the first path's median (the speedups'
  // reference for dense: the graph path when it is timed).
  double add(std::vector<BenchRow>& rows, CudaEngine& engine, const OptConfig& full, const std::string& name,
             StepMode mode, double mlp_d, double head_d, int mlp_kept, int heads_kept, double dense_ms,
             double predictor_bytes, bool int8) {
    double first = 0;
    for (const std::string& path : o_.decode_paths) {
      if (!path_runs(path, engine.batch(), int8)) continue;
      engine.set_decode_path(parse_decode_path(path));
      const StepTiming t = time_decode_steps(engine, mode, o_.prompt_len, o_.warmup, o_.iters);
      const BenchRow r = make_bench_row(engine, full.name, static_cast<int>(full.num_hidden_layers),
                                        path_row_name(name, path), mlp_d, head_d, mlp_kept, heads_kept, t, mean_len(),
                                        predictor_bytes, report_.copy_gbps,
                                        dense_ms > 0 ? dense_ms : (first > 0 ? first : t.median));
      rows.push_back(r);
      if (emit_) emit_(r);
      if (!o_.trace_dir.empty() && parse_decode_path(path) == DecodePath::kPersistent)
        trace_persistent_step(engine, mode, o_.trace_dir, r.shape + "_" + r.engine);
      if (first == 0) first = t.median;
    }
    engine.set_decode_path(DecodePath::kGraph);
    return first;
  }

  double mean_len() const { return o_.prompt_len + o_.warmup + o_.iters / 2.0 + 1; }

  const DecodeBenchOptions& o_;
  const BenchReport& report_;
  const std::function<void(const BenchRow&)>& emit_;
};

// Layers that fit next to the buffers of the largest batch; at least one.
int layers_that_fit(const OptConfig& c, const DecodeBenchOptions& o, int max_batch) {
  size_t free_b = 0, total_b = 0;
  DV_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const double len = o.prompt_len + o.warmup + o.iters + 1;
  // Per layer: weights, K and V caches, the x_hist ring (catch-up inputs), predictors at the largest ranks (int8
  // rows: the random fp16 weights and their int8 copy coexist while the engine takes them: 1.5 copies).
  const bool int8 = std::find(o.predictor_dtypes.begin(), o.predictor_dtypes.end(), "int8") != o.predictor_dtypes.end();
  const double pred_copies = int8 ? 1.5 : 1.0;
  const double per_layer = static_cast<double>(gpu_layer_bytes(c)) + 2.0 * 2 * max_batch * len * c.hidden_size +
                           2.0 * max_batch * kSparseQkvRing * c.hidden_size +
                           (o.predictors ? pred_copies * 2.0 * (o.rank_mlp * (c.hidden_size + c.ffn_dim) +
                                                                o.rank_att * (c.hidden_size + c.num_attention_heads))
                                         : 0.0);
  const double avail = static_cast<double>(free_b) - o.reserve_gib * (1u << 30) - static_cast<double>(gpu_shared_bytes(c));
  int n = static_cast<int>(std::floor(avail / per_layer));
  n = std::min<int>(n, static_cast<int>(c.num_hidden_layers));
  if (o.max_layers > 0) n = std::min(n, o.max_layers);
  return n;
}

}  // namespace

std::string path_row_name(const std::string& engine, const std::string& path) {
  return parse_decode_path(path) == DecodePath::kGraph ? engine : engine + "-persistent";
}

bool path_runs(const std::string& path, int batch, bool int8_predictors) {
  return parse_decode_path(path) == DecodePath::kGraph || (batch <= 8 && !int8_predictors);
}

BenchReport device_bench_report() {
  BenchReport report;
  cudaDeviceProp prop{};
  DV_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  report.device = prop.name;
  report.sms = prop.multiProcessorCount;
  report.copy_gbps = measure_copy_gbps(size_t{1} << 30, 20);
  return report;
}

StepTiming time_decode_steps(CudaEngine& engine, StepMode mode, int prompt_len, int warmup, int iters,
                             const std::vector<int32_t>& tokens) {
  DV_CHECK(tokens.empty() || tokens.size() >= static_cast<size_t>(warmup + iters) * engine.batch(),
           "bench: {} tokens for {} warm-up + {} timed steps of {} rows", tokens.size(), warmup, iters, engine.batch());
  const size_t B = static_cast<size_t>(engine.batch());
  auto step = [&](int i) {
    if (!tokens.empty())
      engine.set_tokens(std::vector<int32_t>(tokens.begin() + static_cast<ptrdiff_t>(i * B),
                                             tokens.begin() + static_cast<ptrdiff_t>((i + 1) * B)));
    engine.enqueue_step(mode);
  };
  engine.rewind(prompt_len);
  for (int i = 0; i < warmup; ++i) step(i);
  std::vector<cudaEvent_t> ev(iters + 1);
  for (auto& e : ev) DV_CUDA_CHECK(cudaEventCreate(&e));
  DV_CUDA_CHECK(cudaEventRecord(ev[0], engine.stream()));
  for (int i = 0; i < iters; ++i) {
    step(warmup + i);
    DV_CUDA_CHECK(cudaEventRecord(ev[i + 1], engine.stream()));
  }
  DV_CUDA_CHECK(cudaEventSynchronize(ev[iters]));
  std::vector<double> ms(iters);
  for (int i = 0; i < iters; ++i) {
    float t = 0;
    DV_CUDA_CHECK(cudaEventElapsedTime(&t, ev[i], ev[i + 1]));
    ms[i] = t;
  }
  for (auto e : ev) (void)cudaEventDestroy(e);
  std::sort(ms.begin(), ms.end());
  auto q = [&](double f) { return ms[std::min<size_t>(ms.size() - 1, static_cast<size_t>(f * (ms.size() - 1) + 0.5))]; };
  StepTiming timing{q(0.5), q(0.1), q(0.9)};
  if (mode == StepMode::kSparse && engine.sparse() != nullptr) {
    const CatchupStats c =
        engine.sparse()->catchup_stats(prompt_len + warmup, prompt_len + warmup + iters, engine.stream());
    timing.catchup_per_step = c.mean_per_step;
    timing.catchup_max = c.max_per_step;
    timing.forced_per_step = static_cast<double>(c.forced) / iters;
    timing.catchup_lost = c.lost;
  }
  return timing;
}

BenchRow make_bench_row(const CudaEngine& engine, const std::string& shape, int model_layers, const std::string& name,
                        double mlp_density, double head_density, int mlp_kept, int heads_kept, const StepTiming& t,
                        double mean_len, double predictor_bytes, double copy_gbps, double dense_ms) {
  const OptConfig& c = engine.config();
  BenchRow r;
  r.shape = shape;
  r.layers = static_cast<int>(c.num_hidden_layers);
  r.model_layers = model_layers;
  r.per_layer = r.layers < r.model_layers;
  r.batch = engine.batch();
  r.engine = name;
  r.mlp_density = mlp_density;
  r.head_density = head_density;
  r.mlp_kept = mlp_kept;
  r.heads_kept = heads_kept;
  r.median_ms = t.median;
  r.p10_ms = t.p10;
  r.p90_ms = t.p90;
  r.ms_per_layer = t.median / r.layers;
  StepBytes bytes = step_bytes(c, r.batch, mean_len, mlp_kept, heads_kept);
  bytes.predictors = predictor_bytes;
  bytes.catchup = catchup_bytes(c, r.batch, t.catchup_per_step);
  r.weight_bytes = bytes.weights;
  r.kv_bytes = bytes.kv;
  r.predictor_bytes = bytes.predictors;
  r.catchup_bytes = bytes.catchup;
  r.floor_ms = bytes.total() / (copy_gbps * 1e9) * 1e3;
  r.achieved_gbps = bytes.total() / (t.median * 1e-3) / 1e9;
  r.pct_of_copy = 100.0 * r.achieved_gbps / copy_gbps;
  r.speedup_vs_dense = dense_ms > 0 ? dense_ms / t.median : 1.0;
  r.catchup_per_step = t.catchup_per_step;
  r.catchup_max = t.catchup_max;
  r.forced_per_step = t.forced_per_step;
  r.catchup_lost = t.catchup_lost;
  return r;
}

BenchReport run_decode_bench(const DecodeBenchOptions& o, const std::function<void(const BenchRow&)>& on_row) {
  DV_CHECK(cuda_device_available(), "bench: no CUDA GPU is available on this machine");
  DV_CHECK(o.prompt_len >= 1 && o.iters >= 3 && o.warmup >= 0, "bench: need prompt-len >= 1, iters >= 3, warmup >= 0");
  for (const std::string& dtype : o.predictor_dtypes)
    DV_CHECK(dtype == "fp16" || dtype == "int8", "bench: --predictor-dtype '{}' is not fp16 or int8", dtype);
  DV_CHECK(!o.batch_unions.empty(), "bench: --batch-union is empty");
  for (const std::string& u : o.batch_unions) {
    BlockSpec probe;
    set_batch_union(probe, u);
  }
  BenchReport report = device_bench_report();
  ShapeBench bench(o, report, on_row);
  for (const std::string& shape : o.shapes) {
    const OptConfig full = opt_config_from_name(shape);
    std::vector<int> batches = {1};
    if (shape == o.batch_shape) batches = o.batch_sizes;
    const int max_batch = *std::max_element(batches.begin(), batches.end());
    const int layers = layers_that_fit(full, o, max_batch);
    if (layers < 1) {
      report.notes.push_back(fmt::format("{}: skipped, not even one layer fits in free device memory", shape));
      continue;
    }
    if (layers < full.num_hidden_layers)
      report.notes.push_back(fmt::format("{}: {} of {} layers built (per-layer figures: ms_per_layer)", shape, layers,
                                         full.num_hidden_layers));
    GpuWeights w = random_gpu_weights(full, layers, o.seed);
    for (int b : batches) bench.run(w, full, b, report.rows);
    w = GpuWeights{};
    DV_CUDA_CHECK(cudaDeviceSynchronize());
    // Weights of the next shape must find the memory this one held, not the caching allocator's pool.
    c10::cuda::CUDACachingAllocator::emptyCache();
  }
  return report;
}

}  // namespace dv::engine
