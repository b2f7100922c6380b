// test_layer_norm.cpp: launch_layer_norm against layer_norm_ref over a table of shapes and fusion variants
// (plain LN, residual add, residual + bias, bias alone, in place), with a poisoned guard row after the
// outputs so an overrun or an unwritten element fails; odd cases with L2 warm units in front of the rows.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/layer_norm/layer_norm.cuh"
#include "kernels/layer_norm/layer_norm_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv {
namespace {

using test::DeviceBuffer;
using test::DType;

struct LnCase {
  int rows;
  int d;
  bool residual;  // add a residual input
  bool bias;      // add a bias vector
  bool sum_out;   // write the sum
  bool in_place;  // y aliases x, sum_out aliases residual
  float offset;   // added to x so the mean is far from zero
};

std::string describe(const LnCase& c) {
  return "rows=" + std::to_string(c.rows) + " d=" + std::to_string(c.d) + " residual=" + std::to_string(c.residual) +
         " bias=" + std::to_string(c.bias) + " sum_out=" + std::to_string(c.sum_out) +
         " in_place=" + std::to_string(c.in_place);
}

const std::vector<LnCase> kCases = {
    {1, 64, false, false, false, false, 0.f},   {3, 192, false, false, false, false, 3.f},
    {8, 320, true, false, true, false, 0.f},    {5, 768, true, true, true, false, -2.f},
    {1, 7168, true, true, true, true, 1.f},     {33, 9216, false, true, true, false, 0.f},
    {2, 12288, true, false, false, true, 0.5f}, {130, 64 * 5, true, true, true, true, 0.f},
    {4, 32768, true, true, true, false, 0.f},   {1, 8, false, false, false, false, 0.f},
};

bool is_poison(__half h) { return __half_raw(h).x == 0xFFFFu; }

TEST(LayerNormKernel, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  for (size_t ci = 0; ci < kCases.size(); ++ci) {
    const LnCase& c = kCases[ci];
    ASSERT_TRUE(!c.in_place || !c.sum_out || c.residual) << "in-place sum_out needs a residual to alias";
    SCOPED_TRACE(describe(c));
    std::mt19937_64 rng(test::case_seed("layer_norm", static_cast<int>(ci)));
    const size_t n = static_cast<size_t>(c.rows) * c.d;
    auto x = test::random_halves(n, rng, -2.f + c.offset, 2.f + c.offset);
    auto res = test::random_halves(n, rng, -1.f, 1.f);
    auto bias = test::random_halves(c.d, rng, -0.5f, 0.5f);
    auto gamma = test::random_halves(c.d, rng, 0.5f, 1.5f);
    auto beta = test::random_halves(c.d, rng, -0.5f, 0.5f);

    // Device buffers have one guard row past the outputs.
    const size_t guarded = n + c.d;
    std::vector<__half> x_dev_init(x.h), res_dev_init(res.h);
    x_dev_init.resize(guarded, __float2half(0.f));
    res_dev_init.resize(guarded, __float2half(0.f));
    DeviceBuffer<__half> dx(x_dev_init), dres(res_dev_init), dbias(bias.h), dgamma(gamma.h), dbeta(beta.h);
    DeviceBuffer<__half> dy(guarded), dsum(guarded);
    dy.poison();
    dsum.poison();

    LayerNormArgs args;
    args.x = dx.data();
    args.residual = c.residual ? dres.data() : nullptr;
    args.bias = c.bias ? dbias.data() : nullptr;
    args.gamma = dgamma.data();
    args.beta = dbeta.data();
    args.rows = c.rows;
    args.d = c.d;
    args.y = c.in_place ? dx.data() : dy.data();
    if (c.sum_out) args.sum_out = c.in_place ? dres.data() : dsum.data();
    if (ci % 2 == 0) {
      launch_layer_norm(args, nullptr);
    } else {  // with warm units in front prefetching x's rows (kernels/common/l2_warmup.cuh): the same output
      kernels::L2Warmup warm;
      warm.base = reinterpret_cast<const char*>(dx.data());
      warm.max_count = warm.num_indices = c.rows;
      warm.block_bytes = static_cast<unsigned>(c.d) * 2;
      warm.budget_bytes = 1ll << 20;
      launch_layer_norm(args, warm, 132, nullptr);
    }
    DV_CUDA_CHECK(cudaDeviceSynchronize());

    std::vector<__half> ry(n), rsum(n);
    LayerNormArgs ref = args;
    ref.x = x.h.data();
    ref.residual = c.residual ? res.h.data() : nullptr;
    ref.bias = c.bias ? bias.h.data() : nullptr;
    ref.gamma = gamma.h.data();
    ref.beta = beta.h.data();
    ref.y = ry.data();
    ref.sum_out = c.sum_out ? rsum.data() : nullptr;
    layer_norm_ref(ref);

    std::vector<__half> gy = (c.in_place ? dx : dy).download();
    ASSERT_TRUE(
        test::expect_close(std::vector<__half>(gy.begin(), gy.begin() + n), test::to_float(ry), DType::kF16, "y"));
    if (!c.in_place) {
      for (size_t i = n; i < guarded; ++i) ASSERT_TRUE(is_poison(gy[i])) << "y guard row written at " << i;
    }
    if (c.sum_out) {
      const std::vector<__half> gs = (c.in_place ? dres : dsum).download();
      ASSERT_TRUE(test::expect_close(std::vector<__half>(gs.begin(), gs.begin() + n), test::to_float(rsum), DType::kF16,
                                     "sum_out"));
      if (!c.in_place) {
        for (size_t i = n; i < guarded; ++i) ASSERT_TRUE(is_poison(gs[i])) << "sum guard row written at " << i;
      }
    }
  }
}

TEST(LayerNormKernel, RejectsBadWidth) {
  LayerNormArgs args;
  args.rows = 1;
  args.d = 100;
  EXPECT_THROW(launch_layer_norm(args, nullptr), Error);
  args.d = 40000;
  EXPECT_THROW(launch_layer_norm(args, nullptr), Error);
}

// The reference itself: rows are normalised (mean beta, spread gamma) for gamma = 1, beta = 0.
TEST(LayerNormRef, NormalisesRows) {
  std::mt19937_64 rng(test::case_seed("layer_norm_ref", 0));
  const int rows = 3, d = 320;
  auto x = test::random_halves(static_cast<size_t>(rows) * d, rng, 1.f, 5.f);
  std::vector<__half> gamma(d, __float2half(1.f)), beta(d, __float2half(0.f)), y(x.h.size());
  LayerNormArgs a;
  a.y = y.data();
  a.x = x.h.data();
  a.gamma = gamma.data();
  a.beta = beta.data();
  a.rows = rows;
  a.d = d;
  layer_norm_ref(a);
  for (int r = 0; r < rows; ++r) {
    double mean = 0, sq = 0;
    for (int c = 0; c < d; ++c) mean += __half2float(y[static_cast<size_t>(r) * d + c]);
    mean /= d;
    for (int c = 0; c < d; ++c) {
      const double v = __half2float(y[static_cast<size_t>(r) * d + c]) - mean;
      sq += v * v;
    }
    EXPECT_NEAR(mean, 0.0, 1e-3);
    EXPECT_NEAR(sq / d, 1.0, 1e-2);
  }
}

}  // namespace
}  // namespace dv
