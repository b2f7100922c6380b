// engine_generate.h: greedy generation through the CUDA engine, for `dejavu generate --engine cuda`.
// The prompt is prefilled in one pass (prefill.h), dense or, with sparse_prompt, with per-token selections;
// then every new token is one decode step in `mode`. With sparse_prompt = false the prompt runs dense and only
// new tokens run sparse (the paper's latency setting). With the spec's fallback (SparseSpec::fallback, on by
// default in `dejavu generate`) the sparse steps run the measured faster mode, logged on stderr at the end.
// Scoring text goes through the pipeline's WindowScorer (pipeline/scoring/cuda_scorer.h), which prefills
// windows with log-probs.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/cuda/cuda_engine.h"
#include "engine/models/generate.h"

namespace dv::engine {

struct EngineRunOptions {
  StepMode mode = StepMode::kDense;  // the decode mode (kSparse needs set_sparse first)
  bool sparse_prompt = false;        // with kSparse: the prompt's prefill selects per token too
};

// Greedy decoding of one sequence (engine batch 1); stops after max_new_tokens or at eos (included).
GenerateResult engine_generate_greedy(CudaEngine& engine, const std::vector<int32_t>& prompt,
                                      int64_t max_new_tokens, int64_t eos_id, bool stop_at_eos,
                                      const EngineRunOptions& options);

}  // namespace dv::engine
