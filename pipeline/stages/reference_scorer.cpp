// reference_scorer.cpp: forward passes over windows, log_softmax gathered at the next tokens.
#include "pipeline/stages/reference_scorer.h"

#include <c10/core/InferenceMode.h>

namespace dv {

ReferenceScorer::ReferenceScorer(const OptModel& model, ScoreFn mlp_predicted, ScoreFn head_predicted)
    : model_(model), mlp_predicted_(std::move(mlp_predicted)), head_predicted_(std::move(head_predicted)) {
  set_plan(ScoringPlan{});
}

void ReferenceScorer::set_plan(const ScoringPlan& plan) {
  plan_ = sparsity_plan(plan, mlp_predicted_, head_predicted_);
  stats_ = MaskStats{};
  hooks_ = make_mask_hooks(plan_, &stats_);
}

std::vector<std::vector<float>> ReferenceScorer::logprobs(const std::vector<std::vector<int32_t>>& windows) {
  c10::InferenceMode inference_mode;
  std::vector<std::vector<float>> out(windows.size());
  size_t i = 0;
  while (i < windows.size()) {
    // A run of equal-length windows is one [B, T] forward.
    size_t j = i + 1;
    while (j < windows.size() && windows[j].size() == windows[i].size()) ++j;
    const int64_t B = static_cast<int64_t>(j - i), T = static_cast<int64_t>(windows[i].size());
    if (T < 2) {
      i = j;
      continue;
    }
    at::Tensor ids = at::empty({B, T}, at::kLong);
    int64_t* p = ids.data_ptr<int64_t>();
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) p[b * T + t] = windows[i + b][t];
    const at::Tensor logits = model_.forward(ids, nullptr, &hooks_);
    const at::Tensor logp = at::log_softmax(logits.slice(1, 0, T - 1).to(at::kFloat), -1);
    const at::Tensor target = ids.slice(1, 1, T).to(logp.device()).unsqueeze(-1);
    const at::Tensor lp = logp.gather(-1, target).squeeze(-1).to(at::kCPU, at::kFloat).contiguous();
    for (int64_t b = 0; b < B; ++b) {
      const float* row = lp.data_ptr<float>() + b * (T - 1);
      out[i + b].assign(row, row + T - 1);
    }
    i = j;
  }
  return out;
}

}  // namespace dv
