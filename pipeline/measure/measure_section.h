// measure_section.h: the measure section of an experiment and the sweep flags of `dejavu measure`, declared
// once (pipeline/experiment/option_table.h): defaults here, key, help, range and hash role in
// visit_measure_options. MeasureOptions (measure_stage.h) takes its defaults from here.
#pragma once

#include <vector>

#include "pipeline/experiment/option_table.h"

namespace dv {

struct MeasureSection {
  std::vector<double> mlp_topk_fractions = {0.05, 0.1, 0.2, 0.3, 0.5};
  std::vector<double> mlp_thresholds = {0.1, 0.3, 0.5, 0.7, 0.9};
  std::vector<double> head_keep_fractions = {0.25, 0.5, 0.75};
  std::vector<double> norm_share = {0.9, 0.95, 0.99};
  bool operator==(const MeasureSection& o) const;
};
inline const MeasureSection kMeasureDefaults{};

// In the order the resolved YAML writes them.
template <class Section, class Visitor>
void visit_measure_options(Section& s, Visitor& v) {
  v.numbers(s.mlp_topk_fractions, {"mlp_topk_fractions", "MLP predictor: top fractions of fc1 kept, swept"}, kFraction);
  v.numbers(s.mlp_thresholds, {"mlp_thresholds", "MLP predictor: sigmoid thresholds swept"}, kOpenUnit);
  v.numbers(s.head_keep_fractions, {"head_keep_fractions", "head predictor: fractions of heads kept, swept"}, kFraction);
  v.numbers(s.norm_share, {"norm_share", "oracle: heads needed for this share of the attention output norm"}, kFraction);
}

}  // namespace dv
