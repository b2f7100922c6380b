// engine_generate.cpp: prefill of the prompt, then one decode step per new token.
#include "engine/cuda/engine_generate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "kernels/common/error.h"

namespace dv::engine {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

GenerateResult engine_generate_greedy(CudaEngine& engine, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                                      int64_t eos_id, bool stop_at_eos, const EngineRunOptions& o) {
  DV_CHECK(engine.batch() == 1, "generate: the engine must be built for batch 1, not {}", engine.batch());
  DV_CHECK(!prompt.empty(), "generate: empty prompt");
  DV_CHECK(static_cast<int64_t>(prompt.size()) + max_new_tokens <= engine.max_len(),
           "generate: prompt of {} tokens + {} new tokens exceeds the engine's {} positions", prompt.size(),
           max_new_tokens, engine.max_len());
  GenerateResult r;
  auto t0 = std::chrono::steady_clock::now();
  engine.prefill({prompt}, o.sparse_prompt ? o.mode : StepMode::kDense);
  std::vector<float> logits = engine.logits();
  r.prefill_seconds = seconds_since(t0);
  auto t1 = std::chrono::steady_clock::now();
  const int64_t vocab = engine.config().vocab_size;
  for (int64_t i = 0; i < max_new_tokens; ++i) {
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.begin() + vocab) - logits.begin());
    r.tokens.push_back(next);
    if ((stop_at_eos && next == eos_id) || i + 1 == max_new_tokens) break;
    engine.step({next}, o.mode);
    logits = engine.logits();
  }
  r.decode_seconds = seconds_since(t1);
  if (o.mode == StepMode::kSparse && engine.sparse_fallback_applies())
    std::fprintf(stderr, "sparse fallback: decode ran %s\n",
                 engine.sparse_choice().decided
                     ? step_choice_text(engine.sparse_choice()).c_str()
                     : "dense (every step was a calibration step, whose dense output stands; no choice yet)");
  return r;
}

}  // namespace dv::engine
