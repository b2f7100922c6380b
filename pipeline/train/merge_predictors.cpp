// merge_predictors.cpp: checks that the parts are pieces of one training run, then writes their union.
#include "pipeline/train/merge_predictors.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "kernels/common/error.h"
#include "pipeline/train/metrics_report.h"
#include "pipeline/train/predictor_set.h"

namespace dv {

void merge_predictor_dirs(const std::string& out_dir, const std::vector<std::string>& parts) {
  DV_CHECK(!parts.empty(), "{}: no predictor directories to merge", out_dir);
  PredictorSet set;
  TrainReport report;  // the first part's context, every part's layers
  std::map<int64_t, std::string> owner;  // layer -> the part it came from
  for (size_t i = 0; i < parts.size(); ++i) {
    const std::string& dir = parts[i];
    const PredictorSet part = read_predictor_file((std::filesystem::path(dir) / kPredictorsFileName).string(), nullptr);
    const TrainReport m = read_train_metrics(dir);
    if (i == 0) {
      set = PredictorSet::empty_for(part.config);
      set.mlp_input = part.mlp_input;
      set.att_input = part.att_input;
      set.rank_mlp = part.rank_mlp;
      set.rank_att = part.rank_att;
      set.att_top_fraction = part.att_top_fraction;
      report = m;
      report.layers.clear();
    } else {
      DV_CHECK(part.config.to_json() == set.config.to_json(), "{}: predictors of another model than {}", dir, parts[0]);
      DV_CHECK(part.mlp_input == set.mlp_input && part.att_input == set.att_input && part.rank_mlp == set.rank_mlp &&
                   part.rank_att == set.rank_att && part.att_top_fraction == set.att_top_fraction,
               "{}: other predictor inputs, ranks or head labels than {}", dir, parts[0]);
      DV_CHECK(m.options == report.options, "{}: trained with other options than {} ({} vs {})", dir, parts[0],
               m.options, report.options);
      DV_CHECK(m.store_rows == report.store_rows, "{}: trained on {} store rows, {} on {}", dir, m.store_rows,
               parts[0], report.store_rows);
      if (m.device != report.device) report.device += "," + m.device;
    }
    report.seconds = std::max(report.seconds, m.seconds);
    for (int64_t l : part.layers()) {
      const auto [it, fresh] = owner.emplace(l, dir);
      DV_CHECK(fresh, "{}: layer {} is also in {}; give each layer to one part", dir, l, it->second);
      set.mlp[static_cast<size_t>(l)] = part.mlp[static_cast<size_t>(l)];
      set.att[static_cast<size_t>(l)] = part.att[static_cast<size_t>(l)];
    }
    report.layers.insert(report.layers.end(), m.layers.begin(), m.layers.end());
  }
  std::sort(report.layers.begin(), report.layers.end(),
            [](const LayerMetrics& a, const LayerMetrics& b) { return a.layer < b.layer; });
  save_predictors(out_dir, set);
  write_train_metrics(out_dir, report);
}

}  // namespace dv
