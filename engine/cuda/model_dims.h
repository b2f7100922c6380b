// model_dims.h: the OPT shape in the ints the kernels' Args and the cuBLAS calls take, read once from the
// weights. The decode step and the prefill both launch from it, so the two cannot set up a dimension differently.
#pragma once

#include "engine/cuda/gpu_weights.h"

namespace dv::engine {

struct ModelDims {
  int d = 0;              // hidden_size
  int heads = 0;          // the heads these weights hold: num_attention_heads, or a tensor-parallel rank's share
  int head_dim = 0;       // hidden_size / num_attention_heads
  int attn = 0;           // heads * head_dim: the width of q, k, v and of W_o's input (d unless sharded)
  int ffn = 0;            // the fc1 neurons these weights hold: ffn_dim, or a rank's share
  int embed = 0;          // word_embed_proj_dim: the width of the embeddings and the LM head (d unless projected)
  int layers = 0;         // the layers the weights hold
  int vocab = 0;          // vocab_size
  int max_positions = 0;  // max_position_embeddings
};

inline ModelDims model_dims(const GpuWeights& w) {
  const OptConfig& c = w.config;
  ModelDims m;
  m.d = static_cast<int>(c.hidden_size);
  m.heads = w.heads();
  m.head_dim = static_cast<int>(c.head_dim());
  m.attn = m.heads * m.head_dim;
  m.ffn = w.ffn();
  m.embed = static_cast<int>(c.word_embed_proj_dim);
  m.layers = w.num_layers();
  m.vocab = static_cast<int>(c.vocab_size);
  m.max_positions = static_cast<int>(c.max_position_embeddings);
  return m;
}

}  // namespace dv::engine
