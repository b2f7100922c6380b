// model_bench.cpp: see model_bench.h.
#include "engine/cuda/model_bench.h"

#include <chrono>

#include <cuda_runtime.h>
#include <fmt/format.h>

#include "engine/cuda/cuda_engine.h"
#include "kernels/common/cuda_check.h"

namespace dv::engine {

BenchReport run_model_bench(GpuWeights weights, const ModelBenchOptions& o,
                            const std::vector<ModelBenchConfig>& configs,
                            const std::function<void(const BenchRow&)>& on_row) {
  DV_CHECK(cuda_device_available(), "bench: no CUDA GPU is available on this machine");
  DV_CHECK(o.prompt_len >= 1 && o.iters >= 3 && o.warmup >= 0, "bench: need prompt-len >= 1, iters >= 3, warmup >= 0");
  const int needed = o.prompt_len + o.warmup + o.iters;
  DV_CHECK(static_cast<int>(o.tokens.size()) >= needed,
           "bench: the text gives {} tokens, the prompt and decode steps need {} (a longer --text, or a shorter "
           "--prompt-len / --iters)",
           o.tokens.size(), needed);
  DV_CHECK(!configs.empty() && !configs.front().sparse, "bench: the first configuration must be dense");
  const int max_pos = static_cast<int>(weights.config.max_position_embeddings);
  DV_CHECK(needed + 1 <= max_pos, "bench: prompt {} + {} steps exceeds the model's {} positions", o.prompt_len,
           o.warmup + o.iters, max_pos);
  BenchReport report = device_bench_report();

  CudaEngineOptions eo;
  eo.batch = 1;
  eo.max_len = needed + 1;
  CudaEngine engine(std::move(weights), eo);
  const OptConfig& c = engine.config();
  const int ffn = static_cast<int>(c.ffn_dim), H = static_cast<int>(c.num_attention_heads);
  const auto t0 = std::chrono::steady_clock::now();
  engine.reset();
  for (int t = 0; t < o.prompt_len; ++t) engine.step({o.tokens[t]}, StepMode::kDense);
  DV_CUDA_CHECK(cudaStreamSynchronize(engine.stream()));
  const double prompt_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  report.notes.push_back(fmt::format("{}: prompt of {} tokens run dense through the decode step in {:.3f} s", o.name,
                                     o.prompt_len, prompt_s));

  const std::vector<int32_t> decode(o.tokens.begin() + o.prompt_len, o.tokens.begin() + needed);
  const double mean_len = o.prompt_len + o.warmup + o.iters / 2.0 + 1;
  double dense_ms = 0;
  for (const ModelBenchConfig& cfg : configs) {
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
    for (const std::string& path : o.decode_paths) {
      if (!path_runs(path, 1, int8)) continue;
      engine.set_decode_path(parse_decode_path(path));
      const StepTiming t = time_decode_steps(engine, mode, o.prompt_len, o.warmup, o.iters, decode);
      const BenchRow r = make_bench_row(engine, o.name, static_cast<int>(c.num_hidden_layers),
                                        path_row_name(cfg.engine, path), cfg.mlp_density, cfg.head_density, mlp_kept,
                                        heads_kept, t, mean_len, predictor_bytes, report.copy_gbps,
                                        dense_ms > 0 ? dense_ms : t.median);
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
  return report;
}

}  // namespace dv::engine
