// sparsity_rule.h: the one definition of how many neurons or heads a sparse layer keeps, which ones, and what
// a selection is scored by. Every path that selects (the reference masks, the training metrics, measure, the
// CUDA engine, tp-balance) counts with kept_count and cuts thresholds with threshold_logit, so a density or a
// probability means the same selection everywhere. Plain C++ (no CUDA, no LibTorch): the lowest layer that
// both the engine and the pipeline include.
//   top-k:     a token keeps the kept_count(density, n) units of largest score (fc1 post-ReLU values or head
//              output norms for the oracle, predictor logits for the predicted selection); ties: any of them;
//   threshold: a predictor keeps every unit with sigmoid(logit) >= probability, i.e. logit >= threshold_logit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace dv {

// Units of n that a keep-fraction keeps: ceil(density * n), at least 1 and at most n (0 when n is 0). The
// 1e-9 keeps a fraction that is k/n up to binary rounding (0.3 * 10 = 3.0000000000000004) at k.
inline int64_t kept_count(double density, int64_t n) {
  if (n <= 0) return 0;
  const auto k = static_cast<int64_t>(std::ceil(density * static_cast<double>(n) - 1e-9));
  return std::clamp<int64_t>(k, 1, n);
}

// The logit at which sigmoid(logit) reaches probability (in (0, 1)): comparing logits needs no sigmoid.
inline double threshold_logit(double probability) { return std::log(probability / (1.0 - probability)); }

// What a run's selections kept, summed over every token and layer (a dense layer counts as fully kept): the
// reference masks and the CUDA engine both report it.
struct SelectionStats {
  double mlp_active = 0, mlp_active_kept = 0;  // fc1 neurons with post-ReLU output > 0, and those kept
  double mlp_mass = 0, mlp_mass_kept = 0;      // sum of post-ReLU values, and of the kept ones
  double head_mass = 0, head_mass_kept = 0;    // sum of head output norms, and of the kept heads'
  double mlp_active_recall() const { return mlp_active > 0 ? mlp_active_kept / mlp_active : 1.0; }
  double mlp_mass_recall() const { return mlp_mass > 0 ? mlp_mass_kept / mlp_mass : 1.0; }
  double head_mass_recall() const { return head_mass > 0 ? head_mass_kept / head_mass : 1.0; }
};

}  // namespace dv
