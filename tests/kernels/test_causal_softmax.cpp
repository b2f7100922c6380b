// test_causal_softmax.cpp: launch_causal_softmax against causal_softmax_ref over a table of sizes (odd query
// and key counts, more keys than queries, a row stride past the keys, large score offsets), on fresh random
// scores; the padding past k_len is poisoned and must stay untouched, the masked part must be exactly 0.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "kernels/causal_softmax/causal_softmax.cuh"
#include "kernels/causal_softmax/causal_softmax_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv {
namespace {

using test::DeviceBuffer;
using test::DType;

struct SoftmaxCase {
  int heads, q_len, k_len, ld;
  float scale, offset;  // offset: added to every score (exp overflow without the max)
};

const std::vector<SoftmaxCase> kCases = {
    {1, 1, 1, 1, 1.f, 0.f},        {2, 7, 7, 7, 0.125f, 0.f},      {3, 33, 33, 40, 1.f, 50.f},
    {1, 257, 257, 257, 0.088f, 0.f}, {4, 5, 19, 19, 1.f, -30.f},   {2, 300, 300, 301, 0.5f, 0.f},
    {1, 2048, 2048, 2048, 0.125f, 0.f}, {5, 1, 9, 16, 2.f, 0.f},
};

TEST(CausalSoftmaxKernel, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  for (size_t ci = 0; ci < kCases.size(); ++ci) {
    const SoftmaxCase& c = kCases[ci];
    SCOPED_TRACE("heads=" + std::to_string(c.heads) + " q=" + std::to_string(c.q_len) + " k=" +
                 std::to_string(c.k_len) + " ld=" + std::to_string(c.ld));
    std::mt19937_64 rng(test::case_seed("causal_softmax", static_cast<int>(ci)));
    const int rows = c.heads * c.q_len;
    const size_t n = static_cast<size_t>(rows) * c.ld;
    std::vector<float> scores = test::random_floats(n, rng, -8.f + c.offset, 8.f + c.offset);
    DeviceBuffer<float> ds(scores);
    DeviceBuffer<__half> dp(n);
    dp.poison();
    CausalSoftmaxArgs a;
    a.probs = dp.data();
    a.scores = ds.data();
    a.rows = rows;
    a.q_len = c.q_len;
    a.k_len = c.k_len;
    a.ld = c.ld;
    a.scale = c.scale;
    launch_causal_softmax(a, nullptr);
    DV_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<__half> ref(n, __float2half(0.f));
    CausalSoftmaxArgs r = a;
    r.probs = ref.data();
    r.scores = scores.data();
    causal_softmax_ref(r);
    const std::vector<__half> got = dp.download();
    std::vector<__half> got_rows, ref_rows;
    for (int row = 0; row < rows; ++row) {
      const int visible = row % c.q_len + (c.k_len - c.q_len) + 1;
      for (int j = 0; j < c.ld; ++j) {
        const size_t i = static_cast<size_t>(row) * c.ld + j;
        if (j >= c.k_len) {
          ASSERT_EQ(__half_raw(got[i]).x, 0xFFFFu) << "padding written at row " << row << " col " << j;
        } else if (j >= visible) {
          ASSERT_EQ(__half2float(got[i]), 0.f) << "masked key " << j << " of row " << row << " not zero";
        } else {
          got_rows.push_back(got[i]);
          ref_rows.push_back(ref[i]);
        }
      }
    }
    ASSERT_TRUE(test::expect_close(got_rows, test::to_float(ref_rows), DType::kF16, "probs"));
  }
}

TEST(CausalSoftmaxKernel, RejectsBadSizes) {
  CausalSoftmaxArgs a;
  a.rows = 1;
  a.q_len = 4;
  a.k_len = 3;  // fewer keys than queries
  a.ld = 4;
  EXPECT_THROW(launch_causal_softmax(a, nullptr), Error);
}

// The reference itself: visible probabilities of a row sum to 1, and equal scores give a uniform row.
TEST(CausalSoftmaxRef, RowsSumToOne) {
  const int q = 5, k = 5;
  std::vector<float> s(q * k, 3.f);
  std::vector<__half> p(q * k);
  CausalSoftmaxArgs a;
  a.probs = p.data();
  a.scores = s.data();
  a.rows = q;
  a.q_len = q;
  a.k_len = k;
  a.ld = k;
  causal_softmax_ref(a);
  for (int r = 0; r < q; ++r)
    for (int j = 0; j < k; ++j)
      EXPECT_NEAR(__half2float(p[r * k + j]), j <= r ? 1.0 / (r + 1) : 0.0, 1e-3) << r << "," << j;
}

}  // namespace
}  // namespace dv
