// opt_weights.h: an OPT model's weights as LibTorch tensors on one device in one dtype, loaded from a
// checkpoint (memory-mapped shards, converted once) or drawn at random for any built-in shape.
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "engine/io/checkpoint.h"
#include "engine/io/opt_config.h"

namespace dv {

struct OptLayerWeights {
  at::Tensor q_w, q_b, k_w, k_b, v_w, v_b, out_w, out_b;  // [d, d], [d] (HF nn.Linear layout: [out, in])
  at::Tensor attn_ln_w, attn_ln_b;                        // self_attn_layer_norm [d]
  at::Tensor fc1_w, fc1_b;                                // [ffn, d], [ffn]
  at::Tensor fc2_w, fc2_b;                                // [d, ffn], [d]
  at::Tensor mlp_ln_w, mlp_ln_b;                          // final_layer_norm of the layer [d]
};

struct OptWeights {
  OptConfig config;
  at::Tensor embed_tokens;    // [vocab, word_embed_proj_dim]
  at::Tensor embed_positions; // [max_pos + 2, d]
  at::Tensor project_in;      // [d, e] or undefined
  at::Tensor project_out;     // [e, d] or undefined
  at::Tensor final_ln_w, final_ln_b;  // [d] or undefined (post-LN models)
  at::Tensor lm_head;         // [vocab, e]; shares storage with embed_tokens when tied
  std::vector<OptLayerWeights> layers;
};

// Parses "float32" / "fp32" / "float16" / "fp16" / "half" / "bfloat16" / "bf16".
at::ScalarType parse_scalar_type(const std::string& name);
// Parses "cpu" / "cuda" / "cuda:N" / "auto" (cuda when available).
at::Device parse_device(const std::string& name);

OptWeights load_opt_weights(const Checkpoint& ckpt, at::ScalarType dtype, at::Device device);
// Random weights with OPT-like scale (normal, std 0.02; LN weight 1, bias 0) for latency work and tests.
OptWeights random_opt_weights(const OptConfig& config, at::ScalarType dtype, at::Device device, uint64_t seed);

}  // namespace dv
