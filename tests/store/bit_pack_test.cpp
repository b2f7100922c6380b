// bit_pack_test.cpp: fc1 mask packing (little bit order, zero padding) and the host fp16
// conversions the store's readers rely on.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "pipeline/store/bit_pack.h"
#include "pipeline/store/fp16.h"

namespace dv {
namespace {

TEST(BitPack, RoundTripOddWidthsAndZeroPadding) {
  std::mt19937_64 rng(std::random_device{}());
  for (int64_t ffn : {1, 7, 8, 9, 37, 64, 1001}) {
    for (int64_t n : {1, 3, 33}) {
      std::vector<uint8_t> mask(static_cast<size_t>(n * ffn));
      int64_t ones = 0;
      for (auto& m : mask) {
        m = static_cast<uint8_t>(rng() % 3 == 0 ? 1 + rng() % 5 : 0);  // any nonzero byte is active
        ones += m != 0;
      }
      const int64_t rb = (ffn + 7) / 8;
      std::vector<uint8_t> packed(static_cast<size_t>(n * rb), 0xAB);
      pack_bits(mask.data(), n, ffn, packed.data());
      for (int64_t r = 0; r < n; ++r) {
        // Bit j%8 of byte j/8, little order: check a few by hand.
        for (int64_t j = 0; j < ffn; ++j) {
          const bool bit = (packed[static_cast<size_t>(r * rb + j / 8)] >> (j % 8)) & 1;
          ASSERT_EQ(bit, mask[static_cast<size_t>(r * ffn + j)] != 0) << "ffn " << ffn << " row " << r << " bit " << j;
        }
        if (ffn % 8 != 0) {
          const uint8_t last = packed[static_cast<size_t>(r * rb + rb - 1)];
          EXPECT_EQ(last >> (ffn % 8), 0) << "padding bits must be zero (ffn " << ffn << ")";
        }
      }
      std::vector<uint8_t> back(mask.size());
      unpack_bits(packed.data(), n, ffn, back.data());
      for (size_t i = 0; i < mask.size(); ++i) ASSERT_EQ(back[i], mask[i] != 0 ? 1 : 0);
      std::vector<float> f(mask.size());
      unpack_bits_to_float(packed.data(), n, ffn, f.data());
      for (size_t i = 0; i < mask.size(); ++i) ASSERT_EQ(f[i], mask[i] != 0 ? 1.0f : 0.0f);
      EXPECT_EQ(count_active(packed.data(), n, ffn), ones);
    }
  }
}

TEST(BitPack, CountIgnoresPaddingBits) {
  std::vector<uint8_t> packed = {0xFF, 0xFF};  // 9 neurons: the 7 high bits of byte 1 are padding
  EXPECT_EQ(count_active(packed.data(), 1, 9), 9);
}

TEST(BitPack, ActiveMeansStrictlyPositive) {
  const float nan = std::nanf("");
  const std::vector<float> v = {0.0f, -0.0f, 1e-30f, -1.0f, 3.0f, nan, INFINITY, -INFINITY, 0.5f};
  std::vector<uint8_t> packed(2);
  pack_active(v.data(), 1, static_cast<int64_t>(v.size()), packed.data());
  std::vector<uint8_t> mask(v.size());
  unpack_bits(packed.data(), 1, static_cast<int64_t>(v.size()), mask.data());
  const std::vector<uint8_t> want = {0, 0, 1, 0, 1, 0, 1, 0, 1};
  EXPECT_EQ(mask, want);

  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = float_to_half(v[i]);
  h[2] = 0x0001;  // smallest positive subnormal (1e-30 would round to zero in fp16)
  pack_active_half(h.data(), 1, static_cast<int64_t>(h.size()), packed.data());
  unpack_bits(packed.data(), 1, static_cast<int64_t>(h.size()), mask.data());
  EXPECT_EQ(mask, want);
}

TEST(Fp16, EveryHalfSurvivesARoundTripThroughFloat) {
  for (uint32_t b = 0; b < 0x10000u; ++b) {
    const auto h = static_cast<uint16_t>(b);
    const float f = half_to_float(h);
    if (std::isnan(f)) {
      ASSERT_EQ(h & 0x7C00u, 0x7C00u);
      ASSERT_NE(h & 0x3FFu, 0u);
      ASSERT_TRUE(std::isnan(half_to_float(float_to_half(f))));
      continue;
    }
    ASSERT_EQ(float_to_half(f), h) << "bits 0x" << std::hex << b;
  }
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));
}

TEST(Fp16, FloatToHalfRoundsToNearestEven) {
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 200000; ++i) {
    uint32_t x = bits(rng);
    // Bias toward the half range so that most samples are interesting.
    x = (x & 0x807FFFFFu) | ((100u + (x >> 23) % 50u) << 23);
    float f;
    std::memcpy(&f, &x, sizeof f);
    const uint16_t h = float_to_half(f);
    // The nearest of the neighbouring halves, ties to the even one.
    const float got = half_to_float(h);
    if (std::isinf(got)) {
      ASSERT_GE(std::fabs(f), 65520.0f) << "only values past the half range overflow";
      continue;
    }
    const uint16_t up = static_cast<uint16_t>(h + 1), down = static_cast<uint16_t>(h - 1);
    for (uint16_t other : {up, down}) {
      const float o = half_to_float(other);
      if (std::isnan(o) || std::isinf(o) || ((other ^ h) & 0x8000u)) continue;
      const double dg = std::fabs(static_cast<double>(got) - f), dother = std::fabs(static_cast<double>(o) - f);
      ASSERT_TRUE(dg < dother || (dg == dother && (h & 1u) == 0))
          << "f=" << f << " chose 0x" << std::hex << h << " over 0x" << other;
    }
  }
  EXPECT_EQ(float_to_half(65520.0f), 0x7C00);  // rounds past the largest half
  EXPECT_EQ(float_to_half(65519.0f), 0x7BFF);
  EXPECT_EQ(float_to_half(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and the smallest subnormal
  EXPECT_EQ(float_to_half(std::ldexp(1.5f, -25)), 0x0001);
}

}  // namespace
}  // namespace dv
