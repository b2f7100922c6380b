// tp_weights.cpp: assembling a rank's OptWeights from a source of full tensors (in memory or mapped from a
// checkpoint), each narrowed to the plan's slice before the one copy to the target device and dtype.
#include "engine/tp/tp_weights.h"

#include <functional>

#include "kernels/common/error.h"

namespace dv {
namespace {

// name -> the full tensor as a view (not yet copied); `narrow_to` then copies the slice only.
using FullTensor = std::function<at::Tensor(const std::string& name)>;

at::Tensor narrow_to(const at::Tensor& full, const TensorSlice& s, at::ScalarType dtype, at::Device device) {
  DV_CHECK(full.sizes().vec() == s.shape, "tensor-parallel slice of '{}': tensor has shape {}, plan expects {}",
           s.name, shape_str(full.sizes().vec()), shape_str(s.shape));
  return full.narrow(s.dim, s.start, s.length).to(device, dtype, /*non_blocking=*/false, /*copy=*/true).contiguous();
}

OptWeights assemble(const OptConfig& c, const TpPlan& plan, const FullTensor& full, const at::Tensor& lm_head,
                    at::ScalarType dtype, at::Device device) {
  auto get = [&](const std::string& name) { return narrow_to(full(name), plan.at(name), dtype, device); };
  auto zeros = [&](int64_t n) { return at::zeros({n}, at::TensorOptions().dtype(dtype).device(device)); };
  OptWeights w;
  w.config = c;
  w.embed_tokens = get("embed_tokens.weight");
  w.embed_positions = get("embed_positions.weight");
  if (c.has_projection()) {
    w.project_in = get("project_in.weight");
    w.project_out = get("project_out.weight");
  }
  if (c.has_final_layer_norm() && c.layer_norm_elementwise_affine) {
    w.final_ln_w = get("final_layer_norm.weight");
    w.final_ln_b = get("final_layer_norm.bias");
  }
  w.lm_head = lm_head.defined() ? lm_head.to(device, dtype, false, true) : w.embed_tokens;
  const int64_t d = c.hidden_size, dl = plan.local_heads * c.head_dim();
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    // Without biases in the checkpoint: zeros of the slice's length (the row-parallel ones on rank 0 only).
    auto bias = [&](const std::string& name, int64_t local) { return c.enable_bias ? get(p + name) : zeros(local); };
    const int64_t row_bias = plan.rank == 0 ? d : 0;
    OptLayerWeights L;
    L.q_w = get(p + "self_attn.q_proj.weight");
    L.k_w = get(p + "self_attn.k_proj.weight");
    L.v_w = get(p + "self_attn.v_proj.weight");
    L.out_w = get(p + "self_attn.out_proj.weight");
    L.q_b = bias("self_attn.q_proj.bias", dl);
    L.k_b = bias("self_attn.k_proj.bias", dl);
    L.v_b = bias("self_attn.v_proj.bias", dl);
    L.out_b = bias("self_attn.out_proj.bias", row_bias);
    L.fc1_w = get(p + "fc1.weight");
    L.fc1_b = bias("fc1.bias", plan.local_ffn);
    L.fc2_w = get(p + "fc2.weight");
    L.fc2_b = bias("fc2.bias", row_bias);
    if (c.layer_norm_elementwise_affine) {
      L.attn_ln_w = get(p + "self_attn_layer_norm.weight");
      L.attn_ln_b = get(p + "self_attn_layer_norm.bias");
      L.mlp_ln_w = get(p + "final_layer_norm.weight");
      L.mlp_ln_b = get(p + "final_layer_norm.bias");
    }
    w.layers.push_back(std::move(L));
  }
  return w;
}

// A view of the mapped bytes: from_blob copies nothing, so only the narrowed slice's pages are ever read.
at::Tensor mapped(const TensorView& v) {
  const at::ScalarType t = v.info->dtype == DType::kF16    ? at::kHalf
                           : v.info->dtype == DType::kBF16 ? at::kBFloat16
                                                           : at::kFloat;  // Checkpoint admits F32/F16/BF16 only
  return at::from_blob(const_cast<uint8_t*>(v.data), v.info->shape, at::TensorOptions().dtype(t));
}

}  // namespace

