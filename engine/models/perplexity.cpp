// perplexity.cpp: window cutting, batched scoring, NLL accumulated in double.
#include "engine/models/perplexity.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/io/progress.h"
#include <c10/core/InferenceMode.h>

#include "kernels/common/error.h"

namespace dv {

double window_nll_sum(const at::Tensor& logits, const at::Tensor& ids) {
  const int64_t T = ids.size(1);
  if (T < 2) return 0.0;
  auto logp = at::log_softmax(logits.slice(1, 0, T - 1).to(at::kFloat), -1);
  auto target = ids.slice(1, 1, T).to(logp.device(), at::kLong).unsqueeze(-1);
  return -logp.gather(-1, target).to(at::kDouble).sum().item<double>();
}

void finish_perplexity(PerplexityResult& r, double nll_sum, int64_t input_tokens,
                       std::chrono::steady_clock::time_point t0) {
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.tokens_per_second = r.seconds > 0 ? input_tokens / r.seconds : 0;
  r.mean_nll = r.predicted_tokens > 0 ? nll_sum / r.predicted_tokens : 0;
  r.perplexity = std::exp(r.mean_nll);
}

PerplexityResult windowed_perplexity(const std::vector<int32_t>& ids, int64_t L, int64_t batch_in,
                                     const std::string& label, bool show_progress, const WindowsNll& window_nll) {
  DV_CHECK(ids.size() >= 2, "perplexity needs at least 2 tokens, got {}", ids.size());
  const int64_t n = static_cast<int64_t>(ids.size());
  const int64_t full = n / L, tail = n % L;
  const int64_t batch = std::max<int64_t>(1, batch_in);
  PerplexityResult r;
  r.seq_len = L;
  r.windows = full + (tail > 0 ? 1 : 0);
  r.input_tokens = n;
  Progress bar(label, n, "tok", show_progress);
  const auto t0 = std::chrono::steady_clock::now();
  double nll = 0;
  auto score = [&](int64_t start, int64_t count, int64_t len) {
    std::vector<std::vector<int32_t>> windows;
    for (int64_t w = 0; w < count; ++w)
      windows.emplace_back(ids.begin() + start + w * len, ids.begin() + start + (w + 1) * len);
    nll += window_nll(windows);
    r.predicted_tokens += count * (len - 1);
    bar.advance(count * len);
  };
  for (int64_t w = 0; w < full; w += batch) score(w * L, std::min(batch, full - w), L);
  if (tail > 0) score(full * L, 1, tail);
  bar.finish();
  finish_perplexity(r, nll, n, t0);
  return r;
}

PerplexityResult compute_perplexity(const OptModel& model, const std::vector<int32_t>& ids,
                                    const PerplexityOptions& options, const ForwardHooks* hooks) {
  const int64_t L = options.seq_len > 0 ? options.seq_len
                                        : std::min<int64_t>(model.config().max_position_embeddings, 2048);
  DV_CHECK(L >= 2, "--seq-len must be at least 2, got {}", L);
  DV_CHECK(L <= model.config().max_position_embeddings, "--seq-len {} exceeds the model's max_position_embeddings {}",
           L, model.config().max_position_embeddings);
  c10::InferenceMode inference_mode;
  return windowed_perplexity(ids, L, options.batch, "perplexity", options.show_progress,
                             [&](const std::vector<std::vector<int32_t>>& windows) {
                               const int64_t B = static_cast<int64_t>(windows.size());
                               const int64_t T = static_cast<int64_t>(windows[0].size());
                               at::Tensor block = at::empty({B, T}, at::kLong);
                               int64_t* p = block.data_ptr<int64_t>();
                               for (int64_t b = 0; b < B; ++b)
                                 for (int64_t t = 0; t < T; ++t) p[b * T + t] = windows[b][t];
                               return window_nll_sum(model.forward(block, nullptr, hooks), block);
                             });
}

}  // namespace dv
