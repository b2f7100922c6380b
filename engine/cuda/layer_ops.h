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
#include "kernels/common/l2_warmup.cuh"
#include "kernels/decode_attention/decode_attention.cuh"
#include "kernels/fused_mlp/fused_mlp.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_mlp_up/sparse_mlp_up.cuh"
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

// The sparse MLP of layer l on x over `neurons` (block_out or residual flow, without fused_mlp): the up projection
// into the sparse state's compact activations, then the down projection from them into out (resid given: out =
// resid + fc2_b + the product; nullptr: the bare product). The callers add the fused layer norm, the row partials
// and the plan target.
kernels::SparseMlpUpArgs layer_mlp_up_args(const GpuWeights& w, const DecodeBuffers& b, const SparseState& sp, int l,
                                           const __half* x, const DeviceList& neurons);
// The down projection from compact activations h [B, ld_h] with its own workspace (the persistent path's split MLP).
kernels::SparseMlpDownArgs layer_mlp_down_args(const GpuWeights& w, int batch, int l, const DeviceList& neurons,
                                               const __half* h, int ld_h, __half* out, const __half* resid,
                                               void* workspace);
kernels::SparseMlpDownArgs layer_mlp_down_args(const GpuWeights& w, const DecodeBuffers& b, const SparseState& sp,
                                               int l, const DeviceList& neurons, __half* out, const __half* resid);

// L2 warm-ups of layer l's weights at a selection (kernels/common/l2_warmup.cuh), up to `budget` bytes: W_o^T at
// `heads` (head_dim rows an index); fc1 or fc2^T at `neurons` (every neuron without idx); w_qkv at `heads` (a head's q, k
// and v rows, from the sparse state's tiled copy where it has one).
kernels::L2Warmup out_proj_warmup(const GpuWeights& w, int l, const DeviceList& heads, long long budget);
kernels::L2Warmup mlp_up_warmup(const GpuWeights& w, int l, const DeviceList& neurons, long long budget);
kernels::L2Warmup mlp_down_warmup(const GpuWeights& w, int l, const DeviceList& neurons, long long budget);
kernels::L2Warmup qkv_warmup(const GpuWeights& w, const SparseState* sp, int l, const DeviceList& heads,
                             long long budget);

}  // namespace dv::engine
