// test_down_row_partials.cpp: sparse_mlp_down's optional row_partials output (the per-512-column-slice fp32 sum
// and sum of squares of each batch row of out, for a fused layer norm downstream), table driven: against the
// plain sums of the output the launch wrote (sparse_mlp_down_row_partials_ref), with out itself bit-identical to
// the launch without row_partials (the statistics instantiation must not change the product) and to the
// reference within fp16 tolerance, the partials the same bits over repeated launches (a fixed reduction order).
// Widths below, at and past one slice and not multiples of 512; batch 1..32 (both batch tiles); splits == 1
// and > 1 under both split-sum schemes; rows_per_index > 1 (W_o); an empty selection; in-place residual.
// The partials buffer is NaN-poisoned before every launch.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <tuple>
#include <vector>

#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv::kernels {
namespace {

using test::DeviceBuffer;
using test::DType;

struct StatsCase {
  int B, d, n_index, k, max_k, rows_per_index;
  bool in_place;
};

const StatsCase kStatsCases[] = {
    {1, 8, 37, 1, 1, 1, false},         {1, 1000, 3001, 1500, 3000, 1, false},  // 1 split; many splits
    {3, 136, 111, 111, 111, 1, true},   {8, 1000, 1001, 333, 1001, 1, true},
    {16, 776, 300, 77, 100, 1, false},  {17, 776, 2003, 1000, 2003, 1, false},
    {32, 1000, 2003, 2003, 2003, 1, true}, {32, 40, 5, 0, 5, 1, false},
    {2, 1000, 3001, 2900, 3000, 1, false}, {2, 264, 3001, 0, 3000, 1, false},
    {1, 5120, 40, 20, 40, 128, true},   {4, 1000, 40, 20, 40, 64, false},
    {20, 1536, 60, 40, 60, 1, false},   {1, 512, 12, 5, 12, 64, false},
};

// (case, ordered_sums)
class SparseMlpDownRowPartialsTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(SparseMlpDownRowPartialsTest, SumsTheWrittenOutput) {
  DV_SKIP_WITHOUT_GPU();
  const auto [ci, ordered] = GetParam();
  const StatsCase c = kStatsCases[ci];
  const int R = c.rows_per_index;
  const SparseMlpDownPlan plan = plan_sparse_mlp_down(c.B, c.d, c.max_k, R, 0, ordered);
  const uint64_t seed = test::case_seed("sparse_mlp_down_row_partials", ci);
  SCOPED_TRACE(::testing::Message() << "case " << ci << (ordered ? " ordered" : " fixed") << " B=" << c.B
                                    << " d=" << c.d << " k=" << c.k << " R=" << R << " splits=" << plan.splits
                                    << " seed=" << seed);
  std::mt19937_64 rng(seed);
  const int rows = c.n_index * R;
  const int ld_h = (c.max_k * R + 3) / 4 * 4;
  const auto w2t = test::random_halves(static_cast<size_t>(rows) * c.d, rng);
  const auto b2 = test::random_halves(static_cast<size_t>(c.d), rng);
  const auto resid = test::random_halves(static_cast<size_t>(c.B) * c.d, rng);
  const auto h = test::random_halves(static_cast<size_t>(c.B) * std::max(ld_h, 4), rng);
  std::vector<int> idx = test::random_indices(c.n_index, c.k, rng);
  idx.resize(static_cast<size_t>(std::max(c.max_k, 1)), 0);

  DeviceBuffer<__half> d_w2t(w2t.h), d_b2(b2.h), d_resid(resid.h), d_h(h.h);
  DeviceBuffer<int> d_idx(idx), d_k(std::vector<int>{c.k});
  DeviceBuffer<__half> d_out(static_cast<size_t>(c.B) * c.d);
  DeviceBuffer<float> d_partials(2 * static_cast<size_t>(plan.col_blocks) * c.B);
  DeviceBuffer<unsigned char> d_ws(std::max<size_t>(plan.workspace_bytes, 16));
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
  a.ld_h = std::max(ld_h, 4);
  a.rows_per_index = R;
  a.ordered_sums = ordered;
  auto run = [&](bool stats) {
    if (c.in_place) d_resid.upload(resid.h);
    d_out.poison();
    d_partials.poison();
    a.row_partials = stats ? d_partials.data() : nullptr;
    launch_sparse_mlp_down(a, nullptr);
    return c.in_place ? d_resid.download() : d_out.download();
  };

