// reference_scorer.cpp: forward passes over windows, log_softmax gathered at the next tokens.
#include "pipeline/scoring/reference_scorer.h"

#include <algorithm>

#include <c10/core/InferenceMode.h>


namespace dv {

ReferenceScorer::ReferenceScorer(const OptModel& model, ScoreFn mlp_predicted, ScoreFn head_predicted)
    : model_(model), mlp_predicted_(std::move(mlp_predicted)), head_predicted_(std::move(head_predicted)) {
  set_plan(ScoringPlan{});
}

void ReferenceScorer::set_plan(const ScoringPlan& plan) {
  plan_ = sparsity_plan(plan, mlp_predicted_, head_predicted_);
  stats_ = SelectionStats{};
  hooks_ = make_mask_hooks(plan_, &stats_, &counted_);
}

WindowScores ReferenceScorer::score(const std::vector<std::vector<int32_t>>& windows, const ScoreOptions& options) {
  c10::InferenceMode inference_mode;
  const bool with_next = !options.next.empty();
  WindowScores out = sized_scores(windows, options);
  size_t i = 0;
  while (i < windows.size()) {
    // A run of equal-length windows (with pad: the whole call) is one [B, T] forward.
    const size_t j = next_run(windows, i, windows.size(), options);
    const int64_t B = static_cast<int64_t>(j - i);
    int64_t T = 0;
    for (size_t w = i; w < j; ++w) T = std::max<int64_t>(T, static_cast<int64_t>(windows[w].size()));
    const int64_t cols = with_next ? T : T - 1;  // scored positions per row
    if (cols < 1) {
      i = j;
      continue;
    }
    // Right padding (its value never reaches a real position); targets[b][t]: the token scored at t.
    at::Tensor ids = at::full({B, T}, 1, at::kLong), targets = at::full({B, cols}, 1, at::kLong);
    at::Tensor counted = at::zeros({B, T, 1}, at::kFloat);
    int64_t *p = ids.data_ptr<int64_t>(), *q = targets.data_ptr<int64_t>();
    float* c = counted.data_ptr<float>();
    bool padded = false;
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<int32_t>& win = windows[i + b];
      const int64_t n = static_cast<int64_t>(win.size());
      for (int64_t t = 0; t < n; ++t) p[b * T + t] = win[t];
      for (int64_t t = 0; t + 1 < n; ++t) q[b * cols + t] = win[t + 1];
      if (with_next && n > 0) q[b * cols + n - 1] = options.next[i + b];
      std::fill(c + b * T, c + b * T + n, 1.0f);
      padded = padded || n < T;
    }
    // The mask hooks count only real positions in stats(); undefined (no padding): every position.
    counted_ = padded ? counted.to(model_.device()) : at::Tensor();
    const at::Tensor logits = model_.forward(ids, nullptr, &hooks_);
    counted_ = at::Tensor();
    const at::Tensor logp = at::log_softmax(logits.slice(1, 0, cols).to(at::kFloat), -1);
    const at::Tensor target = targets.to(logp.device());
    const at::Tensor lp = logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).to(at::kCPU, at::kFloat).contiguous();
    at::Tensor hit;
    if (options.greedy) hit = logp.argmax(-1).eq(target).to(at::kCPU, at::kByte).contiguous();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t n = std::max<int64_t>(0, static_cast<int64_t>(windows[i + b].size()) - (with_next ? 0 : 1));
      const float* row = lp.data_ptr<float>() + b * cols;
      out.logprobs[i + b].assign(row, row + n);
      if (options.greedy) {
        const uint8_t* g = hit.data_ptr<uint8_t>() + b * cols;
        out.greedy[i + b].assign(g, g + n);
      }
    }
    i = j;
  }
  return out;
}

}  // namespace dv
