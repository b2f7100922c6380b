// opt_model.h: the dense reference OPT forward in LibTorch (CPU and CUDA, fp32/fp16/bf16): prefill
// and incremental decode with a KV cache. Per-layer hooks expose what the pipeline records (block
// inputs, post-ReLU fc1 activations, per-head outputs) and let eval apply neuron/head masks: a masked
// neuron or head contributes nothing, exactly as the sparse GPU engine skips it.
#pragma once

#include <functional>
#include <vector>

#include <ATen/ATen.h>

#include "engine/models/opt_weights.h"

namespace dv {

// What one layer saw and produced for a [B, T] input; tensors live on the model's device.
struct LayerActivations {
  int layer = 0;
  at::Tensor attn_input;  // [B, T, d] residual stream entering the attention block (before its LN)
  at::Tensor mlp_input;   // [B, T, d] residual stream entering the MLP block (before its LN)
  at::Tensor fc1_act;     // [B, T, ffn] post-ReLU fc1 output (after any mask)
  at::Tensor head_out;    // [B, T, H, head_dim] each head's attention output before out_proj (after any mask)
};

// Inputs a sparsity policy may use to choose a layer's neurons or heads.
struct MaskQuery {
  int layer = 0;
  at::Tensor attn_input;       // [B, T, d] this layer's attention-block input
  at::Tensor mlp_input;        // [B, T, d] this layer's MLP-block input (undefined for head queries)
  at::Tensor prev_attn_input;  // [B, T, d] previous layer's (undefined at layer 0)
  at::Tensor prev_mlp_input;   // [B, T, d] previous layer's (undefined at layer 0)
  at::Tensor dense_scores;     // heads: [B, T, H] output norms; MLP: [B, T, ffn] post-ReLU values
};

struct ForwardHooks {
  std::function<void(const LayerActivations&)> on_layer;
  // Each returns a {0,1} mask ([B, T, H] or [B, T, ffn]) or an undefined tensor for dense.
  std::function<at::Tensor(const MaskQuery&)> head_mask;
  std::function<at::Tensor(const MaskQuery&)> mlp_mask;
};

// Per-layer keys and values [B, H, S, head_dim]; grows by concatenation (reference engine).
struct KvCache {
  std::vector<at::Tensor> k, v;
  int64_t length = 0;
};

class OptModel {
 public:
  explicit OptModel(OptWeights weights);

  const OptConfig& config() const { return w_.config; }
  const OptWeights& weights() const { return w_; }
  at::Device device() const { return w_.embed_tokens.device(); }
  at::ScalarType dtype() const { return w_.embed_tokens.scalar_type(); }

  // ids: [B, T] int64 on any device. Returns float32 logits [B, T, vocab]. With a cache, positions
  // continue from cache->length and the cache is extended.
  at::Tensor forward(const at::Tensor& ids, KvCache* cache = nullptr, const ForwardHooks* hooks = nullptr) const;

 private:
  at::Tensor layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const;
  OptWeights w_;
};

}  // namespace dv
