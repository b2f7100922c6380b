// layer_ops.h: the arguments of the decode step's layer ops, filled in one place for both decode paths: the
// graph path (decode_step.cpp) launches them, the persistent path (persistent/persistent_plan.cpp) schedules
// the same structs as work units of one kernel. Each function fills what is the layer's (weights, shapes, the
// K/V catch-up state); the caller names the buffers its path uses (the graph path reuses one buffer of each
// activation, the persistent path keeps them per layer).
#pragma once

#include <cuda_fp16.h>

#include "engine/cuda/decode_buffers.h"
#include "engine/cuda/engine_kernels.cuh"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_state.h"
#include "kernels/decode_attention/decode_attention.cuh"
#include "kernels/fused_mlp/fused_mlp.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv::engine {

// A selection on the device: idx [cap] and its count (every head / neuron: b.all_heads, b.num_heads, H).
struct DeviceList {
  const int* idx = nullptr;
  const int* count = nullptr;
  int cap = 0;
};

// The heads of layer l's attention in a step: the selection, or every head (dense step or dense block).
DeviceList layer_heads(const DecodeBuffers& b, const SparseState* sp, int l);

// sparse_qkv of layer l over `heads` on x, writing q. fuse_ln: x is the residual stream attn_in(l) and the op
// applies the layer's attention layer norm. With sp (a sparse step) the K/V catch-up state: the x_hist ring,
// kv_valid, the forced list, the counters and the layer's K/V plan; without, K/V at pos only (dense: always
// current).
SparseQkvArgs layer_qkv_args(const GpuWeights& w, const DecodeBuffers& b, const SparseState* sp, int l,
                             const __half* x, const DeviceList& heads, bool fuse_ln, __half* q);

// kv_append of layer l after the dense cuBLAS QKV GEMM into b.qkv: the bias, q and the K/V rows at pos.
KvAppendArgs layer_kv_append_args(const GpuWeights& w, const DecodeBuffers& b, int l);

// decode_attention of layer l over `heads` (q as the QKV op wrote it), compact into out [B, attn].
DecodeAttentionArgs layer_attention_args(const GpuWeights& w, const DecodeBuffers& b, int l, const __half* q,
                                         const DeviceList& heads, __half* out, float* partials, int* tickets,
                                         int max_splits);

// W_o of layer l over the compact attention output of `heads` (head_dim W_o^T rows an index). resid given:
// out = resid + out_b + the product (the residual stream mlp_in); nullptr: the bare product.
kernels::SparseMlpDownArgs layer_out_proj_args(const GpuWeights& w, const DecodeBuffers& b, int l,
                                               const __half* attn, const DeviceList& heads, __half* out,
                                               const __half* resid, void* workspace);

// fused_mlp of layer l on x over `neurons` (nullptr idx: every neuron). fuse_ln: x is the residual stream and
// the op applies the MLP layer norm. resid given: out = resid + fc2_b + the product; nullptr: the bare product.
kernels::FusedMlpArgs layer_mlp_args(const GpuWeights& w, const DecodeBuffers& b, int l, const __half* x,
                                     const DeviceList& neurons, bool fuse_ln, __half* out, const __half* resid,
                                     void* workspace, int num_sms);

}  // namespace dv::engine
