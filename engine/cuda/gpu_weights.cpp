// gpu_weights.cpp: upload + repack of OptWeights, and device-side random weights.
#include "engine/cuda/gpu_weights.h"

#include <c10/util/Exception.h>
#include <fmt/format.h>

#include "engine/cuda/device_alloc.h"

#include <cuda_runtime.h>

#include "engine/cuda/engine_kernels.cuh"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/common/cuda_check.h"

namespace dv::engine {
namespace {

at::Tensor to_gpu(const at::Tensor& t) { return t.to(at::Device(at::kCUDA), at::kHalf).contiguous(); }

int resolve_layers(const OptConfig& c, int num_layers) {
  const int all = static_cast<int>(c.num_hidden_layers);
  DV_CHECK(num_layers != 0 && num_layers <= all, "CUDA engine: cannot build {} of the {} layers of {}", num_layers,
           all, c.name);
  return num_layers < 0 ? all : num_layers;
}

void check_engine_shape(const OptConfig& c) {
  const int64_t d = c.hidden_size, hd = c.head_dim();
  DV_CHECK(hd == 16 || hd == 32 || hd == 64 || hd == 80 || hd == 128,
           "CUDA engine: {} has head_dim {} (the kernels support 16, 32, 64, 80, 128)", c.name, hd);
  DV_CHECK(d % 32 == 0 && c.word_embed_proj_dim % 8 == 0 && c.ffn_dim % 8 == 0,
           "CUDA engine: {} needs hidden_size % 32 == 0, word_embed_proj_dim % 8 == 0 and ffn_dim % 8 == 0 (got {}, "
           "{}, {})",
           c.name, d, c.word_embed_proj_dim, c.ffn_dim);
  DV_CHECK(c.activation_function == "relu", "CUDA engine: {} uses '{}', only relu is supported", c.name,
           c.activation_function);
}

at::Tensor ones(int64_t n) { return at::ones({n}, cuda_options(at::kHalf)); }
at::Tensor zeros(int64_t n) { return at::zeros({n}, cuda_options(at::kHalf)); }

GpuWeights upload(const OptWeights& w, int num_layers) {
  const OptConfig& c = w.config;
  check_engine_shape(c);
  const int L = resolve_layers(c, num_layers);
  const int64_t d = c.hidden_size, hd = c.head_dim();
  const int64_t H = w.layers.empty() ? c.num_attention_heads : w.layers[0].q_w.size(0) / hd;  // a rank: H / N
  GpuWeights g;
  g.config = c;
  g.config.num_hidden_layers = L;
  g.model_layers = c.num_hidden_layers;
  g.local_heads = H;
  g.local_ffn = w.layers.empty() ? c.ffn_dim : w.layers[0].fc1_w.size(0);
  g.embed_tokens = to_gpu(w.embed_tokens);
  g.embed_positions = to_gpu(w.embed_positions);
  if (w.project_in.defined()) g.project_in = to_gpu(w.project_in);
  if (w.project_out.defined()) g.project_out = to_gpu(w.project_out);
  if (c.has_final_layer_norm()) {
    g.final_ln_w = w.final_ln_w.defined() ? to_gpu(w.final_ln_w) : ones(d);
    g.final_ln_b = w.final_ln_b.defined() ? to_gpu(w.final_ln_b) : zeros(d);
  }
  const bool tied = w.lm_head.is_same(w.embed_tokens) ||
                    (w.lm_head.data_ptr() == w.embed_tokens.data_ptr() && w.lm_head.sizes() == w.embed_tokens.sizes());
  g.lm_head = tied ? g.embed_tokens : to_gpu(w.lm_head);
  for (int l = 0; l < L; ++l) {
    const OptLayerWeights& s = w.layers[l];
    GpuLayerWeights t;
    auto per_head = [&](const at::Tensor& m) { return to_gpu(m).view({H, hd, d}); };
    t.w_qkv = at::stack({per_head(s.q_w), per_head(s.k_w), per_head(s.v_w)}, 1).contiguous();
    t.b_qkv = at::stack({to_gpu(s.q_b).view({H, hd}), to_gpu(s.k_b).view({H, hd}), to_gpu(s.v_b).view({H, hd})}, 1)
                  .contiguous();
    t.wo_t = to_gpu(s.out_w).t().contiguous();
    t.out_b = to_gpu(s.out_b);
    t.attn_ln_w = s.attn_ln_w.defined() ? to_gpu(s.attn_ln_w) : ones(d);
    t.attn_ln_b = s.attn_ln_b.defined() ? to_gpu(s.attn_ln_b) : zeros(d);
    t.mlp_ln_w = s.mlp_ln_w.defined() ? to_gpu(s.mlp_ln_w) : ones(d);
    t.mlp_ln_b = s.mlp_ln_b.defined() ? to_gpu(s.mlp_ln_b) : zeros(d);
    t.fc1_w = to_gpu(s.fc1_w);
    t.fc1_b = to_gpu(s.fc1_b);
    t.fc2_t = to_gpu(s.fc2_w).t().contiguous();
    t.fc2_b = to_gpu(s.fc2_b);
    g.layers.push_back(std::move(t));
  }
  DV_CUDA_CHECK(cudaDeviceSynchronize());
  return g;
}

}  // namespace

GpuWeights upload_weights(const OptWeights& w, int num_layers) {
  try {
    return upload(w, num_layers);
  } catch (const c10::OutOfMemoryError&) {
    const int L = resolve_layers(w.config, num_layers);
    fail_out_of_memory("fp16 weights of " + w.config.name, fmt::format("({} layers)", L), 1,
                       static_cast<double>(gpu_layer_bytes(w.config)) * L + gpu_shared_bytes(w.config));
  }
}

GpuWeights random_gpu_weights(const OptConfig& c, int num_layers, uint64_t seed, int world) {
  check_engine_shape(c);
  const int L = resolve_layers(c, num_layers);
  DV_CHECK(world >= 1 && c.num_attention_heads % world == 0 && c.ffn_dim % world == 0,
           "CUDA engine: {} ({} heads, ffn {}) does not split over {} tensor-parallel ranks", c.name,
           c.num_attention_heads, c.ffn_dim, world);
  const int64_t d = c.hidden_size, H = c.num_attention_heads / world, hd = c.head_dim(), f = c.ffn_dim / world,
                e = c.word_embed_proj_dim;
  uint64_t counter = 0;
  // Each tensor draws from its own stream of the hash, so values do not depend on allocation order.
  auto normal = [&](std::vector<int64_t> shape) {
    at::Tensor t = at::empty(shape, cuda_options(at::kHalf));
    launch_fill_normal(half_ptr(t), static_cast<size_t>(t.numel()), seed * 0x100000001B3ull + (++counter) * 0x9E37ull,
                       0.f, 0.02f, nullptr);
    return t;
  };
  GpuWeights g;
  g.config = c;
  g.config.num_hidden_layers = L;
  g.model_layers = c.num_hidden_layers;
  g.local_heads = H;
  g.local_ffn = f;
  g.embed_tokens = normal({c.vocab_size, e});
  g.embed_positions = normal({c.max_position_embeddings + kPositionOffset, d});
  if (c.has_projection()) {
    g.project_in = normal({d, e});
    g.project_out = normal({e, d});
  }
  if (c.has_final_layer_norm()) {
    g.final_ln_w = ones(d);
    g.final_ln_b = normal({d});
  }
  g.lm_head = g.embed_tokens;
  for (int l = 0; l < L; ++l) {
    GpuLayerWeights t;
    t.w_qkv = normal({H, 3, hd, d});
    t.b_qkv = normal({H, 3, hd});
    t.wo_t = normal({H * hd, d});
    t.out_b = normal({d});
    t.attn_ln_w = ones(d);
    t.attn_ln_b = normal({d});
    t.mlp_ln_w = ones(d);
    t.mlp_ln_b = normal({d});
    t.fc1_w = normal({f, d});
    t.fc1_b = normal({f});
    t.fc2_t = normal({f, d});
    t.fc2_b = normal({d});
    g.layers.push_back(std::move(t));
  }
  DV_CUDA_CHECK(cudaDeviceSynchronize());
  return g;
}

size_t gpu_layer_bytes(const OptConfig& c, int world) {
  const size_t d = c.hidden_size, f = c.ffn_dim / world, a = d / world;  // a: the rank's attention width
  return 2 * (4 * a * d + 3 * a + d + 4 * d + 2 * f * d + f + d);
}

size_t gpu_shared_bytes(const OptConfig& c) {
  const size_t d = c.hidden_size, e = c.word_embed_proj_dim, v = c.vocab_size,
               p = c.max_position_embeddings + kPositionOffset;
  return 2 * (v * e + p * d + (c.has_projection() ? 2 * d * e : 0) + 2 * d);
}

}  // namespace dv::engine
