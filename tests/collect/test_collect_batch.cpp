// test_collect_batch.cpp: collect's device-side gathering (collect_batch.h) against plain per-row references:
// the fc1 bits packed by tensor ops equal bit_pack.h's pack_active on fresh random inputs of odd widths (NaN,
// zeros and negatives included), and a gathered batch holds, row by row, what the hooked forward produced:
// the sampled rows' fp16 block inputs, bits, head norms, values and NaN flags. The CollectBatchGpu tests run
// the same on CUDA (pinned copies, the ready event) against the CPU, and skip without a GPU.
#include <gtest/gtest.h>

#include <torch/cuda.h>

#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "engine/models/opt_weights.h"
#include "pipeline/collect/collect_batch.h"
#include "pipeline/store/bit_pack.h"

namespace {

at::Tensor random_activations(int64_t n, int64_t ffn, uint64_t seed) {
  at::Tensor t = at::empty({n, ffn}, at::kFloat);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal;
  float* p = t.data_ptr<float>();
  for (int64_t i = 0; i < n * ffn; ++i) {
    const uint64_t r = rng() % 16;
    p[i] = r == 0 ? 0.0f : r == 1 ? std::numeric_limits<float>::quiet_NaN() : normal(rng);
  }
  return t;
}

std::vector<uint8_t> reference_bits(const at::Tensor& act) {
  const at::Tensor a = act.to(at::kFloat).contiguous();
  std::vector<uint8_t> out(static_cast<size_t>(a.size(0) * ((a.size(1) + 7) / 8)));
  dv::pack_active(a.data_ptr<float>(), a.size(0), a.size(1), out.data());
  return out;
}

std::vector<uint8_t> bytes_of(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kCPU).contiguous();
  const auto* p = static_cast<const uint8_t*>(c.data_ptr());
  return {p, p + c.nbytes()};
}

dv::OptModel tiny_model(at::Device device) {
  dv::OptConfig c;
  c.vocab_size = 97;
  c.hidden_size = 64;
  c.ffn_dim = 203;  // not a multiple of 8: the last packed byte is partial
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.word_embed_proj_dim = 64;
  c.max_position_embeddings = 64;
  return dv::OptModel(dv::random_opt_weights(c, at::kFloat, device, 11));
}

dv::StoreShape shape_of(const dv::OptConfig& c, bool values) {
  return {c.num_hidden_layers, c.hidden_size, c.ffn_dim, c.num_attention_heads, c.head_dim(), values};
}

std::vector<std::vector<int32_t>> random_windows(int64_t b, int64_t len, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::vector<int32_t>> w(static_cast<size_t>(b), std::vector<int32_t>(static_cast<size_t>(len)));
  for (auto& x : w)
    for (auto& id : x) id = static_cast<int32_t>(rng() % 97);
  return w;
}

// What the batch must hold, straight from the hooks: per layer [B*L, *] tensors on the CPU.
struct Dense {
  std::vector<at::Tensor> attn, mlp, act, head;
};
Dense dense_forward(const dv::OptModel& m, const std::vector<std::vector<int32_t>>& windows) {
  std::vector<int32_t> flat;
  for (const auto& w : windows) flat.insert(flat.end(), w.begin(), w.end());
  const auto B = static_cast<int64_t>(windows.size()), L = static_cast<int64_t>(windows[0].size());
  const at::Tensor ids = at::from_blob(flat.data(), {B, L}, at::kInt).to(at::kLong);
  Dense d;
  dv::ForwardHooks h;
  h.on_layer = [&](const dv::LayerActivations& a) {
    d.attn.push_back(a.attn_input.reshape({B * L, -1}).cpu());
    d.mlp.push_back(a.mlp_input.reshape({B * L, -1}).cpu());
    d.act.push_back(a.fc1_act.reshape({B * L, -1}).cpu());
    d.head.push_back(a.head_out.reshape({B * L, m.config().num_attention_heads, -1}).cpu());
  };
  m.forward(ids, nullptr, &h);
  return d;
}

void expect_batch_matches(const dv::OptModel& m, const dv::HostBatch& hb, const Dense& d, const std::vector<int64_t>& flat_rows) {
  const dv::StoreShape s = hb.shape;
  hb.wait_ready();
  ASSERT_EQ(hb.n, static_cast<int64_t>(flat_rows.size()));
  const at::Tensor index = at::tensor(flat_rows, at::kLong);
  const dv::RowBatch rb = hb.row_batch();
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const dv::LayerRows& r = rb.layers[static_cast<size_t>(l)];
    const at::Tensor attn = d.attn[l].index_select(0, index).to(at::kHalf).contiguous();
    EXPECT_EQ(0, std::memcmp(r.attn_input, attn.data_ptr(), attn.nbytes())) << "layer " << l << " attn_input";
    const at::Tensor mlp = d.mlp[l].index_select(0, index).to(at::kHalf).contiguous();
    EXPECT_EQ(0, std::memcmp(r.mlp_input, mlp.data_ptr(), mlp.nbytes())) << "layer " << l << " mlp_input";
    const at::Tensor act = d.act[l].index_select(0, index);
    const std::vector<uint8_t> bits = reference_bits(act);
    EXPECT_EQ(0, std::memcmp(r.fc1_active, bits.data(), bits.size())) << "layer " << l << " fc1_active";
    const at::Tensor norm = at::linalg_vector_norm(d.head[l].index_select(0, index), 2, {-1}).contiguous();
    const at::Tensor got = at::from_blob(const_cast<float*>(r.head_norm), {hb.n, s.num_heads}, at::kFloat);
    EXPECT_TRUE(at::allclose(got, norm, 1e-5, 1e-6)) << "layer " << l << " head_norm";
    if (s.has_fc1_value) {
      const at::Tensor v = act.to(at::kHalf).contiguous();
      EXPECT_EQ(0, std::memcmp(r.fc1_value, v.data_ptr(), v.nbytes())) << "layer " << l << " fc1_value";
    }
  }
  EXPECT_FALSE(hb.nonfinite.any().item<bool>()) << "a random model's activations are finite";
  (void)m;
}

}  // namespace

