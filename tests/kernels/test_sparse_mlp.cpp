// test_sparse_mlp.cpp: sparse_mlp_up and sparse_mlp_down against their C++ references, table driven.
// Odd sizes on purpose (d not a multiple of 32 or 64, ffn not a multiple of 8, ld_h padded), empty / one /
// some / all selections, unsorted indices (repeated ones for the down kernel, where they are legal), device k
// below the host bound max_k with a poisoned idx tail, batch 1..32 across all tile configurations, both the
// single-split and the split + workspace paths of the down kernel under both split-sum schemes (fixed-point
// reductions and ordered partials; each repeated to identical bits, then the other scheme on the same
// workspace), rows_per_index > 1, and in-place residual. The down kernel's optional row_partials (per-512-column
// slice fp32 sum and sum of squares of each row of out): out bit-identical to the launch without them, the
// partials against double sums of the out written (fp32 tolerance on the sum of magnitudes), the same bits again.
// Every output buffer is NaN-poisoned before the launch. sparse_mlp_up's pipelined variant writes the default's bits.
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down_ref.h"
#include "kernels/sparse_mlp_up/sparse_mlp_up.cuh"
#include "kernels/sparse_mlp_up/sparse_mlp_up_ref.h"
#include "tests/kernels/kernel_test_util.h"
#include "tests/kernels/row_partials_check.h"

