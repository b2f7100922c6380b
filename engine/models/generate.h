// generate.h: greedy decoding with the reference model: one prefill, then one token at a time
// through the KV cache.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/models/opt_model.h"

namespace dv {

struct GenerateResult {
  std::vector<int32_t> tokens;  // generated tokens only (prompt excluded)
  double prefill_seconds = 0;
  double decode_seconds = 0;
};

// Stops after max_new_tokens or at eos_id (included) when stop_at_eos.
GenerateResult generate_greedy(const OptModel& model, const std::vector<int32_t>& prompt, int64_t max_new_tokens,
                               int64_t eos_id, bool stop_at_eos, const ForwardHooks* hooks = nullptr);

}  // namespace dv
