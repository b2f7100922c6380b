// random_predictor_set.h: a PredictorSet of untrained rank-16 predictors for every layer (MLP seeds mlp_seed + l,
// heads head_seed + l), what the scorer tests run 'predicted' plans with on random models.
#pragma once

#include <cstdint>

#include "pipeline/train/predictor_set.h"

namespace dv::test {

inline PredictorSet random_predictor_set(const OptConfig& config, uint64_t mlp_seed, uint64_t head_seed) {
  PredictorSet s = PredictorSet::empty_for(config);
  for (int l = 0; l < config.num_hidden_layers; ++l) {
    s.mlp[l] = LowRankPredictor::init(config.hidden_size, 16, config.ffn_dim, mlp_seed + l);
    s.att[l] = LowRankPredictor::init(config.hidden_size, 16, config.num_attention_heads, head_seed + l);
  }
  return s;
}

}  // namespace dv::test