namespace dv::kernels {
namespace {

using test::DeviceBuffer;
using test::DType;

// Index list of capacity max_k: k distinct random indices (or with repeats), then a poisoned tail that the
// kernels must never read (a read would fault or show up under compute-sanitizer).
std::vector<int> make_idx(int n, int k, int max_k, bool repeats, std::mt19937_64& rng) {
  std::vector<int> idx = test::random_indices(n, k, rng);
  if (repeats && k >= 2)
    for (int j = 0; j < k; j += 3) idx[static_cast<size_t>(j)] = idx[static_cast<size_t>(k - 1 - j)];
  idx.resize(static_cast<size_t>(max_k), INT_MAX / 2);
  return idx;
}

// ---- sparse_mlp_up ---------------------------------------------------------------------------------------

struct UpCase {
  int B, d, ffn, k, max_k;
  bool device_k;  // false: k_dev = nullptr, k = max_k
  bool ln = false;  // the fused layer norm: x is a residual stream (offset and scaled) the op normalizes
  bool ln_partials = false;  // ... with its statistics from x's row partials (ln_row_partials), made here by
                             // sparse_mlp_down's reference of that contract
};

const UpCase kUpCases[] = {
    {1, 8, 37, 1, 1, true},         {1, 40, 37, 0, 5, true},        {3, 136, 111, 111, 111, true},
    {1, 768, 1001, 50, 64, true},   {8, 1000, 1001, 333, 400, true}, {9, 1000, 517, 517, 517, false},
    {16, 768, 300, 77, 100, true},  {17, 776, 300, 150, 300, true},  {32, 1000, 2003, 1000, 1200, true},
    {32, 40, 5, 5, 5, false},       {5, 2048, 3001, 300, 300, true}, {2, 1016, 64, 63, 64, true},
    // The fused layer norm: batch 1 at an OPT width, the 8-row tile's edge, odd batches of the larger tiles,
    // a width whose rows split unevenly over the warps, and an empty selection.
    {1, 5120, 2003, 500, 512, true, true}, {8, 1000, 1001, 333, 400, true, true},
    {3, 136, 111, 111, 111, false, true},  {17, 776, 300, 150, 300, true, true},
    {32, 1000, 2003, 1000, 1200, true, true}, {1, 40, 37, 0, 5, true, true},
    // ... from row partials: one slice, uneven slices (1000 = 512 + 488; 5120 = 10 slices), every batch tile.
    {1, 5120, 2003, 500, 512, true, true, true}, {8, 1000, 1001, 333, 400, true, true, true},
    {3, 136, 111, 111, 111, false, true, true},  {17, 776, 300, 150, 300, true, true, true},
    {32, 1000, 2003, 1000, 1200, true, true, true}, {16, 768, 300, 77, 100, true, true, true},
};

class SparseMlpUpTest : public ::testing::TestWithParam<int> {};

TEST_P(SparseMlpUpTest, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  const int ci = GetParam();
  const UpCase c = kUpCases[ci];
  const uint64_t seed = test::case_seed("sparse_mlp_up", ci);
  SCOPED_TRACE(::testing::Message() << "case " << ci << " B=" << c.B << " d=" << c.d << " ffn=" << c.ffn
                                    << (c.ln ? " ln" : "") << (c.ln_partials ? " partials" : "")
                                    << " k=" << c.k << " max_k=" << c.max_k << " seed=" << seed);
  std::mt19937_64 rng(seed);
  auto x = test::random_halves(static_cast<size_t>(c.B) * c.d, rng);
  const auto w1 = test::random_halves(static_cast<size_t>(c.ffn) * c.d, rng);
  const auto b1 = test::random_halves(static_cast<size_t>(c.ffn), rng);
  const auto gamma = test::random_halves(static_cast<size_t>(c.d), rng);
  const auto beta = test::random_halves(static_cast<size_t>(c.d), rng);
  if (c.ln)  // a residual stream's offset and scale: the normalization must remove them
    for (__half& v : x.h) v = __float2half_rn(3.f * __half2float(v) + 1.5f);
  const std::vector<int> idx = make_idx(c.ffn, c.k, c.max_k, false, rng);
  const int ld_h = c.max_k + 3;

  DeviceBuffer<__half> d_x(x.h), d_w1(w1.h), d_b1(b1.h), d_gamma(gamma.h), d_beta(beta.h);
  DeviceBuffer<int> d_idx(idx), d_k(std::vector<int>{c.k});
  DeviceBuffer<__half> d_h(static_cast<size_t>(c.B) * ld_h);
  d_h.poison();
  const int col_blocks = (c.d + kSparseMlpDownUnitCols - 1) / kSparseMlpDownUnitCols;
  std::vector<float> partials(2 * static_cast<size_t>(col_blocks) * c.B);
  sparse_mlp_down_row_partials_ref(x.h.data(), c.B, c.d, partials.data());
  DeviceBuffer<float> d_partials(partials);

  SparseMlpUpArgs a;
  a.h = d_h.data();
  a.x = d_x.data();
  a.w1 = d_w1.data();
  a.b1 = d_b1.data();
  a.idx = d_idx.data();
  a.k_dev = c.device_k ? d_k.data() : nullptr;
  a.B = c.B;
  a.d = c.d;
  a.ffn = c.ffn;
  a.max_k = c.max_k;
  a.ld_h = ld_h;
  if (c.ln) {
    a.ln_gamma = d_gamma.data();
    a.ln_beta = d_beta.data();
  }
  if (c.ln_partials) {
    a.ln_row_partials = d_partials.data();
    a.ln_partial_blocks = col_blocks;
  }
  launch_sparse_mlp_up(a, nullptr);
  const std::vector<__half> got = d_h.download();

  std::vector<__half> ref(got.size());
  for (__half& v : ref) v = __ushort_as_half(0xFFFF);
  SparseMlpUpArgs ra = a;
  ra.h = ref.data();
  ra.x = x.h.data();
  ra.w1 = w1.h.data();
  ra.b1 = b1.h.data();
  ra.idx = idx.data();
  if (c.ln) {
    ra.ln_gamma = gamma.h.data();
    ra.ln_beta = beta.h.data();
  }
  const int k_host = c.device_k ? c.k : c.max_k;
  ra.k_dev = &k_host;
  sparse_mlp_up_ref(ra);

  // Compare the written block [B, k]; everything past k in each row must still be the poison.
  const int k_eff = c.device_k ? c.k : c.max_k;
  std::vector<__half> got_k, untouched;
  std::vector<float> ref_k;
  for (int b = 0; b < c.B; ++b)
    for (int j = 0; j < ld_h; ++j) {
      const size_t o = static_cast<size_t>(b) * ld_h + j;
      if (j < k_eff) {
        got_k.push_back(got[o]);
        ref_k.push_back(__half2float(ref[o]));
      } else {
        untouched.push_back(got[o]);
      }
    }
  EXPECT_TRUE(test::expect_close(got_k, ref_k, DType::kF16, "h"));
  for (const __half v : untouched) ASSERT_EQ(__half_as_ushort(v), 0xFFFF) << "h written past k";
  // The software-pipelined k loop (SparseMlpUpArgs::pipelined, kernel_bench's up+pipe): the same bits.
  d_h.poison();
  a.pipelined = true;
  launch_sparse_mlp_up(a, nullptr);
  const std::vector<__half> got_pipe = d_h.download();
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(__half_as_ushort(got_pipe[i]), __half_as_ushort(got[i])) << "pipelined h differs at " << i;
  // With L2 warm blocks in front (l2_warmup.cuh; here W1's rows at the selection, half a row's budget cut): the
  // same bits.
  d_h.poison();
  a.pipelined = false;
  a.warm_next = L2Warmup{reinterpret_cast<const char*>(d_w1.data()), d_idx.data(), a.k_dev, c.max_k, c.ffn,
                         static_cast<unsigned>(c.d) * 2, 0, 1, static_cast<long long>(c.k) * c.d + 16};
  a.warm_sms = 132;
  launch_sparse_mlp_up(a, nullptr);
  const std::vector<__half> got_warm = d_h.download();
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_EQ(__half_as_ushort(got_warm[i]), __half_as_ushort(got[i])) << "h with warm blocks differs at " << i;
}

INSTANTIATE_TEST_SUITE_P(Cases, SparseMlpUpTest, ::testing::Range(0, static_cast<int>(std::size(kUpCases))));

TEST(SparseMlpUpErrors, RejectsBadShapes) {
  DV_SKIP_WITHOUT_GPU();
  DeviceBuffer<__half> buf(4096);
  DeviceBuffer<int> idx(std::vector<int>{0});
  SparseMlpUpArgs a;
  a.h = buf.data();
  a.x = buf.data();
  a.w1 = buf.data();
  a.idx = idx.data();
  a.B = 1;
  a.ffn = 1;
  a.max_k = 1;
  a.ld_h = 1;
  for (const int d : {1, 33, 111, 132}) {
    a.d = d;
    EXPECT_THROW(launch_sparse_mlp_up(a, nullptr), dv::Error) << "d = " << d;
  }
  a.d = 8;
  a.B = 33;
  EXPECT_THROW(launch_sparse_mlp_up(a, nullptr), dv::Error);
  a.B = 0;
  EXPECT_THROW(launch_sparse_mlp_up(a, nullptr), dv::Error);
  a.B = 1;
  a.ln_gamma = buf.data();  // the fused layer norm needs both gamma and beta
  EXPECT_THROW(launch_sparse_mlp_up(a, nullptr), dv::Error);
  a.ln_beta = buf.data() + 1;  // 2-byte aligned
  EXPECT_THROW(launch_sparse_mlp_up(a, nullptr), dv::Error);
}

// ---- sparse_mlp_down -------------------------------------------------------------------------------------

struct DownCase {
  int B, d, n_index, k, max_k, rows_per_index;  // n_index: number of selectable indices (neurons or heads)
  bool repeats, in_place;
};

const DownCase kDownCases[] = {
    {1, 8, 37, 1, 1, 1, false, false},        {1, 40, 37, 0, 5, 1, false, false},
    {3, 136, 111, 111, 111, 1, true, false},  {1, 768, 3001, 1500, 3000, 1, false, false},
    {8, 1000, 1001, 333, 1001, 1, true, true}, {16, 768, 300, 77, 100, 1, false, false},
    {17, 776, 2003, 1000, 2003, 1, false, false}, {32, 1000, 2003, 2003, 2003, 1, false, true},
    {32, 40, 5, 0, 5, 1, false, false},       {1, 768, 12, 5, 12, 64, false, false},
    {4, 1000, 40, 20, 40, 64, false, true},   {3, 136, 50, 17, 50, 3, true, false},
    {32, 2048, 20, 9, 20, 128, false, false}, {20, 264, 60, 40, 60, 1, false, false},
    // Split paths at B = 2 (the ordered finalize's two ranges of splits), k = 0 over many splits, and a
    // device k that leaves most splits empty.
    {2, 1000, 3001, 2900, 3000, 1, true, true}, {2, 264, 3001, 0, 3000, 1, false, false},
    {1, 1000, 40, 3, 40, 64, false, false},
};

// (case, ordered_sums)
class SparseMlpDownTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(SparseMlpDownTest, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  const auto [ci, ordered] = GetParam();
  const DownCase c = kDownCases[ci];
  const int R = c.rows_per_index;
  const SparseMlpDownPlan plan = plan_sparse_mlp_down(c.B, c.d, c.max_k, R, 0, ordered);
  const uint64_t seed = test::case_seed("sparse_mlp_down", ci);
  SCOPED_TRACE(::testing::Message() << "case " << ci << (ordered ? " ordered" : " fixed") << " B=" << c.B
                                    << " d=" << c.d << " k=" << c.k << " max_k=" << c.max_k << " R=" << R
                                    << " splits=" << plan.splits << " seed=" << seed);
  std::mt19937_64 rng(seed);
  const int rows = c.n_index * R;
  const int ld_h = (c.max_k * R + 3) / 4 * 4 + 4;
  const auto w2t = test::random_halves(static_cast<size_t>(rows) * c.d, rng);
  const auto b2 = test::random_halves(static_cast<size_t>(c.d), rng);
  const auto resid = test::random_halves(static_cast<size_t>(c.B) * c.d, rng);
  // h past k*R is NaN: the kernel must not read it.
  std::vector<__half> h = test::random_halves(static_cast<size_t>(c.B) * ld_h, rng).h;
  for (int b = 0; b < c.B; ++b)
    for (int q = c.k * R; q < ld_h; ++q) h[static_cast<size_t>(b) * ld_h + q] = __ushort_as_half(0xFFFF);
  const std::vector<int> idx = make_idx(c.n_index, c.k, c.max_k, c.repeats, rng);

  DeviceBuffer<__half> d_w2t(w2t.h), d_b2(b2.h), d_resid(resid.h), d_h(h);
  DeviceBuffer<int> d_idx(idx), d_k(std::vector<int>{c.k});
  DeviceBuffer<__half> d_out(static_cast<size_t>(c.B) * c.d);
  // Sized for the ordered scheme, which holds the fixed scheme's area: both run on it below, also at B = 1.
  DeviceBuffer<unsigned char> d_ws(std::max(plan_sparse_mlp_down(c.B, c.d, c.max_k, R, 0, true).workspace_bytes,
                                            plan_sparse_mlp_down(1, c.d, c.max_k, R, 0, true).workspace_bytes));
  d_ws.zero();

  SparseMlpDownArgs a;
  a.out = c.in_place ? d_resid.data() : d_out.data();
  a.workspace = d_ws.data();
  a.resid = d_resid.data();
  a.b2 = d_b2.data();
  a.h = d_h.data();
  a.w2t = d_w2t.data();
  a.idx = d_idx.data();
  a.k_dev = d_k.data();
  a.B = c.B;
  a.d = c.d;
  a.ffn_rows = rows;
  a.max_k = c.max_k;
  a.ld_h = ld_h;
  a.rows_per_index = R;
  a.ordered_sums = ordered;

  std::vector<__half> ref(static_cast<size_t>(c.B) * c.d);
  SparseMlpDownArgs ra = a;
  ra.out = ref.data();
  ra.workspace = nullptr;
  ra.resid = resid.h.data();
  ra.b2 = b2.h.data();
  ra.h = h.data();
  ra.w2t = w2t.h.data();
  ra.idx = idx.data();
  ra.k_dev = &c.k;
  sparse_mlp_down_ref(ra);
  const std::vector<float> ref_f = test::to_float(ref);

  // Three times: later launches check that the first left the workspace zeroed (fixed) and the counters reset
  // (both), and that the split sums give the same bits whatever order the splits arrive in. Then the other
  // scheme once on the same workspace: neither may leave the other a dirty area.
  std::vector<__half> first;
  for (int run = 0; run < 4; ++run) {
    SCOPED_TRACE(::testing::Message() << "run " << run);
    if (c.in_place) {
      d_resid.upload(resid.h);
    } else {
      d_out.poison();
    }
    a.ordered_sums = run < 3 ? ordered : !ordered;
    launch_sparse_mlp_down(a, nullptr);
    const std::vector<__half> got = c.in_place ? d_resid.download() : d_out.download();
    EXPECT_TRUE(test::expect_close(got, ref_f, DType::kF16, "out"));
    if (run == 0) first = got;
    if (run < 3) {
      EXPECT_EQ(std::memcmp(got.data(), first.data(), got.size() * sizeof(__half)), 0) << "bits differ from run 0";
    }
  }
  // One workspace serves every batch size under either scheme: an ordered launch at B = 1 (its partials) must
  // not disturb the case's own launch after it (it did when the layout depended on B).
  a.B = 1;
  a.ordered_sums = true;
  launch_sparse_mlp_down(a, nullptr);
  a.B = c.B;
  a.ordered_sums = ordered;
  if (c.in_place) d_resid.upload(resid.h);
  launch_sparse_mlp_down(a, nullptr);
  EXPECT_TRUE(test::expect_close(c.in_place ? d_resid.download() : d_out.download(), ref_f, DType::kF16,
                                 "out after a B = 1 ordered launch on the same workspace"));
  // Fewer, longer units (target_units, kernel_bench's down_ordered_u* rows) on the same workspace.
  for (const int units : {132, 7}) {
    SCOPED_TRACE(::testing::Message() << "target_units " << units);
    a.target_units = units;
    if (c.in_place) {
      d_resid.upload(resid.h);
    } else {
      d_out.poison();
    }
    launch_sparse_mlp_down(a, nullptr);
    EXPECT_TRUE(test::expect_close(c.in_place ? d_resid.download() : d_out.download(), ref_f, DType::kF16, "out"));
  }
  a.target_units = kSparseMlpDownTargetUnits + 1;  // more units than a default-sized workspace holds
  EXPECT_THROW(launch_sparse_mlp_down(a, nullptr), dv::Error);
  a.target_units = 0;
  test::check_row_partials(a, plan.col_blocks, first, [&] {
    if (c.in_place) {
      d_resid.upload(resid.h);
    } else {
      d_out.poison();
    }
    launch_sparse_mlp_down(a, nullptr);
    return c.in_place ? d_resid.download() : d_out.download();
  });
}

INSTANTIATE_TEST_SUITE_P(Cases, SparseMlpDownTest,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kDownCases))),
                                            ::testing::Bool()),
                         test::case_and_scheme_name);

