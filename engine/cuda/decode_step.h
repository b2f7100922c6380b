// decode_step.h: enqueues one OPT decode step (every batch row advances one position) on the context's
// main stream, and for sparse steps the predictor tasks on its side stream. The same function is run
// eagerly or under CUDA graph capture; everything that changes between steps (tokens, position, index lists)
// is read from device memory, and the step's last node advances the position.
//
// Per layer (pre-LN; post-LN moves the layer norms after the residual adds):
//   dense:  LN -> QKV GEMM -> kv_append -> decode_attention (all heads) -> W_o^T GEMM
//           -> LN(out + bias + residual) -> fc1 GEMM -> bias+ReLU -> fc2^T GEMM -> LN(next) ...
//   sparse: LN -> sparse_qkv (selected heads, K/V catch-up; K/V of all heads when the layer's plan says so)
//           [-> kv_catchup of the forced heads on the low-priority catch-up stream, joined at the step's end]
//           -> decode_attention (selected, written compact) -> sparse_mlp_down (W_o^T rows of the selected heads)
//           -> LN(out + bias + residual) -> sparse_mlp_up (fc1 rows + bias + ReLU)
//           -> sparse_mlp_down (fc2^T rows) -> LN(next) ...
// At batch <= 8 (DEJAVU_FUSED_MLP=0/1 forces either way) the MLP block of both is one fused_mlp op over all
// neurons or the selection: ... -> residual add (mlp_in = out + bias + residual) -> fused_mlp (LN, fc1, ReLU,
// fc2, bias, residual: writes the next attn_in) -> LN(next) ... (when B*d is too large for the op to stage
// its input, the LN(out + bias + residual) kernel stays and fused_mlp reads its output).
// Layers of a sparse step whose block has no selection (no predictor) run that block dense, except that
// attention always goes through sparse_qkv so the K/V catch-up state stays exact.
// Tensor parallelism (engine/tp): a rank's weights hold H/N heads and ffn/N neurons; `all_reduce`, when set,
// sums block_out ([B, d] fp16, the rank's partial W_o or fc2 product) over the ranks right after each block's
// last projection, two calls a layer, on the main stream (so a captured graph holds the NCCL calls too).
#pragma once

#include <cstddef>
#include <functional>

#include <cuda_fp16.h>

#include "engine/cuda/decode_buffers.h"
#include "engine/cuda/engine_context.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_state.h"

namespace dv::engine {

using BlockAllReduce = std::function<void(__half* data, size_t count, cudaStream_t stream)>;

// sparse == nullptr records the dense step; an empty all_reduce: one GPU.
void record_decode_step(const EngineContext& ctx, const GpuWeights& weights, DecodeBuffers& buffers,
                        SparseState* sparse, const BlockAllReduce& all_reduce = {});

}  // namespace dv::engine
