// train_predictors.h: the `train` stage: every requested layer's MLP and attention predictors from
// an activation store, into PRED_DIR (predictors.safetensors, metrics_report.h's tables).
//
// Layers are independent jobs: on CPU a small pool of threads trains several at once (torch's
// intra-op threads divided among them); on CUDA they run one after another on the device. Each
// finished layer is written at once to PRED_DIR/partial/layer_XXX.safetensors with its metrics
// and a fingerprint of the store and options, so an interrupted run (a stop request, a kill, a
// crash) loses at most the layers in flight: the same command again reuses every partial file
// whose fingerprint matches and trains only the rest. Final files are written via temporary names
// and renames, then the partial folder is removed. A layer's weights depend only on the store,
// the options and its index (per-layer seeds), so a resumed run gives the clean run's predictors.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pipeline/train/metrics_report.h"
#include "pipeline/train/train_options.h"

namespace dv {

constexpr const char* kPartialDirName = "partial";

struct TrainContext {
  std::function<bool()> stop_requested;             // polled between batches; empty: never stop
  std::function<void(int64_t layer)> on_layer_done;  // after a layer's partial file is written (any thread)
};

struct TrainSummary {
  TrainOptions options;              // resolved (ranks, layers, threads filled in)
  std::vector<LayerMetrics> layers;  // every requested layer when complete; the finished ones otherwise
  int64_t layers_resumed = 0;        // taken from partial files of an earlier run
  int64_t layers_trained = 0;        // trained by this call
  int64_t workers = 0, threads_per_worker = 0;
  bool interrupted = false;          // a stop request ended the run; rerun to resume
  double seconds = 0;
};

// dv::Error naming the file for an unreadable or incomplete store, bad options, an unusable device.
TrainSummary train_predictors(const std::string& acts_path, const std::string& out_dir, const TrainOptions& options,
                              const TrainContext& context = {});

}  // namespace dv
