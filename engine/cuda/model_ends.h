// model_ends.h: the two ends of the OPT stack, launched the same way by the decode step (B rows, one token
// each) and the prefill (rows * T tokens):
//   embed_tokens    out [rows, d] = word embedding of each token (through project_in when the model has it,
//                   e.g. opt-350m) + its position's embedding;
//   lm_head_logits  logits fp32 [rows, vocab] = x [rows, d] (through project_out when the model has it) times
//                   the LM head.
// Everything is enqueued on `stream`, which must be the stream of ctx's cuBLAS handle (the engine's main stream).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <ATen/ATen.h>

#include "engine/cuda/engine_context.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/model_dims.h"

namespace dv::engine {

// tokens, positions: [rows] device. emb: fp16 [rows, embed] scratch, read only when the weights have project_in
// (may be undefined otherwise).
void embed_tokens(const EngineContext& ctx, const GpuWeights& w, const ModelDims& m, const int* tokens,
                  const int* positions, int rows, const at::Tensor& emb, __half* out, cudaStream_t stream);

// head_in: fp16 [rows, embed] scratch, read only when the weights have project_out (may be undefined otherwise).
void lm_head_logits(const EngineContext& ctx, const GpuWeights& w, const ModelDims& m, const __half* x, int rows,
                    const at::Tensor& head_in, float* logits);

}  // namespace dv::engine
