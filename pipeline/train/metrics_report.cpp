// metrics_report.cpp: JSON and CSV forms of the training metrics.
#include "pipeline/train/metrics_report.h"

#include <cmath>
#include <filesystem>

#include <fmt/format.h>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"

namespace dv {

namespace {

using nlohmann::json;

// NaN (no values stored) is JSON null.
json number_or_null(double x) { return std::isnan(x) ? json(nullptr) : json(x); }

template <typename T>
T get_field(const json& j, const char* key, const std::string& where) {
  DV_CHECK(j.is_object() && j.contains(key), "{}: metrics entry has no '{}'", where, key);
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    DV_FAIL("{}: metrics field '{}' has the wrong type", where, key);
  }
}

double get_number_or_nan(const json& j, const char* key, const std::string& where) {
  DV_CHECK(j.is_object() && j.contains(key), "{}: metrics entry has no '{}'", where, key);
  return j.at(key).is_null() ? std::nan("") : get_field<double>(j, key, where);
}

// "5" for 0.05, "12.5" for 0.125: the suffix of the top-k columns.
std::string percent_label(double fraction) { return fmt::format("{}", std::round(fraction * 1e4) / 1e2); }

std::string csv_number(double x) { return std::isnan(x) ? "" : fmt::format("{:.6g}", x); }

}  // namespace

json metrics_to_json(const PredictorMetrics& m) {
  json topk = json::array();
  for (const TopkMetric& t : m.topk) {
    topk.push_back({{"fraction", t.fraction},
                    {"k", t.k},
                    {"recall", t.recall},
                    {"mass_recall", number_or_null(t.mass_recall)},
                    {"oracle_mass_recall", number_or_null(t.oracle_mass_recall)}});
  }
  return {{"kind", m.kind},
          {"layer", m.layer},
          {"input", m.input},
          {"rank", m.rank},
          {"n_out", m.n_out},
          {"train_rows", m.train_rows},
          {"val_rows", m.val_rows},
          {"epochs_run", m.epochs_run},
          {"best_epoch", m.best_epoch},
          {"initial_recall", m.initial_recall},
          {"recall", m.recall},
          {"precision", m.precision},
          {"true_active_rate", m.true_active_rate},
          {"pred_active_rate", m.pred_active_rate},
          {"val_loss", m.val_loss},
          {"topk", topk},
          {"seconds", m.seconds}};
}

PredictorMetrics metrics_from_json(const json& j, const std::string& where) {
  PredictorMetrics m;
  m.kind = get_field<std::string>(j, "kind", where);
  m.layer = get_field<int64_t>(j, "layer", where);
  m.input = get_field<std::string>(j, "input", where);
  m.rank = get_field<int64_t>(j, "rank", where);
  m.n_out = get_field<int64_t>(j, "n_out", where);
  m.train_rows = get_field<int64_t>(j, "train_rows", where);
  m.val_rows = get_field<int64_t>(j, "val_rows", where);
  m.epochs_run = get_field<int64_t>(j, "epochs_run", where);
  m.best_epoch = get_field<int64_t>(j, "best_epoch", where);
  m.initial_recall = get_field<double>(j, "initial_recall", where);
  m.recall = get_field<double>(j, "recall", where);
  m.precision = get_field<double>(j, "precision", where);
  m.true_active_rate = get_field<double>(j, "true_active_rate", where);
  m.pred_active_rate = get_field<double>(j, "pred_active_rate", where);
  m.val_loss = get_field<double>(j, "val_loss", where);
  m.seconds = get_field<double>(j, "seconds", where);
  const json topk = get_field<json>(j, "topk", where);
  DV_CHECK(topk.is_array(), "{}: metrics field 'topk' is not an array", where);
  for (const json& t : topk) {
    TopkMetric x;
    x.fraction = get_field<double>(t, "fraction", where);
    x.k = get_field<int64_t>(t, "k", where);
    x.recall = get_field<double>(t, "recall", where);
    x.mass_recall = get_number_or_nan(t, "mass_recall", where);
    x.oracle_mass_recall = get_number_or_nan(t, "oracle_mass_recall", where);
    m.topk.push_back(x);
  }
  return m;
}

std::vector<std::string> metrics_csv_columns(const std::vector<double>& topk_fractions) {
  std::vector<std::string> cols = {"layer",          "kind",      "input",     "rank",
                                   "n_out",          "train_rows", "val_rows", "epochs_run",
                                   "best_epoch",     "initial_recall", "recall", "precision",
                                   "true_active_rate", "pred_active_rate", "val_loss", "seconds"};
  for (double f : topk_fractions) {
    const std::string p = percent_label(f);
    for (const char* what : {"k_top", "recall_top", "mass_top", "oracle_mass_top"}) cols.push_back(what + p);
  }
  return cols;
}

void write_train_metrics(const std::string& dir, const TrainReport& r) {
  make_dirs(dir);
  json layers = json::array();
  for (const LayerMetrics& l : r.layers) {
    layers.push_back({{"layer", l.layer}, {"mlp", metrics_to_json(l.mlp)}, {"att", metrics_to_json(l.att)}});
  }
  const json doc = {{"format_version", kMetricsFormatVersion},
                    {"acts", r.acts},
                    {"store_rows", r.store_rows},
                    {"train_rows", r.train_rows},
                    {"val_rows", r.val_rows},
                    {"device", r.device},
                    {"seconds", r.seconds},
                    {"model_config", json::parse(r.model_config)},
                    {"options", json::parse(r.options)},
                    {"layers", layers}};
  write_file_atomic((std::filesystem::path(dir) / kMetricsJsonName).string(), doc.dump(2) + "\n");

  std::vector<double> fractions;
  if (!r.layers.empty()) {
    for (const TopkMetric& t : r.layers.front().mlp.topk) fractions.push_back(t.fraction);
  }
  const std::vector<std::string> cols = metrics_csv_columns(fractions);
  std::string csv;
  for (size_t i = 0; i < cols.size(); ++i) csv += (i ? "," : "") + cols[i];
  csv += "\n";
  for (const LayerMetrics& l : r.layers) {
    for (const PredictorMetrics* m : {&l.mlp, &l.att}) {
      csv += fmt::format("{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}", m->layer, m->kind, m->input, m->rank,
                         m->n_out, m->train_rows, m->val_rows, m->epochs_run, m->best_epoch,
                         csv_number(m->initial_recall), csv_number(m->recall), csv_number(m->precision),
                         csv_number(m->true_active_rate), csv_number(m->pred_active_rate), csv_number(m->val_loss),
                         csv_number(m->seconds));
      for (const TopkMetric& t : m->topk) {
        csv += fmt::format(",{},{},{},{}", t.k, csv_number(t.recall), csv_number(t.mass_recall),
                           csv_number(t.oracle_mass_recall));
      }
      csv += "\n";
    }
  }
  write_file_atomic((std::filesystem::path(dir) / kMetricsCsvName).string(), csv);
}

}  // namespace dv
