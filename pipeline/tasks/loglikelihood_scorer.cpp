// loglikelihood_scorer.cpp: batched continuation log-likelihoods on the reference model.
#include "pipeline/tasks/loglikelihood_scorer.h"

#include <algorithm>
#include <numeric>

#include <c10/core/InferenceMode.h>

#include "engine/io/progress.h"
#include "kernels/common/error.h"

namespace dv {

std::vector<LoglikelihoodResult> TaskReferenceScorer::loglikelihood(const std::vector<TokenRequest>& requests,
                                                                const SparsityPlan& plan) {
  const int64_t max_len = max_length();
  // The model's input per request: (context + continuation)[-(max_len + 1):][:-1].
  std::vector<std::vector<int32_t>> inputs(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const TokenRequest& r = requests[i];
    DV_CHECK(!r.context.empty() && !r.continuation.empty(), "loglikelihood: request {} has an empty context or continuation", i);
    DV_CHECK(static_cast<int64_t>(r.continuation.size()) <= max_len,
             "loglikelihood: request {} has a continuation of {} tokens, longer than the model's {} positions", i,
             r.continuation.size(), max_len);
    std::vector<int32_t> all(r.context);
    all.insert(all.end(), r.continuation.begin(), r.continuation.end());
    const size_t keep = std::min<size_t>(all.size(), static_cast<size_t>(max_len) + 1);
    inputs[i].assign(all.end() - static_cast<std::ptrdiff_t>(keep), all.end() - 1);
  }
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return inputs[a].size() > inputs[b].size(); });

  ForwardHooks hooks = make_mask_hooks(plan, nullptr);
  std::vector<LoglikelihoodResult> out(requests.size());
  Progress bar("loglikelihood", static_cast<int64_t>(requests.size()), "req", show_progress_);
  c10::InferenceMode inference_mode;
  const int64_t batch = std::max<int64_t>(1, batch_);
  for (size_t start = 0; start < order.size(); start += static_cast<size_t>(batch)) {
    const size_t end = std::min(order.size(), start + static_cast<size_t>(batch));
    const int64_t B = static_cast<int64_t>(end - start), T = static_cast<int64_t>(inputs[order[start]].size());
    at::Tensor ids = at::full({B, T}, 1, at::kLong);  // right padding; its value never reaches a real position
    auto acc = ids.accessor<int64_t, 2>();
    for (int64_t b = 0; b < B; ++b) {
      const auto& in = inputs[order[start + b]];
      for (size_t t = 0; t < in.size(); ++t) acc[b][static_cast<int64_t>(t)] = in[t];
    }
    // [B, T, V] float32 on the model's device; only the continuation positions' numbers leave it.
    const at::Tensor logp = at::log_softmax(model_.forward(ids, nullptr, &hooks), -1);
    for (int64_t b = 0; b < B; ++b) {
      const size_t i = order[start + b];
      const auto& cont = requests[i].continuation;
      const int64_t n = static_cast<int64_t>(cont.size()), len = static_cast<int64_t>(inputs[i].size());
      // Position len - n + j predicts continuation token j.
      const at::Tensor rows = logp[b].slice(0, len - n, len);  // [n, V]
      const at::Tensor target =
          at::from_blob(const_cast<int32_t*>(cont.data()), {n}, at::kInt).to(logp.device(), at::kLong);
      out[i].logprob = rows.gather(1, target.unsqueeze(1)).to(at::kDouble).sum().item<double>();
      out[i].greedy = rows.argmax(1).eq(target).all().item<bool>();
    }
    bar.advance(B);
  }
  bar.finish();
  return out;
}

}  // namespace dv