TEST(PackActiveBits, EqualsPackActiveOnOddWidths) {
  for (int64_t n : {1, 7, 33}) {
    for (int64_t ffn : {1, 8, 13, 111, 256}) {
      const at::Tensor act = random_activations(n, ffn, static_cast<uint64_t>(n * 1000 + ffn));
      EXPECT_EQ(bytes_of(dv::pack_active_bits(act)), reference_bits(act)) << n << " x " << ffn;
      EXPECT_EQ(bytes_of(dv::pack_active_bits(act.to(at::kHalf))), reference_bits(act.to(at::kHalf))) << n << " x " << ffn;
    }
  }
}

TEST(CollectBatch, HoldsTheSampledRowsOfTheForward) {
  const dv::OptModel m = tiny_model(at::kCPU);
  const auto windows = random_windows(3, 17, 5);
  const Dense d = dense_forward(m, windows);
  // every 4th position: 5 rows a window (0, 4, 8, 12, 16); keep rows [3, 12) of the batch's 15.
  const dv::HostBatch hb = dv::run_collect_batch(m, windows, 40, 4, 3, 9, shape_of(m.config(), true));
  std::vector<int64_t> flat;
  for (int64_t r = 3; r < 12; ++r) flat.push_back(r / 5 * 17 + r % 5 * 4);
  expect_batch_matches(m, hb, d, flat);
  EXPECT_EQ(hb.window.front(), 40);
  EXPECT_EQ(hb.window.back(), 42);
  EXPECT_EQ(hb.position.front(), 12);
  EXPECT_EQ(hb.token_id[0], windows[0][12]);
}

TEST(CollectBatch, DropRowsKeepsTheOthersInOrder) {
  const dv::OptModel m = tiny_model(at::kCPU);
  const auto windows = random_windows(2, 9, 8);
  const Dense d = dense_forward(m, windows);
  dv::StoreShape s = shape_of(m.config(), false);
  s.field_mask = dv::layer_field_bit(dv::LayerField::kAttnInput) | dv::layer_field_bit(dv::LayerField::kHeadNorm) |
                 dv::layer_field_bit(dv::LayerField::kFc1Active) | dv::layer_field_bit(dv::LayerField::kMlpInput);
  dv::HostBatch hb = dv::run_collect_batch(m, windows, 0, 1, 0, 18, s);
  hb.wait_ready();
  std::vector<uint8_t> keep(18, 1);
  keep[0] = keep[5] = keep[17] = 0;
  hb.drop_rows(keep);
  std::vector<int64_t> flat;
  for (int64_t r = 0; r < 18; ++r)
    if (keep[static_cast<size_t>(r)]) flat.push_back(r);
  expect_batch_matches(m, hb, d, flat);
}

TEST(CollectBatchGpu, PackActiveBitsOnCudaEqualsTheCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU";
  for (int64_t ffn : {13, 111, 8192}) {
    const at::Tensor act = random_activations(37, ffn, static_cast<uint64_t>(ffn));
    EXPECT_EQ(bytes_of(dv::pack_active_bits(act.cuda())), reference_bits(act)) << ffn;
    EXPECT_EQ(bytes_of(dv::pack_active_bits(act.to(at::kHalf).cuda())), reference_bits(act.to(at::kHalf))) << ffn;
  }
}

TEST(CollectBatchGpu, PinnedAsyncBatchEqualsTheCudaForward) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA GPU";
  const dv::OptModel m = tiny_model(at::Device(at::kCUDA, 0));
  const auto windows = random_windows(4, 33, 3);
  const Dense d = dense_forward(m, windows);
  // Two batches queued before either is waited for: the second's forward must not disturb the first's copies.
  const dv::HostBatch first = dv::run_collect_batch(m, windows, 0, 3, 0, 44, shape_of(m.config(), true));
  const dv::HostBatch second = dv::run_collect_batch(m, windows, 0, 1, 5, 100, shape_of(m.config(), true));
  EXPECT_TRUE(first.buffer.is_pinned());
  std::vector<int64_t> a, b;
  for (int64_t r = 0; r < 44; ++r) a.push_back(r / 11 * 33 + r % 11 * 3);
  for (int64_t r = 5; r < 105; ++r) b.push_back(r);
  expect_batch_matches(m, first, d, a);
  expect_batch_matches(m, second, d, b);
}
