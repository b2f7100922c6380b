// decode_step.h: enqueues one OPT decode step (every batch row advances one position) on the context's
// main stream, and for sparse steps the predictor tasks on its side stream. The same function is run
// eagerly or under CUDA graph capture; everything that changes between steps (tokens, position, index lists)
// is read from device memory, and the step's last node advances the position.
//
// Per layer, pre-LN on one GPU at batch <= 8 with DEJAVU_FUSED_MLP=1 (the residual-stream flow: a block's last
// op writes the residual stream, its first op normalizes it; four kernels a layer):
//   sparse_qkv (attention layer norm fused; selected heads, or all for the dense step; K/V catch-up; K/V of
//   all heads when the layer's plan says so) [-> kv_catchup of the forced heads on the low-priority catch-up
//   stream, joined at the step's end] -> decode_attention (selected, written compact) -> sparse_mlp_down over
//   the heads' W_o^T rows (+ out_b + residual: mlp_in) -> fused_mlp (MLP layer norm fused, fc1, ReLU, fc2, fc2_b,
//   residual: the next attn_in) ... -> final layer norm -> LM head.
//   (When B * d is too large for fused_mlp to stage its input, a layer_norm kernel normalizes mlp_in first;
//   DEJAVU_DENSE_QKV=cublas runs the dense step's QKV as layer_norm + cuBLAS GEMM + kv_append.)
// By default, and always for post-LN, tensor parallelism and batch > 8 (the block_out flow; post-LN moves the
// layer norms after the adds):
//   dense:  LN -> QKV GEMM -> kv_append -> decode_attention (all heads) -> W_o^T GEMM
//           -> LN(out + bias + residual) -> fc1 GEMM -> bias+ReLU -> fc2^T GEMM -> LN(next) ...
//   sparse: LN -> sparse_qkv -> decode_attention -> sparse_mlp_down (W_o^T rows of the selected heads)
//           -> LN(out + bias + residual) -> sparse_mlp_up (fc1 rows + bias + ReLU)
//           -> sparse_mlp_down (fc2^T rows) -> LN(next) ...
//   with DEJAVU_FUSED_MLP=1, the MLP block as one fused_mlp op writing block_out at batch <= 8 and the
//   residual-stream flow above (opt-in: slower than this flow on the first H100 run).
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
