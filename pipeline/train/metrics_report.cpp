// metrics_report.cpp: the training metrics' results tables, and one predictor's metrics as JSON.
#include "pipeline/train/metrics_report.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <utility>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"
#include "pipeline/report/result_table.h"

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

// metrics.csv and metrics.json's `predictors`: one predictor on the held-out rows (PredictorMetrics less topk).
struct PredictorRow {
  int64_t layer = 0;
  std::string kind, input;
  int64_t rank = 0, n_out = 0, train_rows = 0, val_rows = 0, epochs_run = 0, best_epoch = 0;
  double initial_recall = 0, recall = 0, precision = 0, true_active_rate = 0, pred_active_rate = 0, val_loss = 0;
  double seconds = 0;
};
DV_RESULT_ROW(PredictorRow, layer, kind, input, rank, n_out, train_rows, val_rows, epochs_run, best_epoch,
              initial_recall, recall, precision, true_active_rate, pred_active_rate, val_loss, seconds)

// metrics_topk.csv and metrics.json's `topk`: one predictor's top-k at one keep-fraction (TopkMetric).
struct TopkRow {
  int64_t layer = 0;
  std::string kind;
  double fraction = 0;
  int64_t k = 0;
  double recall = 0;
  json mass_recall, oracle_mass_recall;  // null: no values stored (TopkMetric's NaN)
};
DV_RESULT_ROW(TopkRow, layer, kind, fraction, k, recall, mass_recall, oracle_mass_recall)

constexpr const char* kPredictorsKey = "predictors";
constexpr const char* kTopkKey = "topk";

PredictorRow predictor_row(const PredictorMetrics& m) {
  return {m.layer,      m.kind,   m.input,          m.rank,           m.n_out,
          m.train_rows, m.val_rows, m.epochs_run,   m.best_epoch,     m.initial_recall,
          m.recall,     m.precision, m.true_active_rate, m.pred_active_rate, m.val_loss,
          m.seconds};
}

PredictorMetrics predictor_metrics(const PredictorRow& r) {
  PredictorMetrics m;
  m.layer = r.layer;
  m.kind = r.kind;
  m.input = r.input;
  m.rank = r.rank;
  m.n_out = r.n_out;
  m.train_rows = r.train_rows;
  m.val_rows = r.val_rows;
  m.epochs_run = r.epochs_run;
  m.best_epoch = r.best_epoch;
  m.initial_recall = r.initial_recall;
  m.recall = r.recall;
  m.precision = r.precision;
  m.true_active_rate = r.true_active_rate;
  m.pred_active_rate = r.pred_active_rate;
  m.val_loss = r.val_loss;
  m.seconds = r.seconds;
  return m;
}

double nan_if_null(const json& v) { return v.is_null() ? std::nan("") : v.get<double>(); }

// dir/<name>.json, checked to be a metrics file of this format.
json read_metrics_file(const std::string& dir, const char* name) {
  const std::string path = (std::filesystem::path(dir) / name).string() + ".json";
  std::error_code ec;
  DV_CHECK(std::filesystem::is_regular_file(path, ec), "{}: no {}.json (not a finished `dejavu train` output?)", dir,
           name);
  const json doc = json::parse(read_small_file(path), nullptr, false);
  DV_CHECK(!doc.is_discarded() && doc.is_object() && doc.value("format_version", int64_t{0}) == kMetricsFormatVersion,
           "{}: not train's metrics of format {} (retrain, or merge with the dejavu that trained it)", path,
           kMetricsFormatVersion);
  return doc;
}

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

void write_train_metrics(const std::string& dir, const TrainReport& r) {
  std::vector<PredictorRow> predictors;
  std::vector<TopkRow> topk;
  for (const LayerMetrics& l : r.layers) {
    for (const PredictorMetrics* m : {&l.mlp, &l.att}) {
      predictors.push_back(predictor_row(*m));
      for (const TopkMetric& t : m->topk)
        topk.push_back({m->layer, m->kind, t.fraction, t.k, t.recall, number_or_null(t.mass_recall),
                        number_or_null(t.oracle_mass_recall)});
    }
  }
  const json context = {{"format_version", kMetricsFormatVersion},
                        {"acts", r.acts},
                        {"store_rows", r.store_rows},
                        {"train_rows", r.train_rows},
                        {"val_rows", r.val_rows},
                        {"device", r.device},
                        {"seconds", r.seconds},
                        {"model_config", json::parse(r.model_config)},
                        {"options", json::parse(r.options)}};
  write_result_table(dir, "metrics_topk", topk, {{"format_version", kMetricsFormatVersion}}, kTopkKey);
  write_result_table(dir, "metrics", predictors, context, kPredictorsKey);
}

TrainReport read_train_metrics(const std::string& dir) {
  const json doc = read_metrics_file(dir, "metrics"), topk = read_metrics_file(dir, "metrics_topk");
  const std::string path = dir + "/metrics{,_topk}.json";
  TrainReport r;
  try {
    r.acts = doc.at("acts").get<std::string>();
    r.store_rows = doc.at("store_rows").get<int64_t>();
    r.train_rows = doc.at("train_rows").get<int64_t>();
    r.val_rows = doc.at("val_rows").get<int64_t>();
    r.device = doc.at("device").get<std::string>();
    r.seconds = doc.at("seconds").get<double>();
    r.model_config = doc.at("model_config").dump();
    r.options = doc.at("options").dump();
    std::map<std::pair<int64_t, std::string>, PredictorMetrics> by_predictor;
    for (const json& row : doc.at(kPredictorsKey)) {
      const PredictorMetrics m = predictor_metrics(row.get<PredictorRow>());
      by_predictor[{m.layer, m.kind}] = m;
    }
    for (const json& row : topk.at(kTopkKey)) {
      const TopkRow t = row.get<TopkRow>();
      const auto it = by_predictor.find({t.layer, t.kind});
      DV_CHECK(it != by_predictor.end(), "{}: a topk row of layer {} {} without its predictor row", path, t.layer,
               t.kind);
      it->second.topk.push_back({t.fraction, t.k, t.recall, nan_if_null(t.mass_recall),
                                 nan_if_null(t.oracle_mass_recall)});
    }
    for (const auto& [key, m] : by_predictor) {
      if (r.layers.empty() || r.layers.back().layer != key.first) r.layers.push_back({key.first, {}, {}});
      (m.kind == "mlp" ? r.layers.back().mlp : r.layers.back().att) = m;
    }
  } catch (const json::exception& e) {
    DV_FAIL("{}: a field is missing or mistyped: {}", path, e.what());
  }
  return r;
}

}  // namespace dv
