// gpu_weights.h: an OPT model's weights on the GPU in fp16, in the layouts the decode step streams:
//   w_qkv [H, 3, hd, d]  q/k/v rows of a head contiguous (launch_sparse_qkv; the dense path runs the same
//                        buffer as one [3d, d] GEMM), b_qkv [H, 3, hd];
//   wo_t  [d, d]         out_proj.weight transposed: head h's input features are rows h*hd .. h*hd+hd-1;
//   fc1_w [ffn, d]       as Hugging Face stores it (a selected neuron is one contiguous row);
//   fc2_t [ffn, d]       fc2.weight transposed (a selected neuron's output weights are one row).
// The transposed fc2 and W_o replace the originals (the dense path runs cuBLAS on them too), so the engine
// holds exactly one copy of every weight. Built from OptWeights (checkpoints, tests) or drawn at random on the
// device for any built-in shape; optionally only the first N layers (opt-66b does not fit 80 GB in fp16).
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "engine/io/opt_config.h"
#include "engine/models/opt_weights.h"

namespace dv::engine {

struct GpuLayerWeights {
  at::Tensor w_qkv, b_qkv;                            // [H, 3, hd, d], [H, 3, hd]
  at::Tensor wo_t, out_b;                             // [d, d], [d]
  at::Tensor attn_ln_w, attn_ln_b, mlp_ln_w, mlp_ln_b;  // [d] (ones / zeros without elementwise affine)
  at::Tensor fc1_w, fc1_b;                            // [ffn, d], [ffn]
  at::Tensor fc2_t, fc2_b;                            // [ffn, d], [d]
};

struct GpuWeights {
  OptConfig config;            // num_hidden_layers = layers built here
  int64_t model_layers = 0;    // layers of the full model (more than built when truncated)
  at::Tensor embed_tokens;     // [vocab, e]
  at::Tensor embed_positions;  // [max_pos + 2, d]
  at::Tensor project_in;       // [d, e] or undefined
  at::Tensor project_out;      // [e, d] or undefined
  at::Tensor final_ln_w, final_ln_b;  // [d], defined when the model has a final layer norm
  at::Tensor lm_head;          // [vocab, e]; the same tensor as embed_tokens when tied
  std::vector<GpuLayerWeights> layers;
  // Heads and fc1 neurons held here: the model's, or a tensor-parallel rank's slice (engine/tp), whose
  // w_qkv is [H/N, 3, hd, d], wo_t [H/N * hd, d], fc1_w and fc2_t [ffn/N, d]. 0 = the config's.
  int64_t local_heads = 0, local_ffn = 0;

  int num_layers() const { return static_cast<int>(layers.size()); }
  int heads() const { return static_cast<int>(local_heads > 0 ? local_heads : config.num_attention_heads); }
  int ffn() const { return static_cast<int>(local_ffn > 0 ? local_ffn : config.ffn_dim); }
  bool sharded() const { return heads() < config.num_attention_heads || ffn() < config.ffn_dim; }
  bool truncated() const { return num_layers() < model_layers; }
};

// fp16 copies on the current CUDA device, repacked; num_layers < 0 keeps every layer. The head and neuron
// counts come from the tensors (q_w rows / head_dim, fc1_w rows), so a rank's slice uploads as it is.
GpuWeights upload_weights(const OptWeights& weights, int num_layers = -1);
// Random weights (normal, std 0.02; LN weight 1, bias normal) generated on the device from `seed`. world > 1:
// one tensor-parallel rank's shapes (H/world heads, ffn/world neurons, whole biases); with one seed every rank
// draws the same replicated tensors.
GpuWeights random_gpu_weights(const OptConfig& config, int num_layers, uint64_t seed, int world = 1);

// Device bytes of one decoder layer (a rank's slice when world > 1) and of everything outside the layers.
size_t gpu_layer_bytes(const OptConfig& config, int world = 1);
size_t gpu_shared_bytes(const OptConfig& config);

}  // namespace dv::engine