  const std::vector<__half> plain = run(false);
  const std::vector<__half> got = run(true);
  ASSERT_EQ(std::memcmp(got.data(), plain.data(), got.size() * sizeof(__half)), 0)
      << "out differs from the launch without row_partials";
  std::vector<__half> ref(got.size());
  SparseMlpDownArgs ra = a;
  ra.out = ref.data();
  ra.workspace = nullptr;
  ra.row_partials = nullptr;
  ra.resid = resid.h.data();
  ra.b2 = b2.h.data();
  ra.h = h.h.data();
  ra.w2t = w2t.h.data();
  ra.idx = idx.data();
  ra.k_dev = &c.k;
  sparse_mlp_down_ref(ra);
  EXPECT_TRUE(test::expect_close(got, test::to_float(ref), DType::kF16, "out"));

  // The partials against double sums of the very values written: fp32 summation error only, bounded by the
  // fp32 tolerance of the sum of magnitudes (the sum itself may cancel).
  const std::vector<float> partials = d_partials.download();
  std::vector<float> want(partials.size());
  sparse_mlp_down_row_partials_ref(got.data(), c.B, c.d, want.data());
  const double tol = test::tolerance(DType::kF32);
  int misses = 0;
  for (int cb = 0; cb < plan.col_blocks; ++cb)
    for (int b = 0; b < c.B; ++b) {
      const size_t o = 2 * (static_cast<size_t>(cb) * c.B + b);
      double mag = 0;
      for (int col = cb * kSparseMlpDownUnitCols; col < std::min(c.d, (cb + 1) * kSparseMlpDownUnitCols); ++col)
        mag += std::fabs(__half2float(got[static_cast<size_t>(b) * c.d + col]));
      const bool ok_s = std::fabs(partials[o] - want[o]) <= tol * std::max(mag, 1e-3);
      const bool ok_ss = std::fabs(partials[o + 1] - want[o + 1]) <= tol * std::max<double>(want[o + 1], 1e-3);
      if ((!ok_s || !ok_ss) && ++misses <= 8)
        ADD_FAILURE() << "slice " << cb << " row " << b << ": got (" << partials[o] << ", " << partials[o + 1]
                      << ") want (" << want[o] << ", " << want[o + 1] << ")";
    }
  EXPECT_EQ(misses, 0);

  // A fixed reduction order: the same bits again (the splits arrive in another order).
  for (int rep = 0; rep < 2; ++rep) {
    run(true);
    const std::vector<float> again = d_partials.download();
    EXPECT_EQ(std::memcmp(again.data(), partials.data(), again.size() * sizeof(float)), 0) << "repeat " << rep;
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, SparseMlpDownRowPartialsTest,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kStatsCases))),
                                            ::testing::Bool()),
                         test::case_and_scheme_name);

// The table above must reach both the one-split and the split paths.
TEST(SparseMlpDownRowPartialsCases, CoverBothSplitPaths) {
  bool one = false, many = false;
  for (const StatsCase& c : kStatsCases) {
    const int splits = plan_sparse_mlp_down(c.B, c.d, c.max_k, c.rows_per_index).splits;
    one = one || splits == 1;
    many = many || splits > 1;
  }
  EXPECT_TRUE(one);
  EXPECT_TRUE(many);
}

TEST(SparseMlpDownRowPartialsErrors, RejectsMisalignedPartials) {
  DV_SKIP_WITHOUT_GPU();
  DeviceBuffer<__half> buf(4096);
  DeviceBuffer<float> partials(64);
  DeviceBuffer<int> idx(std::vector<int>{0});
  SparseMlpDownArgs a;
  a.out = buf.data();
  a.h = buf.data();
  a.w2t = buf.data();
  a.idx = idx.data();
  a.B = 1;
  a.d = 8;
  a.ffn_rows = 1;
  a.max_k = 1;
  a.ld_h = 4;
  a.row_partials = partials.data() + 1;  // 4-byte aligned
  EXPECT_THROW(launch_sparse_mlp_down(a, nullptr), dv::Error);
}

}  // namespace
}  // namespace dv::kernels
