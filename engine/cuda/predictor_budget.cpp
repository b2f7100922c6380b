// predictor_budget.cpp: the rank rule of predictor_budget.h.
#include "engine/cuda/predictor_budget.h"

#include <algorithm>
#include <cmath>

#include "engine/cuda/bench_bytes.h"
#include "engine/cuda/sparse_spec.h"
#include "kernels/common/error.h"

namespace dv::engine {

double predictor_layer_bytes(const OptConfig& c, int rank_mlp, int rank_att, bool int8) {
  const double d = static_cast<double>(c.hidden_size), n = static_cast<double>(c.ffn_dim);
  const double H = static_cast<double>(c.num_attention_heads);
  const double elems = rank_mlp * (d + n) + rank_att * (d + H);  // w1 [r, d] and w2 [n, r] of each
  return int8 ? elems + 4.0 * (rank_mlp + n + rank_att + H) : 2.0 * elems;
}

PredictorSizing size_predictors(const OptConfig& c, const PredictorBudget& b, int batch, double mlp_density,
                                double head_density, double mean_len) {
  DV_CHECK(b.max_rank_mlp >= 8 && b.max_rank_att >= 8 && b.max_rank_mlp % 8 == 0 && b.max_rank_att % 8 == 0,
           "predictor ranks {} / {} must be multiples of 8, at least 8", b.max_rank_mlp, b.max_rank_att);
  PredictorSizing s;
  const int ffn = static_cast<int>(c.ffn_dim), H = static_cast<int>(c.num_attention_heads);
  const StepBytes step = step_bytes(c, batch, mean_len, kept_count(mlp_density, ffn), kept_count(head_density, H));
  s.step_bytes = step.weights + step.kv;
  const double L = static_cast<double>(c.num_hidden_layers);
  s.rank_mlp = b.max_rank_mlp;
  s.rank_att = b.max_rank_att;
  if (b.share > 0) {
    // Bytes are affine in the ranks (base + per_mlp * r_mlp + per_att * r_att) and r_att follows r_mlp in a
    // fixed ratio: solve for r_mlp, round down.
    const double ratio = static_cast<double>(b.max_rank_att) / b.max_rank_mlp;
    const double base = predictor_layer_bytes(c, 0, 0, b.int8);
    const double per_mlp = predictor_layer_bytes(c, 1, 0, b.int8) - base;
    const double per_att = predictor_layer_bytes(c, 0, 1, b.int8) - base;
    const double r = (b.share * s.step_bytes - L * base) / (L * (per_mlp + ratio * per_att));
    auto down8 = [](double v, int hi) { return std::clamp(static_cast<int>(std::floor(v / 8)) * 8, 8, hi); };
    s.rank_mlp = down8(r, b.max_rank_mlp);
    s.rank_att = down8(s.rank_mlp * ratio, b.max_rank_att);
  }
  s.predictor_bytes = L * predictor_layer_bytes(c, s.rank_mlp, s.rank_att, b.int8);
  return s;
}

}  // namespace dv::engine
