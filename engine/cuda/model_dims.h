// model_dims.h: the OPT shape in the ints the kernels' Args and the cuBLAS calls take, read once from the
// weights. The decode step and the prefill both launch from it, so the two cannot set up a dimension differently.
#pragma once

#include "engine/cuda/gpu_weights.h"

namespace dv::engine {

struct ModelDims {
  int d = 0;              // hidden_size
  int heads = 0;          // num_attention_heads
  int head_dim = 0;       // d / heads
  int ffn = 0;            // ffn_dim
  int embed = 0;          // word_embed_proj_dim: the width of the embeddings and the LM head (d unless projected)
  int layers = 0;         // the layers the weights hold
  int vocab = 0;          // vocab_size
  int max_positions = 0;  // max_position_embeddings
};

inline ModelDims model_dims(const GpuWeights& w) {
  const OptConfig& c = w.config;
  ModelDims m;
  m.d = static_cast<int>(c.hidden_size);
  m.heads = static_cast<int>(c.num_attention_heads);
  m.head_dim = static_cast<int>(c.head_dim());
  m.ffn = static_cast<int>(c.ffn_dim);
  m.embed = static_cast<int>(c.word_embed_proj_dim);
  m.layers = w.num_layers();
  m.vocab = static_cast<int>(c.vocab_size);
  m.max_positions = static_cast<int>(c.max_position_embeddings);
  return m;
}

}  // namespace dv::engine
