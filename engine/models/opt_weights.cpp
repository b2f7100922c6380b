// opt_weights.cpp: checkpoint tensors -> at::Tensor (one copy, converted to the requested dtype).
#include "engine/models/opt_weights.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>

#include "kernels/common/error.h"

namespace dv {
namespace {

at::ScalarType to_scalar_type(DType t) {
  switch (t) {
    case DType::kF32: return at::kFloat;
    case DType::kF16: return at::kHalf;
    case DType::kBF16: return at::kBFloat16;
    default: DV_FAIL("unsupported weight dtype {}", dtype_name(t));
  }
}

at::Tensor to_tensor(const TensorView& v, at::ScalarType dtype, at::Device device) {
  // from_blob does not copy; .to(..., copy=true) makes the one owned copy on the target device.
  auto src = at::from_blob(const_cast<uint8_t*>(v.data), v.info->shape,
                           at::TensorOptions().dtype(to_scalar_type(v.info->dtype)));
  return src.to(device, dtype, /*non_blocking=*/false, /*copy=*/true);
}

}  // namespace

at::ScalarType parse_scalar_type(const std::string& name) {
  if (name == "float32" || name == "fp32" || name == "float") return at::kFloat;
  if (name == "float16" || name == "fp16" || name == "half") return at::kHalf;
  if (name == "bfloat16" || name == "bf16") return at::kBFloat16;
  DV_FAIL("unknown dtype '{}' (use float32, float16 or bfloat16)", name);
}

at::Device parse_device(const std::string& name) {
  if (name == "auto") return torch::cuda::is_available() ? at::Device(at::kCUDA, 0) : at::Device(at::kCPU);
  if (name == "cpu") return at::Device(at::kCPU);
  if (name.rfind("cuda", 0) == 0) {
    DV_CHECK(torch::cuda::is_available(), "--device {}: no CUDA GPU is available on this machine", name);
    return at::Device(name);
  }
  DV_FAIL("unknown device '{}' (use cpu, cuda, cuda:N or auto)", name);
}

OptWeights load_opt_weights(const Checkpoint& ckpt, at::ScalarType dtype, at::Device device) {
  const OptConfig& c = ckpt.config();
  const int64_t d = c.hidden_size, f = c.ffn_dim, e = c.word_embed_proj_dim;
  auto get = [&](const std::string& name, std::vector<int64_t> shape) {
    return to_tensor(ckpt.get(name, shape), dtype, device);
  };
  OptWeights w;
  w.config = c;
  w.embed_tokens = get("embed_tokens.weight", {c.vocab_size, e});
  w.embed_positions = get("embed_positions.weight", {c.max_position_embeddings + kPositionOffset, d});
  if (c.has_projection()) {
    w.project_in = get("project_in.weight", {d, e});
    w.project_out = get("project_out.weight", {e, d});
  }
  if (c.has_final_layer_norm() && c.layer_norm_elementwise_affine) {
    w.final_ln_w = get("final_layer_norm.weight", {d});
    w.final_ln_b = get("final_layer_norm.bias", {d});
  }
  const bool untied = ckpt.has("lm_head.weight") && (!c.tie_word_embeddings);
  w.lm_head = untied ? to_tensor(ckpt.lm_head(), dtype, device) : w.embed_tokens;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    OptLayerWeights L;
    auto bias = [&](const std::string& name, int64_t n) {
      return c.enable_bias ? get(p + name, {n}) : at::zeros({n}, at::TensorOptions().dtype(dtype).device(device));
    };
    L.q_w = get(p + "self_attn.q_proj.weight", {d, d});
    L.k_w = get(p + "self_attn.k_proj.weight", {d, d});
    L.v_w = get(p + "self_attn.v_proj.weight", {d, d});
    L.out_w = get(p + "self_attn.out_proj.weight", {d, d});
    L.q_b = bias("self_attn.q_proj.bias", d);
    L.k_b = bias("self_attn.k_proj.bias", d);
    L.v_b = bias("self_attn.v_proj.bias", d);
    L.out_b = bias("self_attn.out_proj.bias", d);
    L.fc1_w = get(p + "fc1.weight", {f, d});
    L.fc1_b = bias("fc1.bias", f);
    L.fc2_w = get(p + "fc2.weight", {d, f});
    L.fc2_b = bias("fc2.bias", d);
    if (c.layer_norm_elementwise_affine) {
      L.attn_ln_w = get(p + "self_attn_layer_norm.weight", {d});
      L.attn_ln_b = get(p + "self_attn_layer_norm.bias", {d});
      L.mlp_ln_w = get(p + "final_layer_norm.weight", {d});
      L.mlp_ln_b = get(p + "final_layer_norm.bias", {d});
    }
    w.layers.push_back(std::move(L));
  }
  return w;
}

OptWeights random_opt_weights(const OptConfig& c, at::ScalarType dtype, at::Device device, uint64_t seed) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  const auto opts = at::TensorOptions().dtype(at::kFloat);
  auto normal = [&](std::vector<int64_t> shape) {
    return at::normal(0.0, 0.02, shape, gen, opts).to(device, dtype);
  };
  auto ones = [&](int64_t n) { return at::ones({n}, at::TensorOptions().dtype(dtype).device(device)); };
  const int64_t d = c.hidden_size, f = c.ffn_dim, e = c.word_embed_proj_dim;
  OptWeights w;
  w.config = c;
  w.embed_tokens = normal({c.vocab_size, e});
  w.embed_positions = normal({c.max_position_embeddings + kPositionOffset, d});
  if (c.has_projection()) {
    w.project_in = normal({d, e});
    w.project_out = normal({e, d});
  }
  if (c.has_final_layer_norm()) {
    w.final_ln_w = ones(d);
    w.final_ln_b = normal({d});
  }
  w.lm_head = w.embed_tokens;
  for (int64_t l = 0; l < c.num_hidden_layers; ++l) {
    OptLayerWeights L;
    L.q_w = normal({d, d}); L.k_w = normal({d, d}); L.v_w = normal({d, d}); L.out_w = normal({d, d});
    L.q_b = normal({d}); L.k_b = normal({d}); L.v_b = normal({d}); L.out_b = normal({d});
    L.fc1_w = normal({f, d}); L.fc1_b = normal({f});
    L.fc2_w = normal({d, f}); L.fc2_b = normal({d});
    L.attn_ln_w = ones(d); L.attn_ln_b = normal({d});
    L.mlp_ln_w = ones(d); L.mlp_ln_b = normal({d});
    w.layers.push_back(std::move(L));
  }
  return w;
}

}  // namespace dv
