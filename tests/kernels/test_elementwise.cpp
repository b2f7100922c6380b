// test_elementwise.cpp: bias + ReLU, bias + residual (also aliased in place), the embedding lookup with and
// without OPT's learned positions, and the separate position add, each against its reference over odd
// shapes; out-of-range token ids and positions must give NaN rows, never a read outside the tables.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/elementwise/elementwise.cuh"
#include "kernels/elementwise/elementwise_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv {
namespace {

using test::DeviceBuffer;
using test::DType;

struct Shape {
  int rows;
  int n;
};
const std::vector<Shape> kShapes = {{1, 64}, {3, 192}, {8, 320}, {130, 768}, {1, 7168}, {5, 8}, {33, 28672 / 4}};

std::string describe(const Shape& s) { return "rows=" + std::to_string(s.rows) + " n=" + std::to_string(s.n); }

TEST(ElementwiseKernel, BiasRelu) {
  DV_SKIP_WITHOUT_GPU();
  for (size_t ci = 0; ci < kShapes.size(); ++ci) {
    const Shape s = kShapes[ci];
    SCOPED_TRACE(describe(s));
    std::mt19937_64 rng(test::case_seed("bias_relu", static_cast<int>(ci)));
    auto x = test::random_halves(static_cast<size_t>(s.rows) * s.n, rng);
    auto bias = test::random_halves(s.n, rng, -0.5f, 0.5f);
    DeviceBuffer<__half> dx(x.h), dbias(bias.h);
    launch_bias_relu({dx.data(), dbias.data(), s.rows, s.n}, nullptr);
    std::vector<__half> ref = x.h;
    bias_relu_ref({ref.data(), bias.h.data(), s.rows, s.n});
    ASSERT_TRUE(test::expect_close(dx.download(), test::to_float(ref), DType::kF16));
  }
}

TEST(ElementwiseKernel, BiasResidual) {
  DV_SKIP_WITHOUT_GPU();
  for (size_t ci = 0; ci < kShapes.size(); ++ci) {
    for (int mode = 0; mode < 3; ++mode) {  // 0: separate out, 1: out = x (in place), 2: out = residual
      const Shape s = kShapes[ci];
      const bool with_bias = (ci + mode) % 2 == 0;
      SCOPED_TRACE(describe(s) + " mode=" + std::to_string(mode) + " bias=" + std::to_string(with_bias));
      std::mt19937_64 rng(test::case_seed("bias_residual", static_cast<int>(ci * 3 + mode)));
      const size_t n = static_cast<size_t>(s.rows) * s.n;
      auto x = test::random_halves(n, rng);
      auto res = test::random_halves(n, rng);
      auto bias = test::random_halves(s.n, rng, -0.5f, 0.5f);
      DeviceBuffer<__half> dx(x.h), dres(res.h), dbias(bias.h), dout(n);
      dout.poison();
      __half* out = mode == 0 ? dout.data() : mode == 1 ? dx.data() : dres.data();
      launch_bias_residual({out, dx.data(), dres.data(), with_bias ? dbias.data() : nullptr, s.rows, s.n}, nullptr);
      std::vector<__half> ref(n);
      bias_residual_ref({ref.data(), x.h.data(), res.h.data(), with_bias ? bias.h.data() : nullptr, s.rows, s.n});
      const DeviceBuffer<__half>& got = mode == 0 ? dout : mode == 1 ? dx : dres;
      ASSERT_TRUE(test::expect_close(got.download(), test::to_float(ref), DType::kF16));
    }
  }
}

struct EmbedCase {
  int rows;
  int vocab;
  int d;
  int max_positions;
  bool positions;  // fuse the position add
  bool bad_ids;    // one out-of-range token id and (when fused) one out-of-range position
};
const std::vector<EmbedCase> kEmbedCases = {
    {1, 50, 64, 40, true, false},    {3, 7, 192, 5, true, false},       {8, 101, 320, 130, false, false},
    {130, 33, 768, 200, true, true}, {5, 1000, 512, 2048, false, true}, {2, 50272, 64, 2048, true, false},
};

bool row_is_nan(const std::vector<__half>& v, size_t row, int d) {
  for (int c = 0; c < d; ++c)
    if (!std::isnan(__half2float(v[row * d + c]))) return false;
  return true;
}

TEST(ElementwiseKernel, EmbeddingAndPositionAdd) {
  DV_SKIP_WITHOUT_GPU();
  for (size_t ci = 0; ci < kEmbedCases.size(); ++ci) {
    const EmbedCase c = kEmbedCases[ci];
    SCOPED_TRACE("rows=" + std::to_string(c.rows) + " vocab=" + std::to_string(c.vocab) + " d=" + std::to_string(c.d) +
                 " positions=" + std::to_string(c.positions) + " bad=" + std::to_string(c.bad_ids));
    std::mt19937_64 rng(test::case_seed("embedding", static_cast<int>(ci)));
    std::uniform_int_distribution<int> tok_dist(0, c.vocab - 1), pos_dist(0, c.max_positions - 1);
    std::vector<int> tokens(c.rows), positions(c.rows);
    for (int r = 0; r < c.rows; ++r) {
      tokens[r] = tok_dist(rng);
      positions[r] = pos_dist(rng);
    }
    positions[0] = c.max_positions - 1;  // the last row of the table (offset 2 included)
    if (c.bad_ids) {
      tokens[c.rows - 1] = c.vocab;
      if (c.rows > 2) positions[1] = -1;
    }
    auto embed = test::random_halves(static_cast<size_t>(c.vocab) * c.d, rng);
    auto pos_table = test::random_halves(static_cast<size_t>(c.max_positions + kOptPositionOffset) * c.d, rng);
    DeviceBuffer<int> dtok(tokens), dpos(positions);
    DeviceBuffer<__half> dembed(embed.h), dtable(pos_table.h), dout(static_cast<size_t>(c.rows) * c.d);
    dout.poison();

    const EmbeddingArgs args{
        dout.data(), dtok.data(), dpos.data(), dembed.data(),  c.positions ? dtable.data() : nullptr,
        c.rows,      c.vocab,     c.d,         c.max_positions};
    launch_embedding(args, nullptr);
    std::vector<__half> ref(static_cast<size_t>(c.rows) * c.d);
    EmbeddingArgs rargs{
        ref.data(), tokens.data(), positions.data(), embed.h.data(), c.positions ? pos_table.h.data() : nullptr, c.rows,
        c.vocab,    c.d,           c.max_positions};
    embedding_ref(rargs);
    std::vector<__half> got = dout.download();
    // Bad rows must be NaN on both sides; the good rows are then compared with the bad ones zeroed.
    std::vector<__half> ref_good = ref;
    for (int r = 0; r < c.rows; ++r) {
      const bool bad = tokens[r] < 0 || tokens[r] >= c.vocab || (c.positions && positions[r] < 0);
      ASSERT_EQ(row_is_nan(got, r, c.d), bad) << "row " << r;
      ASSERT_EQ(row_is_nan(ref, r, c.d), bad) << "ref row " << r;
      if (!bad) continue;
      const size_t row = static_cast<size_t>(r) * c.d;
      std::fill(got.begin() + row, got.begin() + row + c.d, __float2half(0.f));
      std::fill(ref_good.begin() + row, ref_good.begin() + row + c.d, __float2half(0.f));
    }
    ASSERT_TRUE(test::expect_close(got, test::to_float(ref_good), DType::kF16, "embedding"));

    if (c.positions || c.bad_ids) continue;
    // Separate position add on the word embeddings (the project_in path): equals the fused lookup.
    launch_position_add({dout.data(), dpos.data(), dtable.data(), c.rows, c.d, c.max_positions}, nullptr);
    position_add_ref({ref.data(), positions.data(), pos_table.h.data(), c.rows, c.d, c.max_positions});
    std::vector<__half> fused(ref.size());
    rargs.out = fused.data();
    rargs.pos_embed = pos_table.h.data();
    embedding_ref(rargs);
    ASSERT_TRUE(test::expect_close(dout.download(), test::to_float(ref), DType::kF16, "position_add"));
    ASSERT_TRUE(test::expect_close(ref, test::to_float(fused), DType::kF16, "position_add vs fused"));
  }
}

TEST(ElementwiseKernel, PositionAddOutOfRange) {
  DV_SKIP_WITHOUT_GPU();
  const int rows = 3, d = 64, max_positions = 4;
  std::mt19937_64 rng(test::case_seed("position_add_range", 0));
  auto x = test::random_halves(static_cast<size_t>(rows) * d, rng);
  auto table = test::random_halves(static_cast<size_t>(max_positions + kOptPositionOffset) * d, rng);
  const std::vector<int> positions = {0, max_positions, 3};
  DeviceBuffer<__half> dx(x.h), dtable(table.h);
  DeviceBuffer<int> dpos(positions);
  launch_position_add({dx.data(), dpos.data(), dtable.data(), rows, d, max_positions}, nullptr);
  const std::vector<__half> got = dx.download();
  EXPECT_FALSE(row_is_nan(got, 0, d));
  EXPECT_TRUE(row_is_nan(got, 1, d));
  EXPECT_FALSE(row_is_nan(got, 2, d));
}

TEST(ElementwiseKernel, RejectsBadShapes) {
  EXPECT_THROW(launch_bias_relu({nullptr, nullptr, 1, 12}, nullptr), Error);
  EXPECT_THROW(launch_bias_residual({nullptr, nullptr, nullptr, nullptr, -1, 64}, nullptr), Error);
  EmbeddingArgs e;
  e.rows = 1;
  e.d = 64;
  e.vocab = 0;
  EXPECT_THROW(launch_embedding(e, nullptr), Error);
}

}  // namespace
}  // namespace dv
