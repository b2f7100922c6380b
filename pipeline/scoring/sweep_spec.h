// sweep_spec.h: the sparsity points a sweep visits (eval's perplexity sweep, the zero-shot tasks' sweep),
// declared once as options (pipeline/experiment/option_table.h): the keys of the eval section that the eval
// and tasks commands also take as flags. Plain data (no LibTorch): the experiment parser reads it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/experiment/option_table.h"

namespace dv {

struct EvalSweep {
  std::vector<std::string> modes = {"dense", "oracle", "predicted"};  // predicted needs scorers
  std::vector<std::string> targets = {"mlp", "heads", "both"};
  std::vector<double> mlp_densities = {0.5, 0.25, 0.1};   // fraction of fc1 neurons kept
  std::vector<double> head_densities = {0.75, 0.5, 0.25};  // fraction of heads kept
  std::vector<int64_t> dense_layers;  // left dense at every sparse point (-1 = the last layer)
  bool operator==(const EvalSweep& o) const {
    return modes == o.modes && targets == o.targets && mlp_densities == o.mlp_densities &&
           head_densities == o.head_densities && dense_layers == o.dense_layers;
  }
};

// In the order the resolved YAML writes them.
template <class Sweep, class Visitor>
void visit_sweep_options(Sweep& s, Visitor& v) {
  v.choices(s.modes, {"modes", "selections swept: dense | oracle | predicted (needs predictors)"},
            {"dense", "oracle", "predicted"});
  v.numbers(s.mlp_densities, {"mlp_densities", "fractions of fc1 neurons kept, swept"}, kFraction);
  v.numbers(s.head_densities, {"head_densities", "fractions of heads kept, swept"}, kFraction);
  v.choices(s.targets, {"targets", "what is made sparse: mlp | heads | both (pairs the density lists)"},
            {"mlp", "heads", "both"});
  v.integers(s.dense_layers, {"dense_layers", "layers left dense at every sparse point (-1 = the last)", true, false},
             IntRange{-4096, 4095});
}

}  // namespace dv