TEST(SparseMlpDownPlanTest, CoversBothPaths) {
  // The case table above relies on exercising both the direct and the split path.
  EXPECT_EQ(plan_sparse_mlp_down(1, 8, 1, 1).splits, 1);
  EXPECT_EQ(plan_sparse_mlp_down(1, 8, 1, 1).workspace_bytes, 0u);
  const SparseMlpDownPlan split = plan_sparse_mlp_down(1, 768, 3000, 1);
  EXPECT_GT(split.splits, 1);
  EXPECT_EQ(split.workspace_bytes, kSplitSumMaxRows * 768 * sizeof(FixedSum) + split.col_blocks * sizeof(int));
  // The ordered scheme: the same splits, its partials area after the fixed scheme's sums and counters.
  const SparseMlpDownPlan ordered = plan_sparse_mlp_down(1, 768, 3000, 1, 0, true);
  EXPECT_EQ(ordered.splits, split.splits);
  EXPECT_EQ(ordered.workspace_bytes, sparse_mlp_down_partials_offset(768, split.col_blocks) +
                                         static_cast<size_t>(split.splits) * 768 * sizeof(float));
  EXPECT_GE(sparse_mlp_down_partials_offset(768, split.col_blocks), split.workspace_bytes);
}

TEST(SparseMlpDownErrors, RejectsBadShapes) {
  DV_SKIP_WITHOUT_GPU();
  DeviceBuffer<__half> buf(4096);
  DeviceBuffer<int> idx(std::vector<int>{0});
  SparseMlpDownArgs a;
  a.out = buf.data();
  a.h = buf.data();
  a.w2t = buf.data();
  a.idx = idx.data();
  a.B = 1;
  a.ffn_rows = 1;
  a.max_k = 1;
  a.ld_h = 4;
  for (const int d : {1, 33, 111, 132}) {
    a.d = d;
    EXPECT_THROW(launch_sparse_mlp_down(a, nullptr), dv::Error) << "d = " << d;
  }
  a.d = 8;
  a.ld_h = 3;  // not a multiple of 4
  EXPECT_THROW(launch_sparse_mlp_down(a, nullptr), dv::Error);
  a.ld_h = 4;
  a.rows_per_index = 8;  // ld_h < max_k * rows_per_index
  EXPECT_THROW(launch_sparse_mlp_down(a, nullptr), dv::Error);
  a.rows_per_index = 1;
  DeviceBuffer<float> partials(8);
  a.row_partials = partials.data() + 1;  // 4-byte aligned: one float2 per slice and row needs 8
  EXPECT_THROW(launch_sparse_mlp_down(a, nullptr), dv::Error);
}

}  // namespace
}  // namespace dv::kernels
