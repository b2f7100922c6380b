// loglikelihood_scorer.cpp: the harness's truncation, sort and batching over WindowScorer::score.
#include "pipeline/tasks/loglikelihood_scorer.h"

#include <algorithm>
#include <numeric>

#include "engine/io/progress.h"
#include "kernels/common/error.h"

namespace dv {

std::vector<LoglikelihoodResult> LoglikelihoodScorer::loglikelihood(const std::vector<TokenRequest>& requests) {
  const int64_t max_len = max_length();
  // The model's input per request: (context + continuation)[-(max_len + 1):][:-1]; the final token is scored
  // from the input's last position (ScoreOptions::next).
  std::vector<std::vector<int32_t>> inputs(requests.size());
  std::vector<int32_t> last(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const TokenRequest& r = requests[i];
    DV_CHECK(!r.context.empty() && !r.continuation.empty(),
             "loglikelihood: request {} has an empty context or continuation", i);
    DV_CHECK(static_cast<int64_t>(r.continuation.size()) <= max_len,
             "loglikelihood: request {} has a continuation of {} tokens, longer than the {} engine's {} positions", i,
             r.continuation.size(), scorer_.name(), max_len);
    std::vector<int32_t> all(r.context);
    all.insert(all.end(), r.continuation.begin(), r.continuation.end());
    const size_t keep = std::min<size_t>(all.size(), static_cast<size_t>(max_len) + 1);
    inputs[i].assign(all.end() - static_cast<std::ptrdiff_t>(keep), all.end() - 1);
    last[i] = all.back();
  }
  std::vector<size_t> order(requests.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return inputs[a].size() > inputs[b].size(); });

  std::vector<LoglikelihoodResult> out(requests.size());
  Progress bar("loglikelihood (" + scorer_.name() + ")", static_cast<int64_t>(requests.size()), "req", show_progress_);
  const size_t batch = static_cast<size_t>(std::max<int64_t>(1, batch_));
  for (size_t start = 0; start < order.size(); start += batch) {
    const size_t end = std::min(order.size(), start + batch);
    std::vector<std::vector<int32_t>> windows;
    ScoreOptions options;
    options.greedy = true;
    options.pad = true;
    for (size_t k = start; k < end; ++k) {
      windows.push_back(inputs[order[k]]);
      options.next.push_back(last[order[k]]);
    }
    const WindowScores scores = scorer_.score(windows, options);
    for (size_t k = start; k < end; ++k) {
      const size_t i = order[k];
      const std::vector<float>& lp = scores.logprobs[k - start];
      const std::vector<uint8_t>& hit = scores.greedy[k - start];
      // Entry t scores the token after input[0..t]: the continuation's tokens are the last n entries.
      const size_t n = requests[i].continuation.size();
      DV_CHECK(lp.size() == inputs[i].size() && hit.size() == lp.size(), "loglikelihood: the {} engine returned {} "
               "log-probs for a window of {} tokens", scorer_.name(), lp.size(), inputs[i].size());
      double sum = 0;
      bool greedy = true;
      for (size_t t = lp.size() - n; t < lp.size(); ++t) {
        sum += static_cast<double>(lp[t]);
        greedy = greedy && hit[t] != 0;
      }
      out[i] = {sum, greedy};
    }
    bar.advance(static_cast<int64_t>(end - start));
  }
  bar.finish();
  return out;
}

}  // namespace dv
