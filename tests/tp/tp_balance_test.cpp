// tp_balance_test.cpp: the slowest-rank cost and per-rank recall on selections whose answers are known, and
// on fresh random scores (where both must lie in their ranges and tighten with more uniform scores).
#include <gtest/gtest.h>

#include "engine/tp/tp_balance.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

TEST(TpBalance, EverythingOnOneRankCostsTheWorldSize) {
  // 2 rows, 12 units, 4 ranks of 3: the top 3 all in rank 1's slice.
  at::Tensor s = at::zeros({2, 12});
  s.index_put_({at::indexing::Slice(), at::indexing::Slice(3, 6)}, 1.0);
  const TpBalance b = tp_selection_balance(s, 3, 4);
  EXPECT_DOUBLE_EQ(b.mean_cost, 4.0);
  EXPECT_DOUBLE_EQ(b.max_cost, 4.0);
  // Per-rank top-1 keeps one of the three on rank 1 (and three zeros elsewhere): recall 1/3.
  EXPECT_NEAR(b.mean_recall, 1.0 / 3, 1e-6);
}

TEST(TpBalance, AnEvenSpreadCostsOne) {
  // The top 4 at units 0, 3, 6, 9: one per rank of 3.
  at::Tensor s = at::rand({1, 12}) * 0.1;
  for (int i : {0, 3, 6, 9}) s[0][i] = 5.0 + i;
  const TpBalance b = tp_selection_balance(s, 4, 4);
  EXPECT_DOUBLE_EQ(b.mean_cost, 1.0);
  EXPECT_DOUBLE_EQ(b.mean_recall, 1.0);
  const TpBalance one = tp_selection_balance(s, 4, 1);  // one rank: always even, full recall
  EXPECT_DOUBLE_EQ(one.mean_cost, 1.0);
  EXPECT_DOUBLE_EQ(one.mean_recall, 1.0);
}

TEST(TpBalance, RandomScoresStayInRange) {
  at::manual_seed(3);
  const at::Tensor s = at::rand({257, 96});
  for (int world : {2, 4, 8}) {
    const TpBalance b = tp_selection_balance(s, 10, world);
    EXPECT_EQ(b.rows, 257);
    EXPECT_GE(b.mean_cost, 1.0);
    EXPECT_LE(b.max_cost, world);
    EXPECT_GE(b.p90_cost, b.mean_cost - 1e-9);
    EXPECT_GT(b.mean_recall, 0.0);
    EXPECT_LE(b.mean_recall, 1.0);
  }
  // k not a multiple of the world: cost is against k / N (fractional).
  EXPECT_GE(tp_selection_balance(s, 7, 2).mean_cost, 1.0);
}

TEST(TpBalance, SilentUnitsDoNotCount) {
  // Two active units, one per rank of 6; k = 4 would add two zeros chosen by index, not by the model.
  at::Tensor s = at::zeros({1, 12});
  s[0][1] = 2.0;
  s[0][8] = 1.0;
  const TpBalance b = tp_selection_balance(s, 4, 2);
  EXPECT_DOUBLE_EQ(b.mean_cost, 1.0);
  EXPECT_DOUBLE_EQ(b.mean_active, 2.0);
  EXPECT_DOUBLE_EQ(b.mean_recall, 1.0);  // per-rank top-2 keeps both
  // A row with nothing active is left out; all rows silent is an error.
  EXPECT_EQ(tp_selection_balance(at::cat({s, at::zeros({1, 12})}), 4, 2).rows, 1);
  EXPECT_THROW(tp_selection_balance(at::zeros({2, 12}), 4, 2), Error);
}

TEST(TpBalance, BadInputIsRefused) {
  EXPECT_THROW(tp_selection_balance(at::rand({3, 10}), 2, 4), Error);   // 10 % 4
  EXPECT_THROW(tp_selection_balance(at::rand({3, 12}), 0, 4), Error);   // k < 1
  EXPECT_THROW(tp_selection_balance(at::rand({12}), 2, 4), Error);      // not 2-D
}

}  // namespace
}  // namespace dv