at::Tensor opt_weight_by_name(const OptWeights& w, const std::string& name) {
  if (name == "embed_tokens.weight") return w.embed_tokens;
  if (name == "embed_positions.weight") return w.embed_positions;
  if (name == "project_in.weight") return w.project_in;
  if (name == "project_out.weight") return w.project_out;
  if (name == "final_layer_norm.weight") return w.final_ln_w;
  if (name == "final_layer_norm.bias") return w.final_ln_b;
  const size_t dot = name.find('.', 7);  // "layers.<l>.<rest>"
  DV_CHECK(name.rfind("layers.", 0) == 0 && dot != std::string::npos, "no OPT weight named '{}'", name);
  const OptLayerWeights& L = w.layers.at(std::stoul(name.substr(7, dot - 7)));
  const std::map<std::string, at::Tensor> by_name = {
      {"self_attn.q_proj.weight", L.q_w}, {"self_attn.q_proj.bias", L.q_b},
      {"self_attn.k_proj.weight", L.k_w}, {"self_attn.k_proj.bias", L.k_b},
      {"self_attn.v_proj.weight", L.v_w}, {"self_attn.v_proj.bias", L.v_b},
      {"self_attn.out_proj.weight", L.out_w}, {"self_attn.out_proj.bias", L.out_b},
      {"fc1.weight", L.fc1_w}, {"fc1.bias", L.fc1_b}, {"fc2.weight", L.fc2_w}, {"fc2.bias", L.fc2_b},
      {"self_attn_layer_norm.weight", L.attn_ln_w}, {"self_attn_layer_norm.bias", L.attn_ln_b},
      {"final_layer_norm.weight", L.mlp_ln_w}, {"final_layer_norm.bias", L.mlp_ln_b}};
  const auto it = by_name.find(name.substr(dot + 1));
  DV_CHECK(it != by_name.end(), "no OPT weight named '{}'", name);
  return it->second;
}

OptWeights slice_weights(const OptWeights& full, const TpPlan& plan) {
  const bool tied = full.lm_head.is_same(full.embed_tokens);
  return assemble(full.config, plan, [&](const std::string& n) { return opt_weight_by_name(full, n); },
                  tied ? at::Tensor() : full.lm_head, full.embed_tokens.scalar_type(), full.embed_tokens.device());
}

OptWeights load_rank_weights(const Checkpoint& ckpt, int rank, int world, at::ScalarType dtype, at::Device device) {
  const OptConfig& c = ckpt.config();
  const TpPlan plan = tp_partition(c, rank, world);
  auto full = [&](const std::string& name) { return mapped(ckpt.get(name, plan.at(name).shape)); };
  const bool untied = ckpt.has("lm_head.weight") && !c.tie_word_embeddings;
  return assemble(c, plan, full, untied ? mapped(ckpt.lm_head()) : at::Tensor(), dtype, device);
}

}  // namespace dv

namespace dv {

void load_whole_row_biases(const Checkpoint& ckpt, OptWeights& w, at::ScalarType dtype, at::Device device) {
  const OptConfig& c = ckpt.config();
  const int64_t d = c.hidden_size;
  auto whole = [&](const std::string& name) {
    return c.enable_bias ? mapped(ckpt.get(name, {d})).to(device, dtype, false, true)
                         : at::zeros({d}, at::TensorOptions().dtype(dtype).device(device));
  };
  for (size_t l = 0; l < w.layers.size(); ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    w.layers[l].out_b = whole(p + "self_attn.out_proj.bias");
    w.layers[l].fc2_b = whole(p + "fc2.bias");
  }
}

}  // namespace dv
