// metrics_report.h: the training metrics as files, two results tables (pipeline/report/result_table.h), each
// one row type written as CSV and JSON from one schema: PRED_DIR/metrics.csv, one row per predictor (layer,
// kind), with the run's context (store, split, resolved options, model config) in metrics.json, and
// PRED_DIR/metrics_topk.csv, one row per predictor and keep-fraction. README.md in this folder lists every column.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/train/predictor_metrics.h"

namespace dv {

// 2: the rows of metrics.csv and metrics_topk.csv (1 nested each layer's metrics and had a column per fraction).
constexpr int64_t kMetricsFormatVersion = 2;
constexpr const char* kMetricsJsonName = "metrics.json";

struct LayerMetrics {
  int64_t layer = 0;
  PredictorMetrics mlp, att;
};

struct TrainReport {
  std::string acts;            // the activation store's path
  int64_t store_rows = 0;      // rows used (after max_rows)
  int64_t train_rows = 0, val_rows = 0;
  std::string model_config;    // JSON text
  std::string options;         // train_options_json()
  std::string device;
  double seconds = 0;          // wall time of this run (layers resumed from partial files cost ~0)
  std::vector<LayerMetrics> layers;  // ascending
};

// One predictor's metrics as one JSON object (topk nested): a layer's partial file and measure.json.
nlohmann::json metrics_to_json(const PredictorMetrics& m);
// dv::Error naming `where` when a field is missing or mistyped.
PredictorMetrics metrics_from_json(const nlohmann::json& j, const std::string& where);

// Writes metrics.{csv,json} and metrics_topk.{csv,json} into dir, each via a temporary name and rename.
void write_train_metrics(const std::string& dir, const TrainReport& report);
// What write_train_metrics wrote into dir, read back; dv::Error naming the file when it is not that.
TrainReport read_train_metrics(const std::string& dir);

}  // namespace dv
