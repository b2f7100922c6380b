// tiny_opt.h: the small random OPT the stage tests run on (3 layers, d=64, 4 heads, ffn 200, vocab 97).
#pragma once

#include <cstdint>

#include "engine/models/opt_model.h"

namespace dv::test {

// The same weights on any device (drawn on the CPU, then moved).
inline OptModel tiny_random_opt(bool pre_ln, int64_t max_positions, uint64_t seed, at::Device device = at::kCPU) {
  OptConfig c;
  c.vocab_size = 97;
  c.hidden_size = 64;
  c.ffn_dim = 200;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.word_embed_proj_dim = pre_ln ? 64 : 48;
  c.max_position_embeddings = max_positions;
  c.do_layer_norm_before = pre_ln;
  return OptModel(random_opt_weights(c, at::kFloat, device, seed));
}

}  // namespace dv::test
