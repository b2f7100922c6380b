// merge_predictors.cpp: checks that the parts are pieces of one training run, then writes their union.
#include "pipeline/train/merge_predictors.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernels/common/error.h"
#include "pipeline/train/metrics_report.h"
#include "pipeline/train/predictor_set.h"

namespace dv {

namespace {

nlohmann::json read_metrics(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kMetricsJsonName).string();
  std::ifstream in(path);
  DV_CHECK(in.good(), "{}: no metrics.json (not a finished `dejavu train` output?)", dir);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  DV_CHECK(!j.is_discarded() && j.is_object() && j.contains("layers") && j.contains("options") &&
               j.contains("store_rows"),
           "{}: metrics.json is not train's metrics file", path);
  return j;
}

}  // namespace

void merge_predictor_dirs(const std::string& out_dir, const std::vector<std::string>& parts) {
  DV_CHECK(!parts.empty(), "{}: no predictor directories to merge", out_dir);
  PredictorSet set;
  TrainReport report;
  std::map<int64_t, std::string> owner;  // layer -> the part it came from
  nlohmann::json first_metrics;
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& dir = parts[i];
    const PredictorSet part = read_predictor_file((std::filesystem::path(dir) / kPredictorsFileName).string(), nullptr);
    const nlohmann::json m = read_metrics(dir);
    if (i == 0) {
      set = PredictorSet::empty_for(part.config);
      set.mlp_input = part.mlp_input;
      set.att_input = part.att_input;
      set.rank_mlp = part.rank_mlp;
      set.rank_att = part.rank_att;
      set.att_top_fraction = part.att_top_fraction;
      first_metrics = m;
      report.acts = m.value("acts", "");
      report.store_rows = m["store_rows"].get<int64_t>();
      report.train_rows = m.value("train_rows", int64_t{0});
      report.val_rows = m.value("val_rows", int64_t{0});
      report.model_config = m["model_config"].dump();
      report.options = m["options"].dump();
      report.device = m.value("device", "");
    } else {
      DV_CHECK(part.config.to_json() == set.config.to_json(), "{}: predictors of another model than {}", dir, parts[0]);
      DV_CHECK(part.mlp_input == set.mlp_input && part.att_input == set.att_input && part.rank_mlp == set.rank_mlp &&
                   part.rank_att == set.rank_att && part.att_top_fraction == set.att_top_fraction,
               "{}: other predictor inputs, ranks or head labels than {}", dir, parts[0]);
      DV_CHECK(m["options"] == first_metrics["options"], "{}: trained with other options than {} ({} vs {})", dir,
               parts[0], m["options"].dump(), first_metrics["options"].dump());
      DV_CHECK(m["store_rows"] == first_metrics["store_rows"], "{}: trained on {} store rows, {} on {}", dir,
               m["store_rows"].dump(), parts[0], first_metrics["store_rows"].dump());
      if (m.value("device", "") != report.device) report.device += "," + m.value("device", "");
    }
    report.seconds = std::max(report.seconds, m.value("seconds", 0.0));
    for (int64_t l : part.layers()) {
      const auto [it, fresh] = owner.emplace(l, dir);
      DV_CHECK(fresh, "{}: layer {} is also in {}; give each layer to one part", dir, l, it->second);
      set.mlp[static_cast<size_t>(l)] = part.mlp[static_cast<size_t>(l)];
      set.att[static_cast<size_t>(l)] = part.att[static_cast<size_t>(l)];
    }
    for (const nlohmann::json& l : m["layers"]) {
      LayerMetrics lm;
      lm.layer = l.at("layer").get<int64_t>();
      lm.mlp = metrics_from_json(l.at("mlp"), dir + "/metrics.json");
      lm.att = metrics_from_json(l.at("att"), dir + "/metrics.json");
      report.layers.push_back(lm);
    }
  }
  std::sort(report.layers.begin(), report.layers.end(),
            [](const LayerMetrics& a, const LayerMetrics& b) { return a.layer < b.layer; });
  save_predictors(out_dir, set);
  write_train_metrics(out_dir, report);
}

}  // namespace dv
