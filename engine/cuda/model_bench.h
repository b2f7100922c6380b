// model_bench.h: per-token decode latency of a real checkpoint with real selections, for
// `dejavu bench --model DIR [--predictors DIR]`. Per batch size, one engine holds the checkpoint; each batch row
// b reads its own stretch of the text (tokens [b * S, (b + 1) * S), S = prompt + decode steps); a real prompt
// (prompt_len tokens per row) runs dense once; every configuration then rewinds to the end of that prompt and
// decodes the rows' next tokens (teacher forcing: real inputs without a host round trip for the argmax), so
// trained predictors pick different neurons and heads at every step (per row: batch > 1 unites them) and the
// timed step includes their side stream and the K/V catch-up of heads that were skipped earlier and are selected
// again. Rows with predictors count the neurons and heads the step actually read: after timing, the same steps
// run again untimed and every layer's selection size is read back (mean over layers and steps). Timing and the
// roofline columns are the random-shape sweep's (decode_bench.h). A configuration whose spec enables
// SparseSpec::fallback (the -auto rows, graph path only) first runs its calibration requests on the first decode
// tokens, then is timed in the mode it settled on; report.notes names the mode and both calibration medians.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/cuda/decode_bench.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_spec.h"

namespace dv::engine {

// One timed configuration: dense (spec unused) or sparse with the given spec.
struct ModelBenchConfig {
  std::string engine;  // the row's name: dense | sparse-fixed | sparse-predictor
  bool sparse = false;
  SparseSpec spec;
  double mlp_density = 1, head_density = 1;
  int min_batch = 1, max_batch = 32;  // batch sizes the row runs at (fixed random lists: batch 1 only)
};

struct ModelBenchOptions {
  std::string name;             // the rows' `shape` column (the checkpoint's name)
  std::vector<int32_t> tokens;  // >= max(batch_sizes) * (prompt_len + warmup + iters) ids
  std::vector<int> batch_sizes = {1};
  int prompt_len = 128;
  int warmup = 5;
  int iters = 40;
  std::vector<std::string> decode_paths = {"graph"};  // timed side by side (decode_bench.h)
};

// The device (report.device / sms / copy_gbps) and one row per batch size and configuration (the first must be
// dense: the speedups are against it). The prompt's dense wall time goes into report.notes.
BenchReport run_model_bench(GpuWeights weights, const ModelBenchOptions& options,
                            const std::vector<ModelBenchConfig>& configs,
                            const std::function<void(const BenchRow&)>& on_row);

}  // namespace dv::engine
