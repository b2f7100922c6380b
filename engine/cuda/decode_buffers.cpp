// decode_buffers.cpp: allocation of the decode step's buffers.
#include "engine/cuda/decode_buffers.h"

#include <algorithm>

#include "engine/cuda/device_alloc.h"
#include "engine/cuda/split_sum.h"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/decode_attention/decode_attention.cuh"
#include "kernels/fused_mlp/fused_mlp.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"

namespace dv::engine {

AttentionScratch::AttentionScratch(int b, int heads, int len, int head_dim, int sms)
    : max_heads(heads), max_len(len), batch(b), num_sms(sms) {
  size_t floats = 1;
  for (int h = 1; h <= max_heads; ++h)
    floats = std::max(floats, decode_attention_partials_floats(batch, h, splits(h), head_dim));
  partials = at::empty({static_cast<int64_t>(floats)}, cuda_options(at::kFloat));
  tickets = at::zeros({static_cast<int64_t>(std::max(1, batch * max_heads))}, cuda_options(at::kInt));
}

int AttentionScratch::splits(int heads) const { return decode_attention_max_splits(batch, heads, max_len, num_sms); }

DecodeBuffers::DecodeBuffers(const OptConfig& c, int b, int len, int num_sms, int heads, int ffn)
    : batch(b), max_len(len), layers(static_cast<int>(c.num_hidden_layers)) {
  DV_CHECK(batch >= 1 && batch <= 32, "CUDA engine: batch {} outside 1..32 (the sparse kernels' limit)", batch);
  DV_CHECK(max_len >= 1 && max_len <= c.max_position_embeddings,
           "CUDA engine: max_len {} outside 1..{} (max_position_embeddings of {})", max_len,
           c.max_position_embeddings, c.name);
  const int64_t B = batch, d = c.hidden_size, H = heads > 0 ? heads : c.num_attention_heads, hd = c.head_dim(),
                e = c.word_embed_proj_dim, f = ffn > 0 ? ffn : c.ffn_dim;
  const auto half = cuda_options(at::kHalf);
  tokens = at::zeros({B}, cuda_options(at::kInt));
  positions = at::zeros({B}, cuda_options(at::kInt));
  pos = at::zeros({1}, cuda_options(at::kInt));
  if (c.has_projection()) {
    emb = at::empty({B, e}, half);
    head_in = at::empty({B, e}, half);
  }
  resid = at::zeros({2 * layers + 1, B, d}, half);
  ln = at::zeros({B, d}, half);
  qkv = at::zeros({B, H, 3, hd}, half);
  q = at::zeros({B, H, hd}, half);
  attn = at::zeros({B, H, hd}, half);
  block_out = at::zeros({B, d}, half);
  fc1_out = at::zeros({B, f}, half);
  // The ordered split sums need room for the plan's units at the largest selection (every neuron).
  const int mlp_units =
      fused_ordered_sums() ? kernels::plan_fused_mlp(batch, static_cast<int>(d), static_cast<int>(f), num_sms).units : 0;
  mlp_workspace = at::zeros({static_cast<int64_t>(kernels::fused_mlp_workspace_bytes(batch, static_cast<int>(d), mlp_units))},
                            cuda_options(at::kByte));
  // Its own, not fused_mlp's: the ordered scheme's partials would overlap fused_mlp's counters. A selection
  // needs at most what every head needs (the plan's splits grow with the rows).
  out_proj_workspace = at::zeros({static_cast<int64_t>(std::max<size_t>(
                                     16, kernels::sparse_mlp_down_workspace_bytes(
                                             batch, static_cast<int>(d), static_cast<int>(H), static_cast<int>(hd),
                                             0, down_ordered_sums())))},
                                 cuda_options(at::kByte));
  final_x = at::zeros({B, d}, half);
  logits = device_zeros({B, c.vocab_size}, at::kFloat, "logits", batch);
  kv_layer_elems = static_cast<size_t>(B * H * max_len * hd);
  k_cache = device_zeros({layers, B, H, max_len, hd}, at::kHalf, "KV cache (K)", batch);
  v_cache = device_zeros({layers, B, H, max_len, hd}, at::kHalf, "KV cache (V)", batch);
  all_heads = at::arange(H, cuda_options(at::kInt));
  num_heads = at::full({1}, H, cuda_options(at::kInt));
  attention = AttentionScratch(batch, static_cast<int>(H), max_len, static_cast<int>(hd), num_sms);
  warm_branch = std::make_unique<WarmBranch>(layers);
}

__half* DecodeBuffers::attn_in(int l) const { return half_ptr(resid) + static_cast<size_t>(2 * l) * resid.size(1) * resid.size(2); }
__half* DecodeBuffers::mlp_in(int l) const {
  return half_ptr(resid) + static_cast<size_t>(2 * l + 1) * resid.size(1) * resid.size(2);
}
__half* DecodeBuffers::k(int l) const { return half_ptr(k_cache) + static_cast<size_t>(l) * kv_layer_elems; }
__half* DecodeBuffers::v(int l) const { return half_ptr(v_cache) + static_cast<size_t>(l) * kv_layer_elems; }

}  // namespace dv::engine

