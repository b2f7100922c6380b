// opt_model.cpp: the OPT decoder, pre-LN (most sizes) and post-LN (opt-350m), as in Hugging Face's
// modeling_opt.py, written functionally over OptWeights.
#include "engine/models/opt_model.h"

#include <cmath>

#include "kernels/common/error.h"

namespace dv {

OptModel::OptModel(OptWeights weights) : w_(std::move(weights)) {}

at::Tensor OptModel::layer_norm(const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) const {
  return at::layer_norm(x, {w_.config.hidden_size}, w, b, 1e-5);
}

at::Tensor OptModel::forward(const at::Tensor& ids_in, KvCache* cache, const ForwardHooks* hooks) const {
  const OptConfig& c = w_.config;
  DV_CHECK(ids_in.dim() == 2, "forward: ids must be [batch, tokens]");
  const at::Tensor ids = ids_in.to(device(), at::kLong);
  const int64_t B = ids.size(0), T = ids.size(1), H = c.num_attention_heads, hd = c.head_dim();
  const int64_t d = c.hidden_size;
  const int64_t past = cache != nullptr ? cache->length : 0;
  DV_CHECK(past + T <= c.max_position_embeddings, "sequence of {} tokens exceeds max_position_embeddings {}",
           past + T, c.max_position_embeddings);
  if (cache != nullptr && cache->k.empty()) {
    cache->k.resize(c.num_hidden_layers);
    cache->v.resize(c.num_hidden_layers);
  }

  at::Tensor x = at::embedding(w_.embed_tokens, ids);
  if (w_.project_in.defined()) x = at::matmul(x, w_.project_in.t());
  const at::Tensor pos = at::arange(past + kPositionOffset, past + T + kPositionOffset, ids.options());
  x = x + at::embedding(w_.embed_positions, pos).unsqueeze(0);

  // Causal mask for a query block that follows `past` cached positions (bool: true = attend).
  at::Tensor attn_mask;
  const bool plain_causal = past == 0 && T > 1;
  if (past > 0 && T > 1) {
    auto qpos = at::arange(past, past + T, ids.options()).unsqueeze(1);
    auto kpos = at::arange(0, past + T, ids.options()).unsqueeze(0);
    attn_mask = kpos <= qpos;
  }

  at::Tensor prev_attn_in, prev_mlp_in;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const OptLayerWeights& L = w_.layers[l];
    // --- attention block ---
    const at::Tensor attn_in = x;
    at::Tensor h = c.do_layer_norm_before ? layer_norm(x, L.attn_ln_w, L.attn_ln_b) : x;
    auto heads = [&](const at::Tensor& t) { return t.view({B, T, H, hd}).transpose(1, 2); };
    at::Tensor q = heads(at::linear(h, L.q_w, L.q_b));
    at::Tensor k = heads(at::linear(h, L.k_w, L.k_b));
    at::Tensor v = heads(at::linear(h, L.v_w, L.v_b));
    if (cache != nullptr) {
      if (past > 0) {
        k = at::cat({cache->k[l], k}, 2);
        v = at::cat({cache->v[l], v}, 2);
      }
      cache->k[l] = k;
      cache->v[l] = v;
    }
    at::Tensor attn = at::scaled_dot_product_attention(
        q, k, v, attn_mask.defined() ? std::optional<at::Tensor>(attn_mask) : std::nullopt, 0.0, plain_causal);
    attn = attn.transpose(1, 2);  // [B, T, H, hd]
    if (hooks != nullptr && hooks->head_mask) {
      MaskQuery mq{static_cast<int>(l), attn_in, {}, prev_attn_in, prev_mlp_in,
                   at::linalg_vector_norm(attn.to(at::kFloat), 2, {-1})};
      at::Tensor m = hooks->head_mask(mq);
      if (m.defined()) attn = attn * m.to(attn.scalar_type()).unsqueeze(-1);
    }
    at::Tensor o = at::linear(attn.reshape({B, T, d}), L.out_w, L.out_b);
    x = attn_in + o;
    if (!c.do_layer_norm_before) x = layer_norm(x, L.attn_ln_w, L.attn_ln_b);

    // --- MLP block ---
    const at::Tensor mlp_in = x;
    h = c.do_layer_norm_before ? layer_norm(x, L.mlp_ln_w, L.mlp_ln_b) : x;
    at::Tensor a = at::relu(at::linear(h, L.fc1_w, L.fc1_b));
    if (hooks != nullptr && hooks->mlp_mask) {
      at::Tensor m = hooks->mlp_mask(MaskQuery{static_cast<int>(l), attn_in, mlp_in, prev_attn_in, prev_mlp_in, a});
      if (m.defined()) a = a * m.to(a.scalar_type());
    }
    x = mlp_in + at::linear(a, L.fc2_w, L.fc2_b);
    if (!c.do_layer_norm_before) x = layer_norm(x, L.mlp_ln_w, L.mlp_ln_b);

    if (hooks != nullptr && hooks->on_layer) hooks->on_layer(LayerActivations{static_cast<int>(l), attn_in, mlp_in, a, attn});
    prev_attn_in = attn_in;
    prev_mlp_in = mlp_in;
  }
  if (cache != nullptr) cache->length = past + T;

  if (w_.final_ln_w.defined()) x = layer_norm(x, w_.final_ln_w, w_.final_ln_b);
  else if (c.has_final_layer_norm()) x = at::layer_norm(x, {d}, {}, {}, 1e-5);
  if (w_.project_out.defined()) x = at::matmul(x, w_.project_out.t());
  return at::matmul(x, w_.lm_head.t()).to(at::kFloat);
}

}  // namespace dv
