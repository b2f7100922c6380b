// generate.cpp: greedy decode loop over the reference model's KV cache.
#include "engine/models/generate.h"

#include <chrono>

#include <c10/core/InferenceMode.h>

#include "kernels/common/error.h"

namespace dv {

GenerateResult generate_greedy(const OptModel& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                               int64_t eos_id, bool stop_at_eos, const ForwardHooks* hooks) {
  DV_CHECK(!prompt.empty(), "generate: empty prompt");
  DV_CHECK(static_cast<int64_t>(prompt.size()) + max_new_tokens <= model.config().max_position_embeddings,
           "generate: prompt of {} tokens + {} new tokens exceeds max_position_embeddings {}", prompt.size(),
           max_new_tokens, model.config().max_position_embeddings);
  c10::InferenceMode inference_mode;
  GenerateResult r;
  KvCache cache;
  auto ids = at::from_blob(const_cast<int32_t*>(prompt.data()), {1, static_cast<int64_t>(prompt.size())}, at::kInt)
                 .to(at::kLong);
  auto t0 = std::chrono::steady_clock::now();
  at::Tensor logits = model.forward(ids, &cache, hooks);
  auto t1 = std::chrono::steady_clock::now();
  r.prefill_seconds = std::chrono::duration<double>(t1 - t0).count();
  for (int64_t i = 0; i < max_new_tokens; ++i) {
    const int64_t next = logits.select(1, logits.size(1) - 1).argmax(-1).item<int64_t>();
    r.tokens.push_back(static_cast<int32_t>(next));
    if (stop_at_eos && next == eos_id) break;
    if (i + 1 == max_new_tokens) break;
    logits = model.forward(at::full({1, 1}, next, at::kLong), &cache, hooks);
  }
  r.decode_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  return r;
}

}  // namespace dv
