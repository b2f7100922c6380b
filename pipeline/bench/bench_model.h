// bench_model.h: `dejavu bench --model DIR [--predictors DIR]`: a real checkpoint (fp16 on the GPU) timed with
// real selections (engine/cuda/model_bench.h). Rows: dense; per MLP density, sparse-fixed (random fixed
// selections: the sparse kernels alone; batch 1 only) and, with predictors, sparse-predictor[-int8] (the trained
// predictors on the side stream, selections changing per token, K/V catch-up included), at every batch size,
// batch > 1 once per union policy (suffix -max: today's max-logit union); fp16 predictor rows are repeated as
// <row>-auto under the measured sparse/dense choice (engine/cuda/sparse_fallback.h; a note per batch names the
// mode and both calibration medians). CUDA builds only.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/cuda/decode_bench.h"

namespace dv::cli {

struct ModelBenchArgs {
  std::string model_dir;
  std::string predictors;  // a `dejavu train` directory, or empty (no predictor rows)
  std::string text;        // UTF-8 text: the prompt and the decoded tokens; empty = a built-in passage
  std::vector<double> mlp_densities = {0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0};
  double head_density = 0.5;
  std::vector<int> batch_sizes = {1};                  // each row decodes its own stretch of the text
  std::vector<std::string> batch_unions = {"per-row"};  // batch > 1: per-row, max
  std::vector<std::string> predictor_dtypes = {"fp16"};
  double dense_crossover = 0.9;
  std::string kv_heads = "auto";  // engine::SparseSpec::kv_heads of the sparse rows
  int prompt_len = 128;
  int warmup = 5;
  int iters = 40;
  uint64_t seed = 1;
  std::vector<std::string> decode_paths = {"graph"};  // --decode-path: graph and/or persistent, side by side
};

engine::BenchReport bench_model(const ModelBenchArgs& args, const std::function<void(const engine::BenchRow&)>& on_row);
nlohmann::json model_bench_options_json(const ModelBenchArgs& args);

}  // namespace dv::cli
