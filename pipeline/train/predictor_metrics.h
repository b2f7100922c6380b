// predictor_metrics.h: how well a predictor finds the active neurons / heads on held-out rows.
// Recall is what matters for accuracy (a missed active neuron changes the output; a spurious one
// only costs time), so besides the paper's recall and precision at sigmoid >= 0.5 the metrics give
// recall at fixed keep-fractions (the top-k the engine runs with) and the share of activation mass
// those top-k keep: post-ReLU fc1 values for the MLP (when the store holds them), head output norms
// for attention; the oracle share (top-k by the true values) bounds it from above.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/ATen.h>

namespace dv {

struct TopkMetric {
  double fraction = 0;  // keep-fraction asked for
  int64_t k = 0;        // units kept per row: kept_count(fraction, n_out)
  double recall = 0;    // share of active units among the kept ones' positions
  double mass_recall = std::numeric_limits<double>::quiet_NaN();         // kept mass / all mass (NaN: no values)
  double oracle_mass_recall = std::numeric_limits<double>::quiet_NaN();  // the same for the true top-k
};

struct PredictorMetrics {
  std::string kind;         // "mlp" or "att"
  int64_t layer = 0;
  std::string input;        // predictor_input_name of what it read
  int64_t rank = 0, n_out = 0;
  int64_t train_rows = 0, val_rows = 0;
  int64_t epochs_run = 0;   // epochs trained before early stopping
  int64_t best_epoch = 0;   // epoch whose weights were kept (0: the initial weights were never beaten)
  double initial_recall = 0;  // validation recall at 0.5 of the untrained predictor
  double recall = 0;          // validation recall at sigmoid >= 0.5 (the paper's metric)
  double precision = 0;       // at sigmoid >= 0.5
  double true_active_rate = 0;  // share of units labelled active
  double pred_active_rate = 0;  // share predicted active at 0.5
  double val_loss = 0;          // weighted BCE on the validation rows
  std::vector<TopkMetric> topk;
  double seconds = 0;           // wall time spent training this predictor's layer
};

// Sums over validation blocks; all counts in double so that billions of elements stay exact enough.
class MetricsAccumulator {
 public:
  // topk_fractions empty: only the threshold metrics (the per-epoch validation pass).
  MetricsAccumulator(int64_t n_out, const std::vector<double>& topk_fractions);
  // logits, labels: [n, n_out]; mass: [n, n_out] non-negative values or undefined; loss: the
  // batch's mean weighted BCE (a 0-d tensor), averaged by rows.
  void add(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& mass, const at::Tensor& loss);
  double recall() const { return positives_ > 0 ? tp_ / positives_ : 1.0; }
  // Fills recall, precision, rates, val_loss and topk of `m`.
  void fill(PredictorMetrics* m) const;

 private:
  int64_t n_out_;
  double rows_ = 0, elements_ = 0, positives_ = 0, predicted_ = 0, tp_ = 0, loss_sum_ = 0;
  std::vector<TopkMetric> topk_;
  std::vector<double> kept_active_, kept_mass_, oracle_mass_;
  double mass_ = 0;
  bool has_mass_ = true;
};

}  // namespace dv
