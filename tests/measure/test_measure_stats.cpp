// test_measure_stats.cpp: measure's statistics on hand-built activations whose answers are known:
// active fractions, heads needed per norm share, cosines and block-delta norms.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "pipeline/measure/measure_stats.h"
#include "pipeline/store/activation_writer.h"
#include "pipeline/store/bit_pack.h"
#include "pipeline/store/fp16.h"

namespace {

constexpr int64_t kRows = 100, kD = 8, kFfn = 16, kH = 4, kLayers = 2;

std::vector<uint16_t> unit_rows(std::initializer_list<float> v) {
  std::vector<uint16_t> row(kD, dv::float_to_half(0.f));
  int i = 0;
  for (float x : v) row[i++] = dv::float_to_half(x);
  std::vector<uint16_t> out;
  for (int64_t r = 0; r < kRows; ++r) out.insert(out.end(), row.begin(), row.end());
  return out;
}

std::string build_store() {
  const std::string path =
      (std::filesystem::temp_directory_path() / ("dv-measure-" + std::to_string(::getpid()) + ".h5")).string();
  dv::StoreMeta meta;
  meta.shape = {kLayers, kD, kFfn, kH, kD / kH, false};
  meta.model_config = "{}";
  meta.corpus = "hand-built";
  meta.corpus_identity = "none";
  meta.sample_settings = "{}";
  dv::WriterOptions wo;
  wo.force = true;
  dv::ActivationWriter w(path, meta, wo);
  // Layer 0: attn = e0, mlp = e0 + e1 (cos 1/sqrt2, delta norm 1). Layer 1: attn = e1 (cos with layer 0's
  // attn = 0, delta from layer 0's mlp = norm of -e0 = 1), mlp = 3 e1 (cos 1, delta 2).
  const auto a0 = unit_rows({1, 0}), m0 = unit_rows({1, 1}), a1 = unit_rows({0, 1}), m1 = unit_rows({0, 3});
  // Row r has 2 * (r % 4 + 1) active neurons: mean fraction (2+4+6+8)/4/16 = 0.3125. Head norms 4,3,2,1.
  std::vector<uint8_t> mask(kRows * kFfn, 0), packed(kRows * 2);
  for (int64_t r = 0; r < kRows; ++r)
    for (int64_t j = 0; j < 2 * (r % 4 + 1); ++j) mask[r * kFfn + j] = 1;
  dv::pack_bits(mask.data(), kRows, kFfn, packed.data());
  std::vector<float> norms;
  for (int64_t r = 0; r < kRows; ++r) norms.insert(norms.end(), {4.f, 3.f, 2.f, 1.f});
  std::vector<int32_t> tok(kRows, 5), pos(kRows), win(kRows, 0);
  for (int64_t r = 0; r < kRows; ++r) pos[r] = static_cast<int32_t>(r);
  dv::RowBatch b;
  b.n = kRows;
  b.token_id = tok.data();
  b.position = pos.data();
  b.window = win.data();
  b.layers = {{a0.data(), m0.data(), packed.data(), norms.data(), nullptr},
              {a1.data(), m1.data(), packed.data(), norms.data(), nullptr}};
  w.append_batch(b);
  w.finish();
  return path;
}

TEST(MeasureStats, HandBuiltActivations) {
  const std::string path = build_store();
  dv::ActivationReader reader(path);
  dv::MeasureStatsOptions o;
  o.norm_shares = {0.5, 0.9, 1.0};
  o.show_progress = false;
  const auto st = dv::measure_store_stats(reader, o);
  ASSERT_EQ(st.size(), 2u);
  for (const auto& s : st) {
    EXPECT_NEAR(s.mlp_active_mean, 0.3125, 1e-9);
    EXPECT_NEAR(s.mlp_ever_active, 0.5, 1e-9);  // neurons 0..7 fire for some row
    EXPECT_NEAR(s.heads_for_share[0], 0.5, 1e-9);   // 4+3 >= 5
    EXPECT_NEAR(s.heads_for_share[1], 0.75, 1e-9);  // 4+3+2 >= 9
    EXPECT_NEAR(s.heads_for_share[2], 1.0, 1e-9);
  }
  EXPECT_NEAR(st[0].cos_attn_mlp, 1 / std::sqrt(2.0), 1e-3);
  EXPECT_NEAR(st[0].cos_next_layer, 0.0, 1e-6);
  EXPECT_NEAR(st[0].norm_x, 1.0, 1e-3);
  EXPECT_NEAR(st[0].norm_attn_delta, 1.0, 1e-3);
  EXPECT_NEAR(st[0].norm_mlp_delta, 1.0, 1e-3);
  EXPECT_NEAR(st[1].cos_attn_mlp, 1.0, 1e-3);
  EXPECT_NEAR(st[1].norm_attn_delta, 2.0, 1e-3);
  EXPECT_NEAR(st[1].norm_mlp_delta, 0.0, 1e-9);  // last layer: nothing follows
  std::filesystem::remove(path);
}

}  // namespace
