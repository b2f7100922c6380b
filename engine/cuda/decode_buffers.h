// decode_buffers.h: every activation buffer of the decode step, allocated once for a batch size and a KV
// length so that a captured CUDA graph can be replayed for every step. The residual stream keeps one
// snapshot per block (attention input and MLP input of each layer) rather than one buffer updated in place:
// the predictors on the side stream read those snapshots while the main stream moves on, and distinct
// buffers rule out write-after-read races without extra events (L * 2 * B * d halves, negligible).
#pragma once

#include <cuda_fp16.h>

#include <ATen/ATen.h>

#include <memory>

#include "engine/cuda/stream_events.h"
#include "engine/io/opt_config.h"

namespace dv::engine {

// decode_attention's split partials and tickets for a given head capacity.
struct AttentionScratch {
  AttentionScratch() = default;
  AttentionScratch(int batch, int max_heads, int max_len, int head_dim, int num_sms);
  at::Tensor partials;  // fp32
  at::Tensor tickets;   // int32 [B * max_heads], zero (each launch leaves it zero)
  int max_heads = 0;
  int max_len = 0;
  int batch = 0;
  int num_sms = 0;
  // Splits for a launch over `heads` heads (<= max_heads); the partials are sized for the largest.
  int splits(int heads) const;
};

// The L2 warm-up's branch (DEJAVU_L2_WARMUP=branch, decode_step.cpp): a low-priority stream forked from the main
// stream before each warmed op (four a layer at most) and joined at the end of the step.
struct WarmBranch {
  explicit WarmBranch(int layers) : forks(static_cast<size_t>(4 * layers + 1)), join(1) {}
  LowPriorityStream stream;
  EventList forks, join;
};

class DecodeBuffers {
 public:
  // config.num_hidden_layers = the layers built. heads / ffn: the ones this process runs (a tensor-parallel
  // rank's slice; 0 = the config's): qkv, q, attn, the K/V cache and fc1_out are sized for them.
  DecodeBuffers(const OptConfig& config, int batch, int max_len, int num_sms, int heads = 0, int ffn = 0);

  int batch = 0, max_len = 0, layers = 0;
  at::Tensor tokens, positions, pos;  // int32 [B], [B], [1]: the step's inputs, in device memory
  at::Tensor emb;                     // [B, e] word embedding before project_in (projection models only)
  at::Tensor resid;                   // [2L + 1, B, d]: attn_in(l) = 2l, mlp_in(l) = 2l + 1, output = 2L
  at::Tensor ln;                      // [B, d] the current block's layer-normed input (pre-LN)
  at::Tensor qkv;                     // [B, H, 3, hd] dense QKV GEMM output
  at::Tensor q;                       // [B, H, hd]
  at::Tensor attn;                    // [B, H, hd] attention output
  at::Tensor block_out;               // [B, d] output of a block's last projection (before bias/residual)
  at::Tensor fc1_out;                 // [B, ffn] dense fc1 activations
  at::Tensor mlp_workspace;           // fused_mlp's sums and counters (+ ordered partials, split_sum.h); its
                                      // zeroed part is left zero by every launch
  at::Tensor out_proj_workspace;      // W_o's (sparse_mlp_down, fused flow), for every head and either split-sum
                                      // scheme (split_sum.h); its zeroed part is left zero by every launch
  at::Tensor final_x;                 // [B, d] final layer norm output
  at::Tensor head_in;                 // [B, e] project_out output (projection models only)
  at::Tensor logits;                  // fp32 [B, vocab]
  at::Tensor k_cache, v_cache;        // [L, B, H, max_len, hd]
  at::Tensor all_heads, num_heads;    // int32 [H] = 0..H-1 and [1] = H: the dense attention's "selection"
  AttentionScratch attention;         // for all H heads
  std::unique_ptr<WarmBranch> warm_branch;

  __half* attn_in(int l) const;       // l in [0, L]; attn_in(L) is the last layer's output
  __half* mlp_in(int l) const;
  __half* k(int l) const;
  __half* v(int l) const;
  size_t kv_layer_elems = 0;          // B * H * max_len * hd
};

}  // namespace dv::engine
