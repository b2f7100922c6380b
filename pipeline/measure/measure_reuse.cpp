// measure_reuse.cpp: see measure_reuse.h.
#include "pipeline/measure/measure_reuse.h"

#include <filesystem>

#include <fmt/format.h>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"
#include "pipeline/train/metrics_report.h"

namespace dv {

nlohmann::json kind_sweep_json(const KindSweep& s, const std::vector<double>& thresholds) {
  nlohmann::json j = metrics_to_json(s.topk);
  nlohmann::json th = nlohmann::json::array();
  for (size_t i = 0; i < thresholds.size(); ++i) {
    const ThresholdCounts& c = s.thresholds[i];
    th.push_back({{"threshold", thresholds[i]},
                  {"recall", c.positives > 0 ? c.tp / c.positives : 1.0},
                  {"precision", c.predicted > 0 ? nlohmann::json(c.tp / c.predicted) : nlohmann::json()},  // none kept
                  {"kept_fraction", c.elements > 0 ? c.predicted / c.elements : 0.0},
                  {"counts", {{"positives", c.positives}, {"predicted", c.predicted}, {"tp", c.tp},
                              {"elements", c.elements}}}});
  }
  j["thresholds"] = th;
  return j;
}

EarlierMeasure::EarlierMeasure(const std::string& dir, const std::string& oracle_key,
                               const std::string& predictor_key) {
  const std::string path = dir + "/measure.json";
  if (dir.empty() || !std::filesystem::exists(path)) return;
  doc_ = nlohmann::json::parse(read_small_file(path), nullptr, false);
  if (doc_.is_discarded() || !doc_.is_object() || !doc_.contains("layers")) return;
  oracle_ok_ = !oracle_key.empty() && doc_.value("oracle_key", "") == oracle_key;
  predictor_ok_ = !predictor_key.empty() && doc_.value("predictor_key", "") == predictor_key;
}

std::optional<std::vector<LayerStats>> EarlierMeasure::oracle(const std::vector<double>& norm_shares) const {
  if (!oracle_ok_) return std::nullopt;
  std::vector<LayerStats> out;
  try {
    for (const auto& l : doc_["layers"]) {
      LayerStats st;
      st.layer = l.at("layer").get<int64_t>();
      st.mlp_active_mean = l.at("mlp_active_mean").get<double>();
      st.mlp_active_std = l.at("mlp_active_std").get<double>();
      st.mlp_ever_active = l.at("mlp_ever_active").get<double>();
      for (double share : norm_shares) {
        const std::string key = fmt::format("{:g}", share);
        if (!l.at("heads_fraction_for_norm_share").contains(key)) return std::nullopt;  // a share never measured
        st.heads_for_share.push_back(l["heads_fraction_for_norm_share"][key].get<double>());
      }
      st.cos_attn_mlp = l.at("cos_attn_mlp").get<double>();
      st.cos_next_layer = l.at("cos_next_layer").get<double>();
      st.norm_x = l.at("norm_x").get<double>();
      st.norm_attn_delta = l.at("norm_attn_delta").get<double>();
      st.norm_mlp_x = l.at("norm_mlp_x").get<double>();
      st.norm_mlp_delta = l.at("norm_mlp_delta").get<double>();
      out.push_back(std::move(st));
    }
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;  // an older layout: measure again
  }
  return out;
}

const nlohmann::json* EarlierMeasure::kind_entry(int64_t layer, const std::string& kind) const {
  if (!predictor_ok_) return nullptr;
  for (const auto& l : doc_["layers"])
    if (l.is_object() && l.value("layer", int64_t{-1}) == layer && l.contains("predictor") &&
        l["predictor"].contains(kind))
      return &l["predictor"][kind];
  return nullptr;
}

std::optional<PredictorMetrics> EarlierMeasure::topk(int64_t layer, const std::string& kind,
                                                     const std::vector<double>& fractions) const {
  const nlohmann::json* j = kind_entry(layer, kind);
  if (j == nullptr) return std::nullopt;
  try {
    PredictorMetrics m = metrics_from_json(*j, "earlier measure.json");
    if (m.topk.size() != fractions.size()) return std::nullopt;
    for (size_t i = 0; i < fractions.size(); ++i)
      if (m.topk[i].fraction != fractions[i]) return std::nullopt;
    return m;
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::optional<ThresholdCounts> EarlierMeasure::threshold(int64_t layer, const std::string& kind, double t) const {
  const nlohmann::json* j = kind_entry(layer, kind);
  if (j == nullptr || !j->contains("thresholds")) return std::nullopt;
  for (const auto& e : (*j)["thresholds"]) {
    if (!e.is_object() || !e.contains("counts") || e.value("threshold", -1.0) != t) continue;
    const auto& c = e["counts"];
    return ThresholdCounts{c.value("positives", 0.0), c.value("predicted", 0.0), c.value("tp", 0.0),
                           c.value("elements", 0.0)};
  }
  return std::nullopt;
}

}  // namespace dv
