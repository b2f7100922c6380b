// engine_generate.cpp: token-by-token loops over the engine's decode step.
#include "engine/cuda/engine_generate.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "engine/io/progress.h"
#include "kernels/common/error.h"

namespace dv::engine {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void run_token(CudaEngine& engine, int32_t token, bool prompt, const EngineRunOptions& o) {
  const StepMode mode = prompt && !o.sparse_prompt ? StepMode::kDense : o.mode;
  engine.step({token}, mode);
  if (o.on_step) o.on_step(engine.position() - 1);
}

}  // namespace

double token_nll(const float* logits, int64_t vocab, int64_t target) {
  double mx = -INFINITY;
  for (int64_t i = 0; i < vocab; ++i) mx = std::max(mx, static_cast<double>(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < vocab; ++i) sum += std::exp(static_cast<double>(logits[i]) - mx);
  return mx + std::log(sum) - static_cast<double>(logits[target]);
}

GenerateResult engine_generate_greedy(CudaEngine& engine, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                                      int64_t eos_id, bool stop_at_eos, const EngineRunOptions& o) {
  DV_CHECK(engine.batch() == 1, "generate: the engine must be built for batch 1, not {}", engine.batch());
  DV_CHECK(!prompt.empty(), "generate: empty prompt");
  DV_CHECK(static_cast<int64_t>(prompt.size()) + max_new_tokens <= engine.max_len(),
           "generate: prompt of {} tokens + {} new tokens exceeds the engine's {} positions", prompt.size(),
           max_new_tokens, engine.max_len());
  GenerateResult r;
  engine.reset();
  auto t0 = std::chrono::steady_clock::now();
  for (int32_t t : prompt) run_token(engine, t, true, o);
  std::vector<float> logits = engine.logits();
  r.prefill_seconds = seconds_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  const int64_t vocab = engine.config().vocab_size;
  for (int64_t i = 0; i < max_new_tokens; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin());
    r.tokens.push_back(next);
    if ((stop_at_eos && next == eos_id) || i + 1 == max_new_tokens) break;
    run_token(engine, next, false, o);
    logits = engine.logits();
  }
  r.decode_seconds = seconds_since(t1);
  return r;
}

double engine_window_nll(CudaEngine& engine, const std::vector<int32_t>& window, const EngineRunOptions& o) {
  DV_CHECK(engine.batch() == 1, "perplexity: the engine must be built for batch 1, not {}", engine.batch());
  DV_CHECK(static_cast<int>(window.size()) <= engine.max_len(), "perplexity: window of {} tokens exceeds the engine's {} positions",
           window.size(), engine.max_len());
  engine.reset();
  const int64_t vocab = engine.config().vocab_size;
  double nll = 0;
  for (size_t t = 0; t + 1 < window.size(); ++t) {
    // Every scored position is "prompt": the window is given, nothing is generated.
    run_token(engine, window[t], true, o);
    const std::vector<float> logits = engine.logits();
    nll += token_nll(logits.data(), vocab, window[t + 1]);
  }
  return nll;
}

PerplexityResult engine_perplexity(CudaEngine& engine, const std::vector<int32_t>& ids, int64_t seq_len,
                                   const EngineRunOptions& o, bool show_progress) {
  const int64_t L = seq_len > 0 ? seq_len : std::min<int64_t>(engine.max_len(), 2048);
  DV_CHECK(L >= 2 && L <= engine.max_len(), "perplexity: window {} outside [2, {}]", L, engine.max_len());
  DV_CHECK(ids.size() >= 2, "perplexity needs at least 2 tokens, got {}", ids.size());
  const int64_t n = static_cast<int64_t>(ids.size());
  PerplexityResult r;
  r.seq_len = L;
  r.input_tokens = n;
  Progress bar("perplexity (cuda engine)", n, "tok", show_progress);
  const auto t0 = std::chrono::steady_clock::now();
  double nll = 0;
  for (int64_t start = 0; start < n; start += L) {
    const int64_t end = std::min(n, start + L);
    ++r.windows;  // a 1-token tail is a window that predicts nothing, as in the reference recipe
    if (end - start >= 2) {
      const std::vector<int32_t> window(ids.begin() + start, ids.begin() + end);
      nll += engine_window_nll(engine, window, o);
      r.predicted_tokens += end - start - 1;
    }
    bar.advance(end - start);
  }
  bar.finish();
  finish_perplexity(r, nll, n, t0);
  return r;
}

}  // namespace dv::engine
