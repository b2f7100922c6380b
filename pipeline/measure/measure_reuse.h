// measure_reuse.h: the parts of an earlier measure.json that a new run may take as they are, so that changing
// one sweep value re-measures only what it changes. Results are recorded with two keys (measure.json's
// "oracle_key" and "predictor_key": what the numbers depend on besides the sweep lists, e.g. the store and the
// predictors' identity); a part is reused when its key is the same and it was measured for the values asked:
//   oracle statistics (all layers): every norm share asked was measured;
//   a predictor kind's top-k metrics in one layer: the same list of keep fractions;
//   a threshold point of a kind in one layer: that threshold, by value.
// A kind whose top-k metrics and thresholds are all reused costs nothing; one with only new thresholds runs its
// predictor over the rows but skips the top-k accumulation.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "pipeline/measure/measure_stats.h"
#include "pipeline/train/predictor_metrics.h"

namespace dv {

// Counts of one threshold point over the rows (recall = tp / positives, precision = tp / predicted,
// kept fraction = predicted / elements).
struct ThresholdCounts {
  double positives = 0, predicted = 0, tp = 0, elements = 0;
};

// One predictor kind (mlp or att) of one layer: its top-k metrics and its threshold points.
struct KindSweep {
  PredictorMetrics topk;  // MetricsAccumulator's top-k and 0.5 metrics
  std::vector<ThresholdCounts> thresholds;
};

// measure.json's entry of a kind: the top-k metrics, and the thresholds with their counts.
nlohmann::json kind_sweep_json(const KindSweep& s, const std::vector<double>& thresholds);

class EarlierMeasure {
 public:
  // dir: a finished measure folder (nothing is reused when it has no measure.json or the keys differ).
  EarlierMeasure(const std::string& dir, const std::string& oracle_key, const std::string& predictor_key);

  std::optional<std::vector<LayerStats>> oracle(const std::vector<double>& norm_shares) const;
  std::optional<PredictorMetrics> topk(int64_t layer, const std::string& kind,
                                       const std::vector<double>& fractions) const;
  std::optional<ThresholdCounts> threshold(int64_t layer, const std::string& kind, double threshold) const;

 private:
  const nlohmann::json* kind_entry(int64_t layer, const std::string& kind) const;
  nlohmann::json doc_;
  bool oracle_ok_ = false, predictor_ok_ = false;
};

}  // namespace dv
