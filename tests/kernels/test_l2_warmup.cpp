// test_l2_warmup.cpp: the L2 warm-up's plan (kernels/common/l2_warmup.cuh) on the CPU: the pieces the warm units
// issue cover exactly the listed blocks (every part, list order, indices out of range skipped) up to the budget,
// each piece 16-byte aligned and inside its block; the unit count stays within half the SMs. The launches with
// warm units in front are in the layer_norm and decode_attention case tables (odd cases), whose outputs the
// references check.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "kernels/common/l2_warmup.cuh"

namespace dv {
namespace {

struct WarmCase {
  unsigned block_bytes;
  int parts;
  long long part_stride;
  int num_indices;
  std::vector<int> idx;  // empty: no list (0 .. max_count - 1)
  int max_count;
  long long budget;
};

// Byte marks of what the plan warms, from its pieces.
std::vector<int> warmed_by_plan(const kernels::L2Warmup& w, int count, size_t span) {
  std::vector<int> marks(span, 0);
  const long long total = w.pieces(static_cast<long long>(count) * w.parts);
  for (long long g = 0; g < total; ++g) {
    const long long s = w.slot(g);
    const int index = w.idx != nullptr ? w.idx[s] : static_cast<int>(s);
    long long offset = 0;
    unsigned bytes = 0;
    if (!w.piece(g, index, &offset, &bytes)) continue;
    EXPECT_EQ(offset % 16, 0) << "piece " << g;
    EXPECT_EQ(bytes % 16, 0u) << "piece " << g;
    EXPECT_LE(bytes, kernels::kL2WarmupPiece) << "piece " << g;
    for (unsigned i = 0; i < bytes; ++i) ++marks[static_cast<size_t>(offset) + i];
  }
  return marks;
}

// The same, written out directly: blocks in list order (index, then part), whole pieces until the budget.
std::vector<int> warmed_expected(const WarmCase& c, int count, size_t span) {
  std::vector<int> marks(span, 0);
  long long left = (c.budget + kernels::kL2WarmupPiece - 1) / kernels::kL2WarmupPiece * kernels::kL2WarmupPiece;
  for (int s = 0; s < count && left > 0; ++s) {
    const int index = c.idx.empty() ? s : c.idx[s];
    for (int p = 0; p < c.parts && left > 0; ++p) {
      for (unsigned b = 0; b < c.block_bytes && left > 0; b += kernels::kL2WarmupPiece) {
        const unsigned bytes = std::min(kernels::kL2WarmupPiece, c.block_bytes - b);
        left -= kernels::kL2WarmupPiece;
        if (index < 0 || index >= c.num_indices) continue;
        const size_t at = static_cast<size_t>(index) * c.block_bytes + p * c.part_stride + b;
        for (unsigned i = 0; i < bytes; ++i) ++marks[at + i];
      }
    }
  }
  return marks;
}

TEST(L2WarmupPlan, PiecesCoverTheListedBlocksUpToTheBudget) {
  const unsigned piece = kernels::kL2WarmupPiece;
  const std::vector<WarmCase> cases = {
      {2 * piece, 1, 0, 8, {}, 8, 1ll << 30},                    // whole blocks, no list
      {piece + 48, 1, 0, 6, {5, 0, 3}, 3, 1ll << 30},            // a block of one piece and a tail
      {10240, 3, 10 * 10240, 10, {2, 9, 2, 7}, 4, 1ll << 30},    // three parts, a repeated index
      {10240, 3, 10 * 10240, 10, {1, -1, 12, 4}, 4, 1ll << 30},  // indices out of range skipped
      {3 * piece, 1, 0, 5, {4, 1, 2, 0}, 4, 5ll * piece - 7},    // the budget ends inside the second block
      {16, 1, 0, 100, {}, 100, 160},                             // tiny blocks, budget of one piece
      {3 * piece, 1, 0, 5, {4, 1}, 2, 0},                        // no budget: nothing
  };
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const WarmCase& c = cases[ci];
    SCOPED_TRACE("case " + std::to_string(ci));
    kernels::L2Warmup w;
    w.base = reinterpret_cast<const char*>(16);
    w.idx = c.idx.empty() ? nullptr : c.idx.data();
    w.max_count = c.max_count;
    w.num_indices = c.num_indices;
    w.block_bytes = c.block_bytes;
    w.part_stride = c.part_stride;
    w.parts = c.parts;
    w.budget_bytes = c.budget;
    const size_t span = static_cast<size_t>(c.num_indices) * c.block_bytes + (c.parts - 1) * c.part_stride;
    for (int count = 0; count <= c.max_count; ++count) {
      EXPECT_EQ(warmed_by_plan(w, count, span), warmed_expected(c, count, span)) << "count " << count;
    }
    const int units = kernels::l2_warmup_units(w, 132);
    EXPECT_EQ(units == 0, c.budget == 0);
    EXPECT_LE(units, 66);
    EXPECT_GE(static_cast<long long>(units) * kernels::kL2WarmupPiecesPerUnit,
              std::min<long long>(w.pieces(static_cast<long long>(c.max_count) * c.parts),
                                  66ll * kernels::kL2WarmupPiecesPerUnit));
  }
}

TEST(L2WarmupPlan, RejectsMisalignedBlocks) {
  kernels::L2Warmup w;
  w.base = reinterpret_cast<const char*>(16);
  w.max_count = w.num_indices = 4;
  w.block_bytes = 24;
  w.budget_bytes = 1024;
  EXPECT_THROW(kernels::check_l2_warmup(w, "test"), Error);
  w.block_bytes = 32;
  EXPECT_NO_THROW(kernels::check_l2_warmup(w, "test"));
  w.base = reinterpret_cast<const char*>(8);
  EXPECT_THROW(kernels::check_l2_warmup(w, "test"), Error);
}

}  // namespace
}  // namespace dv
