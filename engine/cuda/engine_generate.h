// engine_generate.h: greedy generation and windowed perplexity through the CUDA engine, for
// `dejavu generate --device cuda [--sparse]` and the eval comparison with the CPU masked reference.
// Every token, prompt included, passes the engine's decode step (no prefill kernel). With
// sparse_prompt = false the prompt runs dense and only new tokens run sparse (the paper's latency
// setting); with true every position is sparse, which is what the reference's per-token masks compute.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/cuda/cuda_engine.h"
#include "engine/models/generate.h"
#include "engine/models/perplexity.h"

namespace dv::engine {

struct EngineRunOptions {
  StepMode mode = StepMode::kDense;  // the decode mode (kSparse needs set_sparse first)
  bool sparse_prompt = true;         // with kSparse: the prompt runs sparse too
  // Called after every step with the position just computed (selections can be read here).
  std::function<void(int position)> on_step;
};

// Greedy decoding of one sequence (engine batch 1); stops after max_new_tokens or at eos (included).
GenerateResult engine_generate_greedy(CudaEngine& engine, const std::vector<int32_t>& prompt,
                                      int64_t max_new_tokens, int64_t eos_id, bool stop_at_eos,
                                      const EngineRunOptions& options);

// Sum of -log p(ids[t+1] | ids[..t]) over one window (engine batch 1), in double.
double engine_window_nll(CudaEngine& engine, const std::vector<int32_t>& window, const EngineRunOptions& options);

// The fixed-length window recipe of engine/models/perplexity.h (stride = window) through the engine.
PerplexityResult engine_perplexity(CudaEngine& engine, const std::vector<int32_t>& ids, int64_t seq_len,
                                   const EngineRunOptions& options, bool show_progress);

// -log softmax(logits)[target] in double (the host side of engine_window_nll).
double token_nll(const float* logits, int64_t vocab, int64_t target);

}  // namespace dv::engine
