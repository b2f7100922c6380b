// model_bench.cpp: see model_bench.h.
#include "engine/cuda/model_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <tuple>
#include <utility>

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "engine/cuda/cuda_engine.h"
#include "kernels/common/cuda_check.h"

namespace dv::engine {

namespace {

// Mean neurons and heads per layer the sparse step read over the decode steps (synchronizes every step).
std::pair<int, int> measured_kept(CudaEngine& engine, const ModelBenchOptions& o, const std::vector<int32_t>& decode) {
  const int B = engine.batch(), L = static_cast<int>(engine.config().num_hidden_layers);
  double mlp = 0, heads = 0;
  engine.rewind(o.prompt_len);
  const int steps = o.warmup + o.iters;
  for (int i = 0; i < steps; ++i) {
    engine.set_tokens(std::vector<int32_t>(decode.begin() + static_cast<size_t>(i) * B,
                                           decode.begin() + static_cast<size_t>(i + 1) * B));
    engine.enqueue_step(StepMode::kSparse);
    for (int l = 0; l < L; ++l) {
      mlp += static_cast<double>(engine.selection(true, l).size());
      heads += static_cast<double>(engine.selection(false, l).size());
    }
  }
  const double n = static_cast<double>(steps) * L;
  return {static_cast<int>(std::lround(mlp / n)), static_cast<int>(std::lround(heads / n))};
}

// SparseSpec::fallback rows: the calibration requests on the first decode steps' tokens (each runs both modes at
// one position, so the sequence stays dense-written and the timing below rewinds as usual); the choice's note.
std::string calibrate(CudaEngine& engine, const ModelBenchOptions& o, const std::vector<int32_t>& decode,
                      const ModelBenchConfig& cfg, int B) {
  const int steps = cfg.spec.fallback.calibration_steps;
  DV_CHECK(steps <= o.warmup + o.iters, "bench: {} calibration steps but only {} decode steps", steps,
           o.warmup + o.iters);
  engine.rewind(o.prompt_len);
  for (int i = 0; i < steps; ++i) {
    engine.set_tokens(std::vector<int32_t>(decode.begin() + static_cast<size_t>(i) * B,
                                           decode.begin() + static_cast<size_t>(i + 1) * B));
    engine.enqueue_step(StepMode::kSparse);
  }
  DV_CHECK(engine.sparse_choice().decided, "bench: {} undecided after {} calibration steps", cfg.engine, steps);
  return fmt::format("{} batch {} {} mlp {:g}: runs {}", o.name, B, cfg.engine, cfg.mlp_density,
                     step_choice_text(engine.sparse_choice()));
}

}  // namespace

BenchReport run_model_bench(GpuWeights weights, const ModelBenchOptions& o,
                            const std::vector<ModelBenchConfig>& configs,
                            const std::function<void(const BenchRow&)>& on_row) {
  DV_CHECK(cuda_device_available(), "bench: no CUDA GPU is available on this machine");
  DV_CHECK(o.prompt_len >= 1 && o.iters >= 3 && o.warmup >= 0, "bench: need prompt-len >= 1, iters >= 3, warmup >= 0");
  DV_CHECK(!o.batch_sizes.empty(), "bench: no batch sizes");
  for (int b : o.batch_sizes) DV_CHECK(b >= 1 && b <= 32, "bench: batch size {} outside 1..32", b);
  const int needed = o.prompt_len + o.warmup + o.iters;
  const int max_batch = *std::max_element(o.batch_sizes.begin(), o.batch_sizes.end());
  DV_CHECK(static_cast<int64_t>(o.tokens.size()) >= static_cast<int64_t>(max_batch) * needed,
           "bench: the text gives {} tokens, {} rows of prompt and decode steps need {} (a longer --text, or a "
           "shorter --prompt-len / --gen-tokens)",
           o.tokens.size(), max_batch, static_cast<int64_t>(max_batch) * needed);
  DV_CHECK(!configs.empty() && !configs.front().sparse, "bench: the first configuration must be dense");
  const int max_pos = static_cast<int>(weights.config.max_position_embeddings);
  DV_CHECK(needed + 1 <= max_pos, "bench: prompt {} + {} steps exceeds the model's {} positions", o.prompt_len,
           o.warmup + o.iters, max_pos);
  BenchReport report = device_bench_report();
  const double mean_len = o.prompt_len + o.warmup + o.iters / 2.0 + 1;

  for (const int B : o.batch_sizes) {
    CudaEngineOptions eo;
    eo.batch = B;
    eo.max_len = needed + 1;
    CudaEngine engine(weights, eo);  // shares the weight tensors
    const OptConfig& c = engine.config();
    const int ffn = static_cast<int>(c.ffn_dim), H = static_cast<int>(c.num_attention_heads);
    // Row b's token t: o.tokens[b * needed + t]. Steps as [step][row].
    auto step_tokens = [&](int t) {
      std::vector<int32_t> ids(B);
      for (int b = 0; b < B; ++b) ids[b] = o.tokens[static_cast<size_t>(b) * needed + t];
      return ids;
    };
    const auto t0 = std::chrono::steady_clock::now();
    engine.reset();
    for (int t = 0; t < o.prompt_len; ++t) engine.step(step_tokens(t), StepMode::kDense);
    DV_CUDA_CHECK(cudaStreamSynchronize(engine.stream()));
    const double prompt_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    report.notes.push_back(fmt::format("{} batch {}: prompt of {} tokens run dense through the decode step in {:.3f} s",
                                       o.name, B, o.prompt_len, prompt_s));
    std::vector<int32_t> decode;
    for (int t = o.prompt_len; t < needed; ++t) {
      const std::vector<int32_t> ids = step_tokens(t);
      decode.insert(decode.end(), ids.begin(), ids.end());
    }
    double dense_ms = 0;
    for (const ModelBenchConfig& cfg : configs) {
      if (B < cfg.min_batch || B > cfg.max_batch) continue;
      int mlp_kept = ffn, heads_kept = H;
      double predictor_bytes = 0;
      if (cfg.sparse) {
        engine.set_sparse(cfg.spec);
        predictor_bytes = engine.sparse()->predictor_bytes;
        mlp_kept = kept_count(cfg.mlp_density, ffn);
        heads_kept = kept_count(cfg.head_density, H);
      }
      const StepMode mode = cfg.sparse ? StepMode::kSparse : StepMode::kDense;
      const bool int8 = cfg.sparse && cfg.spec.mlp.int8_weights;
      const bool fallback = cfg.sparse && cfg.spec.fallback.enabled;
      for (const std::string& path : o.decode_paths) {
        if (!path_runs(path, B, int8) || (fallback && path != "graph")) continue;  // the choice: graph path only
        engine.set_decode_path(parse_decode_path(path));
        if (fallback) report.notes.push_back(calibrate(engine, o, decode, cfg, B));
        const StepTiming t = time_decode_steps(engine, mode, o.prompt_len, o.warmup, o.iters, decode);
        const bool settled_dense = fallback && !engine.sparse_choice().sparse;
        if (settled_dense) {
          mlp_kept = ffn;  // every neuron and head, no predictors
          heads_kept = H;
        } else if (cfg.sparse && !engine.sparse()->tasks.empty()) {
          std::tie(mlp_kept, heads_kept) = measured_kept(engine, o, decode);
        }
        const BenchRow r = make_bench_row(engine, o.name, static_cast<int>(c.num_hidden_layers),
                                          path_row_name(cfg.engine, path), cfg.mlp_density, cfg.head_density, mlp_kept,
                                          heads_kept, t, mean_len, settled_dense ? 0 : predictor_bytes,
                                          report.copy_gbps, dense_ms > 0 ? dense_ms : t.median);
        if (!cfg.sparse && dense_ms == 0) dense_ms = t.median;
        report.rows.push_back(r);
        if (on_row) on_row(r);
      }
      engine.set_decode_path(DecodePath::kGraph);
      if (cfg.sparse) {
        engine.rewind(o.prompt_len);
        engine.clear_sparse();
      }
    }
  }
  return report;
}

}  // namespace dv::engine
