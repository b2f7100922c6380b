// tiny_model.h: the small random OPT and token streams the scoring, tasks and tp tests use (CPU, fp32, seconds).
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "engine/models/opt_model.h"

namespace dv::test {

// 3 layers, d 64, 4 heads, ffn 200, vocab 97; post-LN models get a 48-wide projection. The same weights on
// any device (drawn on the CPU, then moved).
inline OptModel tiny_model(bool pre_ln, uint64_t seed = 7, int64_t max_positions = 64, at::Device device = at::kCPU) {
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

inline std::vector<int32_t> random_ids(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> ids(n);
  for (auto& t : ids) t = static_cast<int32_t>(rng() % vocab);
  return ids;
}

}  // namespace dv::test
