// row_partials_check.h: the check of sparse_mlp_down's optional row_partials output (per-512-column-slice fp32
// sum and sum of squares of each row of out), shared by the down kernel's case table (test_sparse_mlp.cpp):
// out bit-identical to the same launch without row_partials, the partials against double sums of the out the
// launch wrote (fp32 tolerance on the sum of magnitudes: a sum may cancel), the same partials bits again.
// Header-only because the test folder globs test_*.cpp into one binary.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv::test {

// The row_partials instantiation on args `a` (the case's, run earlier with output `plain`): the same out bits, the
// partials equal to sums of that out, the same partials bits on a second launch. launch() runs it and returns out.
template <class Launch>
inline void check_row_partials(kernels::SparseMlpDownArgs& a, int col_blocks, const std::vector<__half>& plain,
                               Launch&& launch) {
  DeviceBuffer<float> d_partials(2 * static_cast<size_t>(col_blocks) * a.B);
  a.row_partials = d_partials.data();
  std::vector<float> first;
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(::testing::Message() << "row_partials run " << run);
    d_partials.poison();
    const std::vector<__half> got = launch();
    ASSERT_EQ(std::memcmp(got.data(), plain.data(), got.size() * sizeof(__half)), 0) << "out differs";
    const std::vector<float> partials = d_partials.download();
    if (run == 1) {
      EXPECT_EQ(std::memcmp(partials.data(), first.data(), partials.size() * sizeof(float)), 0) << "bits differ";
      break;
    }
    first = partials;
    std::vector<float> want(partials.size());
    kernels::sparse_mlp_down_row_partials_ref(got.data(), a.B, a.d, want.data());
    const double tol = tolerance(DType::kF32);
    for (int cb = 0; cb < col_blocks; ++cb)
      for (int b = 0; b < a.B; ++b) {
        const size_t o = 2 * (static_cast<size_t>(cb) * a.B + b);
        double mag = 1e-3;  // the sum may cancel: its error is bounded by the sum of magnitudes
        const int c0 = cb * kernels::kSparseMlpDownUnitCols;
        for (int col = c0; col < std::min(a.d, c0 + kernels::kSparseMlpDownUnitCols); ++col)
          mag += std::fabs(__half2float(got[static_cast<size_t>(b) * a.d + col]));
        EXPECT_LE(std::fabs(partials[o] - want[o]), tol * mag) << "sum, slice " << cb << " row " << b;
        EXPECT_LE(std::fabs(partials[o + 1] - want[o + 1]), tol * (want[o + 1] + 1e-3))
            << "sum of squares, slice " << cb << " row " << b;
      }
  }
  a.row_partials = nullptr;
}

}  // namespace dv::test
