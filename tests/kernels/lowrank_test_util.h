// lowrank_test_util.h: what the predictor's and the selection's tests share: the exact selection check (the
// reference selection run on the scores the GPU produced, so GEMV rounding cannot move the k-th score across
// the boundary) and a zeroed workspace of the size the op asks for.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <vector>

#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv::test {

// scores: [rows, lowrank_scores_ld(n)] as the GPU left them; sel: the selection's settings (host pointers are
// filled here). got_idx / got_k: what the GPU wrote.
inline void expect_same_selection(const std::vector<float>& scores, kernels::LowrankSelectArgs sel,
                                  const std::vector<int>& got_idx, int got_k) {
  std::vector<int> ref_idx(static_cast<size_t>(std::max(sel.max_k, 1)), -1);
  int ref_k = -1;
  sel.idx = ref_idx.data();
  sel.k_dev = &ref_k;
  sel.scores = scores.data();
  kernels::lowrank_select_ref(sel);
  ASSERT_EQ(got_k, ref_k);
  for (size_t i = 0; i < static_cast<size_t>(ref_k); ++i) ASSERT_EQ(got_idx[i], ref_idx[i]) << "at " << i;
}

// The n real columns of each row of a [rows, lowrank_scores_ld(n)] score buffer: the padding columns are
// workspace the ops never write, so they hold whatever was there (the tests' NaN poison).
inline std::vector<float> scores_without_padding(const std::vector<float>& scores, int n) {
  const size_t ld = static_cast<size_t>(kernels::lowrank_scores_ld(n)), rows = scores.size() / ld;
  std::vector<float> out;
  out.reserve(rows * static_cast<size_t>(n));
  for (size_t r = 0; r < rows; ++r)
    out.insert(out.end(), scores.begin() + static_cast<std::ptrdiff_t>(r * ld),
               scores.begin() + static_cast<std::ptrdiff_t>(r * ld + static_cast<size_t>(n)));
  return out;
}

// A device workspace of `bytes`, zeroed once as the ops require; they must leave it zeroed.
inline DeviceBuffer<char> zeroed_workspace(size_t bytes) {
  DeviceBuffer<char> ws(bytes);
  ws.zero();
  return ws;
}

inline void expect_workspace_zero(const DeviceBuffer<char>& ws) {
  const std::vector<char> h = ws.download();
  const auto it = std::find_if(h.begin(), h.end(), [](char c) { return c != 0; });
  EXPECT_TRUE(it == h.end()) << "workspace byte " << (it - h.begin()) << " left nonzero";
}

}  // namespace dv::test
