// scoring_plan.h: the one sparsity plan, from the command line or an experiment to whoever runs the model:
// which units each token keeps (dense / oracle / predicted / random fixed), how many (densities, per layer,
// kernels/common/sparsity_rule.h's kept_count), and which layers stay dense. The reference turns it into
// masks (window_scorer.h, sparsity_plan), the CUDA engine into its SparseSpec (engine_spec.h): one function
// each, so the two run the same plan.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dv {

enum class Selection {
  kDense,      // every neuron and head
  kOracle,     // each token keeps the top-k of its own dense values (fc1 post-ReLU, head output norms)
  kPredicted,  // each token keeps the top-k of the trained low-rank predictors' logits
  kFixed,      // random index lists of the densities, fixed for the run (CUDA engine only: its sparse kernels alone)
};
Selection parse_selection(const std::string& name);  // dense | oracle | predicted | fixed
const char* selection_name(Selection s);

struct ScoringPlan {
  Selection selection = Selection::kDense;
  double mlp_density = 1.0;   // fraction of fc1 neurons kept per token (k = kept_count(density, n)); 1 = dense
  double head_density = 1.0;  // fraction of heads kept per token
  std::vector<double> mlp_layer_density, head_layer_density;  // per layer; empty = the single value
  std::vector<bool> dense_layer;  // dense_layer[l]: layer l left dense (dense_layer_flags)
  double mlp_threshold = 0;       // kPredicted on the CUDA engine: > 0 keeps sigmoid >= this instead of the top-k
  uint64_t seed = 0;              // kFixed: the MLP lists' seed (the heads' is seed + 1)
  // CUDA engine: a block at density 1 still runs the sparse path (bench times the sparse kernels at 100%);
  // false: it runs dense, as the reference's masks at density 1 equal dense.
  bool sparse_at_full_density = false;
};

}  // namespace dv
