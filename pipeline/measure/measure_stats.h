// measure_stats.h: oracle sparsity and "slowly changing embeddings" statistics of an activation store,
// accumulated chunk by chunk in Eigen (independent of LibTorch, bounded memory):
//   - MLP: fraction of fc1 neurons silent (ReLU output 0) per token, mean and spread per layer;
//   - heads: the fraction of heads needed to keep a given share of the attention output norm mass;
//   - residual stream: cosine similarity of consecutive layers' inputs, and ||X|| vs ||F(X)|| for each
//     block (F(X) = what the block adds to the residual stream).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/measure/measure_section.h"
#include "pipeline/store/activation_reader.h"

namespace dv {

struct LayerStats {
  int64_t layer = 0;
  double mlp_active_mean = 0, mlp_active_std = 0;   // fraction of neurons active per token
  double mlp_ever_active = 0;                       // fraction of neurons active for some token
  std::vector<double> heads_for_share;              // per norm share: mean fraction of heads needed
  double cos_attn_mlp = 0;                          // cos(attn_input_l, mlp_input_l)
  double cos_next_layer = 0;                        // cos(attn_input_l, attn_input_{l+1}); 0 for the last
  double norm_x = 0, norm_attn_delta = 0;           // mean ||attn_input||, mean ||mlp_input - attn_input||
  double norm_mlp_x = 0, norm_mlp_delta = 0;        // mean ||mlp_input||, mean ||attn_input_{l+1} - mlp_input||
};

struct MeasureStatsOptions {
  std::vector<double> norm_shares = kMeasureDefaults.norm_share;  // measure.norm_share
  int64_t max_rows = 0;  // 0 = every row
  bool show_progress = true;
};

std::vector<LayerStats> measure_store_stats(const ActivationReader& store, const MeasureStatsOptions& options);

}  // namespace dv
