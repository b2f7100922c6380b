// layer_trainer.h: trains one layer's two predictors (MLP neurons and attention heads) with the
// paper's recipe: weighted BCE, AdamW, per-epoch validation recall at sigmoid >= 0.5, the best
// epoch's weights kept, early stop after `patience` epochs without a gain or once recall exceeds
// stop_recall. The two predictors share every pass over the rows (one read and decompression of
// the store per epoch for both) but stop independently.
#pragma once

#include <cstdint>
#include <functional>

#include <ATen/ATen.h>

#include "pipeline/train/lowrank_predictor.h"
#include "pipeline/train/metrics_report.h"
#include "pipeline/train/row_batches.h"
#include "pipeline/train/train_options.h"

namespace dv {

struct LayerJob {
  LayerFields fields;     // the layer and its predictors' inputs
  int64_t train_rows = 0;  // rows [0, train_rows) train
  int64_t val_rows = 0;    // rows [train_rows, train_rows + val_rows) validate
};

struct LayerOutcome {
  bool finished = false;  // false: a stop request ended training early; nothing else is meaningful
  LowRankPredictor mlp, att;  // best-epoch weights, CPU fp32
  LayerMetrics metrics;
};

// The seed of a layer's stream `stream` (0: MLP init, 1: head init, 2: data order): a layer's
// result depends on the run's seed and its index only, not on which other layers run or in what order.
uint64_t layer_seed(uint64_t seed, int64_t layer, int stream);

// `options` must be resolved (resolve_train_options). `stop` (may be empty) is polled between
// batches; when it returns true the layer is abandoned and {finished = false} returned.
LayerOutcome train_layer(SharedStore& store, const LayerJob& job, const TrainOptions& options, at::Device device,
                         const std::function<bool()>& stop);

}  // namespace dv
