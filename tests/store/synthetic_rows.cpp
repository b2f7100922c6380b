// synthetic_rows.cpp: the deterministic activation generator behind the store tests.
#include "tests/store/synthetic_rows.h"

#include <cmath>

#include "pipeline/store/bit_pack.h"
#include "pipeline/store/fp16.h"

namespace dv::test {

namespace {

uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

uint64_t key(uint64_t seed, int64_t row, int64_t layer, int64_t field, int64_t col) {
  return mix(mix(mix(mix(seed ^ static_cast<uint64_t>(row)) ^ static_cast<uint64_t>(layer)) ^
                 static_cast<uint64_t>(field)) ^
             static_cast<uint64_t>(col));
}

double uniform(uint64_t h) { return (static_cast<double>(h >> 11) + 0.5) * (1.0 / 9007199254740992.0); }

// Approximately normal from one hash (Irwin-Hall of four 16-bit uniforms).
float normal(uint64_t h) {
  double s = 0.0;
  for (int i = 0; i < 4; ++i) s += static_cast<double>((h >> (16 * i)) & 0xFFFFu) / 65535.0;
  return static_cast<float>((s - 2.0) * std::sqrt(3.0));
}

}  // namespace

SyntheticRows::SyntheticRows(const StoreShape& shape, uint64_t seed, int64_t row0, int64_t n)
    : shape_(shape), row0_(row0), n_(n) {
  const auto un = static_cast<size_t>(n);
  token_id.resize(un);
  position.resize(un);
  window.resize(un);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t row = row0 + i;
    token_id[static_cast<size_t>(i)] = static_cast<int32_t>(key(seed, row, -1, 0, 0) % 50272);
    position[static_cast<size_t>(i)] = static_cast<int32_t>(row % 61);
    window[static_cast<size_t>(i)] = static_cast<int32_t>(row / 61);
  }
  const int64_t d = shape.hidden_size, ffn = shape.ffn_dim, heads = shape.num_heads;
  layers.resize(static_cast<size_t>(shape.n_layers));
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    Layer& L = layers[static_cast<size_t>(l)];
    L.attn_input.resize(un * static_cast<size_t>(d));
    L.mlp_input.resize(un * static_cast<size_t>(d));
    L.fc1_mask.resize(un * static_cast<size_t>(ffn));
    L.fc1_active.resize(un * static_cast<size_t>(shape.fc1_packed_bytes()));
    L.head_norm.resize(un * static_cast<size_t>(heads));
    if (shape.has_fc1_value) L.fc1_value.resize(un * static_cast<size_t>(ffn));
    for (int64_t i = 0; i < n; ++i) {
      const int64_t row = row0 + i;
      for (int64_t c = 0; c < d; ++c) {
        // A few outlier columns, as OPT's residual stream has.
        const float scale = c % 17 == 3 ? 20.0f : 1.0f;
        L.attn_input[static_cast<size_t>(i * d + c)] = float_to_half(scale * normal(key(seed, row, l, 1, c)));
        L.mlp_input[static_cast<size_t>(i * d + c)] = float_to_half(scale * normal(key(seed, row, l, 2, c)));
      }
      for (int64_t j = 0; j < ffn; ++j) {
        const uint64_t h = key(seed, row, l, 3, j);
        // Neuron-dependent activity rate between ~2% and ~20%.
        const double rate = 0.02 + 0.18 * uniform(mix(static_cast<uint64_t>(l * 7919 + j)));
        const bool active = uniform(h) < rate;
        L.fc1_mask[static_cast<size_t>(i * ffn + j)] = active ? 1 : 0;
        if (shape.has_fc1_value) {
          const float v = active ? 0.01f + std::fabs(normal(mix(h))) : 0.0f;
          L.fc1_value[static_cast<size_t>(i * ffn + j)] = float_to_half(v);
        }
      }
      for (int64_t hd = 0; hd < heads; ++hd) {
        L.head_norm[static_cast<size_t>(i * heads + hd)] =
            static_cast<float>(0.1 + 5.0 * uniform(key(seed, row, l, 4, hd)));
      }
    }
    pack_bits(L.fc1_mask.data(), n, ffn, L.fc1_active.data());
  }
}

RowBatch SyntheticRows::batch() const {
  RowBatch b;
  b.n = n_;
  b.token_id = token_id.data();
  b.position = position.data();
  b.window = window.data();
  for (const Layer& L : layers) {
    LayerRows r;
    r.attn_input = L.attn_input.data();
    r.mlp_input = L.mlp_input.data();
    r.fc1_active = L.fc1_active.data();
    r.head_norm = L.head_norm.data();
    r.fc1_value = shape_.has_fc1_value ? L.fc1_value.data() : nullptr;
    b.layers.push_back(r);
  }
  return b;
}

StoreShape odd_shape(bool fc1_values) {
  StoreShape s;
  s.n_layers = 3;
  s.hidden_size = 36;
  s.num_heads = 3;
  s.head_dim = 12;
  s.ffn_dim = 37;
  s.has_fc1_value = fc1_values;
  return s;
}

StoreMeta test_meta(const StoreShape& shape, const std::string& sample_settings) {
  StoreMeta m;
  m.shape = shape;
  m.model_config = R"({"model_type":"opt","hidden_size":)" + std::to_string(shape.hidden_size) + "}";
  m.model_dir = "data/models/test-opt";
  m.corpus = "data/test-corpus.txt";
  m.corpus_identity = "sha256:0123456789abcdef";
  m.sample_settings = sample_settings;
  m.created_by = "dejavu store tests";
  return m;
}

void write_rows(ActivationWriter& w, const StoreShape& shape, uint64_t seed, int64_t from, int64_t to,
                const std::vector<int64_t>& batch_sizes, int commit_every) {
  int64_t row = from;
  size_t k = 0;
  while (row < to) {
    const int64_t n = std::min(batch_sizes[k % batch_sizes.size()], to - row);
    SyntheticRows rows(shape, seed, row, n);
    w.append_batch(rows.batch());
    row += n;
    ++k;
    if (commit_every > 0 && k % static_cast<size_t>(commit_every) == 0) w.commit();
  }
}

}  // namespace dv::test
