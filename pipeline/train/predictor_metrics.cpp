// predictor_metrics.cpp: accumulating threshold and top-k metrics over validation blocks.
#include "pipeline/train/predictor_metrics.h"

#include "kernels/common/error.h"
#include "pipeline/train/selection.h"

namespace dv {

namespace {
double sum_of(const at::Tensor& t) { return t.sum(at::kDouble).item<double>(); }
}  // namespace

MetricsAccumulator::MetricsAccumulator(int64_t n_out, const std::vector<double>& topk_fractions) : n_out_(n_out) {
  for (double f : topk_fractions) {
    DV_CHECK(f > 0 && f <= 1, "top-k fraction {} is outside (0, 1]", f);
    topk_.push_back({f, kept_count(f, n_out)});
  }
  kept_active_.assign(topk_.size(), 0);
  kept_mass_.assign(topk_.size(), 0);
  oracle_mass_.assign(topk_.size(), 0);
}

void MetricsAccumulator::add(const at::Tensor& logits, const at::Tensor& labels, const at::Tensor& mass,
                             const at::Tensor& loss) {
  DV_CHECK(logits.dim() == 2 && logits.size(1) == n_out_ && labels.sizes() == logits.sizes(),
           "metrics: logits and labels must both be [n, {}]", n_out_);
  const int64_t n = logits.size(0);
  if (n == 0) return;
  const at::Tensor pred = at::ge(logits, 0).to(at::kFloat);  // sigmoid >= 0.5
  rows_ += static_cast<double>(n);
  elements_ += static_cast<double>(labels.numel());
  positives_ += sum_of(labels);
  predicted_ += sum_of(pred);
  tp_ += sum_of(pred * labels);
  loss_sum_ += loss.item<double>() * static_cast<double>(n);
  if (topk_.empty()) return;
  has_mass_ = has_mass_ && mass.defined();
  const at::Tensor m = has_mass_ ? mass.to(at::kFloat) : at::Tensor();
  if (has_mass_) mass_ += sum_of(m);
  for (size_t i = 0; i < topk_.size(); ++i) {
    const at::Tensor keep = select_topk(logits, topk_[i].k);
    kept_active_[i] += sum_of(keep * labels);
    if (has_mass_) {
      kept_mass_[i] += sum_of(keep * m);
      oracle_mass_[i] += sum_of(select_topk(m, topk_[i].k) * m);
    }
  }
}

void MetricsAccumulator::fill(PredictorMetrics* out) const {
  out->n_out = n_out_;  // measure's kept_fraction divides by it (it read inf while only train set it)
  out->recall = recall();
  out->precision = predicted_ > 0 ? tp_ / predicted_ : 1.0;
  out->true_active_rate = elements_ > 0 ? positives_ / elements_ : 0.0;
  out->pred_active_rate = elements_ > 0 ? predicted_ / elements_ : 0.0;
  out->val_loss = rows_ > 0 ? loss_sum_ / rows_ : 0.0;
  out->topk = topk_;
  for (size_t i = 0; i < topk_.size(); ++i) {
    out->topk[i].recall = positives_ > 0 ? kept_active_[i] / positives_ : 1.0;
    if (has_mass_ && rows_ > 0) {
      out->topk[i].mass_recall = mass_ > 0 ? kept_mass_[i] / mass_ : 1.0;
      out->topk[i].oracle_mass_recall = mass_ > 0 ? oracle_mass_[i] / mass_ : 1.0;
    }
  }
}

}  // namespace dv
