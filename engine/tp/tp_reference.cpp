// tp_reference.cpp: the sharded forward, layer by layer as in engine/models/opt_model.cpp; the replicated
// parts (embeddings, layer norms, LM head) are computed once from rank 0's copies, since every rank's agree.
#include "engine/tp/tp_reference.h"

#include "kernels/common/error.h"

namespace dv {
namespace {

// Sum of the ranks' partial [B, T, d] outputs: the all-reduce.
template <typename Partial>
at::Tensor all_reduce_sum(size_t world, Partial partial) {
  at::Tensor sum = partial(0);
  for (size_t r = 1; r < world; ++r) sum = sum + partial(r);
  return sum;
}

// Adds the rank's row-parallel bias when it holds it (rank 0: [d]; others: [0]).
at::Tensor plus_held_bias(const at::Tensor& x, const at::Tensor& b) { return b.numel() > 0 ? x + b : x; }

}  // namespace

at::Tensor tp_reference_forward(const std::vector<OptWeights>& ranks, const at::Tensor& ids_in) {
  DV_CHECK(!ranks.empty(), "tp_reference_forward: no ranks");
  DV_CHECK(ids_in.dim() == 2, "tp_reference_forward: ids must be [batch, tokens]");
  const OptWeights& w0 = ranks[0];
  const OptConfig& c = w0.config;
  const at::Tensor ids = ids_in.to(w0.embed_tokens.device(), at::kLong);
  const int64_t B = ids.size(0), T = ids.size(1), hd = c.head_dim(), d = c.hidden_size;
  DV_CHECK(T <= c.max_position_embeddings, "sequence of {} tokens exceeds max_position_embeddings {}", T,
           c.max_position_embeddings);
  auto ln = [&](const at::Tensor& x, const at::Tensor& w, const at::Tensor& b) {
    return at::layer_norm(x, {d}, w, b, 1e-5);
  };

  at::Tensor x = at::embedding(w0.embed_tokens, ids);
  if (w0.project_in.defined()) x = at::matmul(x, w0.project_in.t());
  const at::Tensor pos = at::arange(kPositionOffset, T + kPositionOffset, ids.options());
  x = x + at::embedding(w0.embed_positions, pos).unsqueeze(0);

  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const OptLayerWeights& L0 = w0.layers[l];
    // --- attention: rank r runs its H / N heads; out_proj's partial sums are all-reduced ---
    const at::Tensor attn_in = x;
    at::Tensor h = c.do_layer_norm_before ? ln(x, L0.attn_ln_w, L0.attn_ln_b) : x;
    x = attn_in + all_reduce_sum(ranks.size(), [&](size_t r) {
          const OptLayerWeights& L = ranks[r].layers[l];
          const int64_t local = L.q_w.size(0);  // d / N = local heads * head_dim
          auto heads = [&](const at::Tensor& t) { return t.view({B, T, local / hd, hd}).transpose(1, 2); };
          at::Tensor attn = at::scaled_dot_product_attention(heads(at::linear(h, L.q_w, L.q_b)),
                                                             heads(at::linear(h, L.k_w, L.k_b)),
                                                             heads(at::linear(h, L.v_w, L.v_b)), std::nullopt, 0.0,
                                                             /*is_causal=*/T > 1);
          return plus_held_bias(at::linear(attn.transpose(1, 2).reshape({B, T, local}), L.out_w), L.out_b);
        });
    if (!c.do_layer_norm_before) x = ln(x, L0.attn_ln_w, L0.attn_ln_b);

    // --- MLP: rank r runs its ffn / N neurons; fc2's partial sums are all-reduced ---
    const at::Tensor mlp_in = x;
    h = c.do_layer_norm_before ? ln(x, L0.mlp_ln_w, L0.mlp_ln_b) : x;
    x = mlp_in + all_reduce_sum(ranks.size(), [&](size_t r) {
          const OptLayerWeights& L = ranks[r].layers[l];
          return plus_held_bias(at::linear(at::relu(at::linear(h, L.fc1_w, L.fc1_b)), L.fc2_w), L.fc2_b);
        });
    if (!c.do_layer_norm_before) x = ln(x, L0.mlp_ln_w, L0.mlp_ln_b);
  }

  if (w0.final_ln_w.defined()) x = ln(x, w0.final_ln_w, w0.final_ln_b);
  else if (c.has_final_layer_norm()) x = at::layer_norm(x, {d}, {}, {}, 1e-5);
  if (w0.project_out.defined()) x = at::matmul(x, w0.project_out.t());
  return at::matmul(x, w0.lm_head.t()).to(at::kFloat);
}

}  // namespace dv
