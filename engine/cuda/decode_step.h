// decode_step.h: enqueues one OPT decode step (every batch row advances one position) on the context's
// main stream, and for sparse steps the predictor tasks on its side stream. The same function is run
// eagerly or under CUDA graph capture; everything that changes between steps (tokens, position, index lists)
// is read from device memory, and the step's last node advances the position.
//
// Per layer (pre-LN; post-LN moves the layer norms after the residual adds):
//   dense:  LN -> QKV GEMM -> kv_append -> decode_attention (all heads) -> W_o^T GEMM
//           -> LN(out + bias + residual) -> fc1 GEMM -> bias+ReLU -> fc2^T GEMM -> LN(next) ...
//   sparse: LN -> sparse_qkv (selected heads, K/V catch-up) -> decode_attention (selected)
//           -> gather_heads -> sparse_mlp_down (W_o^T rows of the selected heads)
//           -> LN(out + bias + residual) -> sparse_mlp_up (fc1 rows + bias + ReLU)
//           -> sparse_mlp_down (fc2^T rows) -> LN(next) ...
// Layers of a sparse step whose block has no selection (no predictor) run that block dense, except that
// attention always goes through sparse_qkv so the K/V catch-up state stays exact.
#pragma once

#include "engine/cuda/decode_buffers.h"
#include "engine/cuda/engine_context.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_state.h"

namespace dv::engine {

// sparse == nullptr records the dense step.
void record_decode_step(const EngineContext& ctx, const GpuWeights& weights, DecodeBuffers& buffers,
                        SparseState* sparse);

}  // namespace dv::engine
