// metrics_report.h: the training metrics as files. PRED_DIR/metrics.json holds the run's context
// (store, split, resolved options, model config) and per layer the MLP and attention metrics;
// PRED_DIR/metrics.csv holds one row per (layer, kind) for spreadsheets and plots. README.md in
// this folder lists every column.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/train/predictor_metrics.h"

namespace dv {

constexpr int64_t kMetricsFormatVersion = 1;
constexpr const char* kMetricsJsonName = "metrics.json";
constexpr const char* kMetricsCsvName = "metrics.csv";

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

nlohmann::json metrics_to_json(const PredictorMetrics& m);
// dv::Error naming `where` when a field is missing or mistyped.
PredictorMetrics metrics_from_json(const nlohmann::json& j, const std::string& where);

// Writes metrics.json and metrics.csv into dir, each via a temporary name and rename.
void write_train_metrics(const std::string& dir, const TrainReport& report);
// The column names of metrics.csv for these keep-fractions (e.g. recall_top10, mass_top10).
std::vector<std::string> metrics_csv_columns(const std::vector<double>& topk_fractions);

}  // namespace dv
