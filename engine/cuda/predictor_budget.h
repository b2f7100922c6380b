// predictor_budget.h: the predictors' ranks chosen per model size. The predictors run beside the step on the
// side stream, but they read DRAM like the step does, so at batch 1 their bytes cost roughly their share of the
// step's time. Rule: the largest ranks, at most max_rank_mlp / max_rank_att and in that ratio, whose weight
// bytes (both predictors, every layer, in the given dtype; int8 adds the fp32 row scales) stay within `share` of
// the sparse step's bytes (weights at the densities + the K/V read, bench_bytes.h), rounded down to multiples
// of 8 and at least 8. share <= 0 keeps the maximum ranks (the paper's fixed 1000 / 512).
// Why a share and not a fixed rank: at ranks 1000 / 512 the predictors read 96% as many bytes as the sparse
// step on opt-1.3b and 38% on opt-13b (MLP 10%, heads 50%); the recall each rank costs, relative to d, is in
// results/cpu/2026-12-07_predictor_rank.
#pragma once

#include "engine/io/opt_config.h"

namespace dv::engine {

struct PredictorBudget {
  double share = 0.1;       // predictor bytes / sparse step bytes; <= 0: the maximum ranks
  int max_rank_mlp = 1000;  // the paper's latency-code ranks
  int max_rank_att = 512;
  bool int8 = false;        // weight bytes per element: 1 (+ 4 per row scale) or 2
};

struct PredictorSizing {
  int rank_mlp = 0, rank_att = 0;
  double predictor_bytes = 0;  // per step, every layer
  double step_bytes = 0;       // the sparse step's weights + K/V (no predictors)
  double share() const { return step_bytes > 0 ? predictor_bytes / step_bytes : 0; }
};

// config.num_hidden_layers = layers run; mean_len = average attended length; densities as the step's.
PredictorSizing size_predictors(const OptConfig& config, const PredictorBudget& budget, int batch, double mlp_density,
                                double head_density, double mean_len);

// Weight bytes of one layer's two predictors at these ranks (int8: + fp32 row scales).
double predictor_layer_bytes(const OptConfig& config, int rank_mlp, int rank_att, bool int8);

}  // namespace dv::engine
