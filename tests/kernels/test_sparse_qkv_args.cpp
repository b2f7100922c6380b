// test_sparse_qkv_args.cpp: sparse_qkv's host-side contract, on the CPU: the catch-up plan's lag bound, the
// arguments the launches refuse, the tiled weight layout's index map, and the persistent kernel's op kinds per
// layout.
#include <gtest/gtest.h>

#include <vector>

#include "kernels/common/error.h"
#include "kernels/persistent_decode/decode_op_launch.h"
#include "kernels/sparse_qkv/sparse_qkv.cuh"
#include "kernels/sparse_qkv/sparse_qkv_pack.h"

namespace dv {
namespace {

// The plan keeps a selected head within one pass and the ring; batches past 128 / (wait + 1) need all_kv.
TEST(SparseQkvPlan, BoundsLagToOnePass) {
  for (int H : {1, 12, 32, 40, 56, 72, 96, 256})
    for (int B = 1; B <= 32; ++B) {
      const KvCatchupPlan p = sparse_qkv_catchup_plan(B, H, kSparseQkvRing);
      ASSERT_GE(p.max_forced, 2);
      ASSERT_LE(p.max_forced, kSparseQkvMaxForced);
      const int worst = p.force_lag + (H + p.max_forced - 1) / p.max_forced - 1;  // missing positions at most
      if (p.force_lag >= 1) {
        ASSERT_LE(B * (worst + 1), kSparseQkvPassColumns) << "B " << B << " H " << H;
        ASSERT_LE(worst + 1, kSparseQkvRing);
      }
    }
  EXPECT_GE(sparse_qkv_catchup_plan(1, 40, kSparseQkvRing).force_lag, 96);
  EXPECT_LT(sparse_qkv_catchup_plan(8, 40, kSparseQkvRing).force_lag, 1);
}

// One sequence, 4 heads of 64 (every head selectable), 8 positions, no pointers yet.
SparseQkvArgs four_heads() {
  SparseQkvArgs a;
  a.batch = 1;
  a.num_heads = 4;
  a.head_dim = 64;
  a.max_len = 8;
  a.max_heads = 4;
  return a;
}

TEST(SparseQkvKernel, RejectsBadArguments) {
  SparseQkvArgs a = four_heads();
  a.head_dim = 96;
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  a.head_dim = 64;
  a.max_heads = 5;
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  a.max_heads = 4;
  a.plain_unroll = 6;  // the variants take 4 or 8 and 2 or 3
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  a.plain_unroll = 4;
  a.units_per_sm = 4;
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  a.units_per_sm = 2;
  a.loop_units = true;  // the unit loop needs the SM count and two units an SM
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  a.sm_count = 132;
  a.units_per_sm = 3;
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  a.units_per_sm = 2;
  a.loop_units = false;
  a.max_forced = 2;  // forcing needs the forced list, a ring and a lag
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  KvCatchupArgs ca = kv_catchup_args(four_heads());
  ca.max_forced = 2;  // forcing without the forced list, x_hist or w_qkv
  EXPECT_THROW(launch_kv_catchup(ca, nullptr), Error);
  EXPECT_THROW(pack_qkv_weights(QkvPackArgs{}), Error);
  EXPECT_THROW(launch_tile_qkv_weights(nullptr, nullptr, 15, 64, nullptr), Error);  // rows not a multiple of 16
}

// The tiled layout is a permutation inside each 16-row slice (a slice keeps its place, so a unit's weights are
// where the row-major ones were) that makes each 16 x 32 block one contiguous run, rows 32 elements apart.
TEST(SparseQkvCases, TiledLayoutPermutesWithinSlices) {
  constexpr size_t rows = 48, d = 96;
  std::vector<int> seen(rows * d, 0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t c = 0; c < d; ++c) {
      const size_t t = sparse_qkv_tiled_index(r, c, d);
      ASSERT_LT(t, rows * d);
      EXPECT_EQ(t / (16 * d), r / 16) << "row " << r << " col " << c << " left its slice";
      ++seen[t];
      if (c % 32 != 0) {
        EXPECT_EQ(t, sparse_qkv_tiled_index(r, c - 1, d) + 1);
      }
      if (r % 16 != 0) {
        EXPECT_EQ(t, sparse_qkv_tiled_index(r - 1, c, d) + 32);
      }
    }
  for (size_t i = 0; i < seen.size(); ++i) EXPECT_EQ(seen[i], 1) << "tiled index " << i;
}

// The persistent kernel's QKV and catch-up entries: the op kind names the w_qkv layout, and check_decode_op refuses
// an entry whose tiled_weights says the other one (row-major code on a tiled copy would compute with permuted
// weights and no error). On the CPU: the checks look at pointers, never read them.
TEST(SparseQkvCases, PersistentOpKindsMatchTheLayout) {
  using kernels::DecodeOpKind;
  alignas(16) static __half halves[8];
  static int ints[4];
  SparseQkvArgs a = four_heads();
  a.q = a.k_cache = a.v_cache = halves;
  a.x = a.w_qkv = a.b_qkv = halves;
  a.heads = a.num_selected = a.pos = ints;
  EXPECT_NO_THROW(check_decode_op(DecodeOpKind::kQkv, kernels::SparseQkvOp{a}));
  EXPECT_THROW(check_decode_op(DecodeOpKind::kQkvTiled, kernels::SparseQkvTiledOp{{a}}), Error);
  const KvCatchupArgs row_major = kv_catchup_args(a);
  EXPECT_NO_THROW(check_decode_op(DecodeOpKind::kKvCatchup, kernels::KvCatchupOp{row_major}));
  EXPECT_THROW(check_decode_op(DecodeOpKind::kKvCatchupTiled, kernels::KvCatchupTiledOp{{row_major}}), Error);
  a.tiled_weights = true;
  EXPECT_NO_THROW(check_decode_op(DecodeOpKind::kQkvTiled, kernels::SparseQkvTiledOp{{a}}));
  EXPECT_THROW(check_decode_op(DecodeOpKind::kQkv, kernels::SparseQkvOp{a}), Error);
  const KvCatchupArgs tiled = kv_catchup_args(a);
  EXPECT_NO_THROW(check_decode_op(DecodeOpKind::kKvCatchupTiled, kernels::KvCatchupTiledOp{{tiled}}));
  EXPECT_THROW(check_decode_op(DecodeOpKind::kKvCatchup, kernels::KvCatchupOp{tiled}), Error);
}

}  // namespace
}  // namespace dv
