// test_fused_mlp.cpp: fused_mlp (LN + fc1 + ReLU + fc2 + bias + residual in one op) against its C++
// reference, table driven. Odd d and ffn, k = 0 / 1 / some / all, unsorted and repeated indices, the identity
// selection (the dense MLP), device k below max_k with a poisoned idx tail, batch 1..32 over the three batch
// tiles, the layer norm fused and not, x staged in shared memory and streamed from global memory (B*d too
// large to stage), the tensor-parallel form (no bias, no residual), and SM counts that give one unit per few
// neurons down to slices of 150 (several fc1 rounds per warp). Every case runs under both split-sum schemes
// (fixed-point reductions and ordered partials), three times to identical bits (later launches check that the
// first left its workspace's zeroed part zero), then once under the other scheme on the same workspace.
// Outputs are NaN-poisoned before each launch. A NaN input stays non-finite in the output through 256 units'
// sums under both schemes (fixed_sum.cuh's wrap).
#include <gtest/gtest.h>

#include <climits>
#include <cmath>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/fused_mlp/fused_mlp.cuh"
#include "kernels/fused_mlp/fused_mlp_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv::kernels {
namespace {

using test::DeviceBuffer;
using test::DType;

enum class Sel { kIdentity, kUnique, kRepeats };

struct FusedCase {
  int B, d, ffn, k, max_k;
  Sel sel;
  bool ln;          // the layer norm fused (x is then the residual stream)
  bool device_k;    // k_dev given (else k = max_k)
  bool bias_resid;  // b1, b2 and resid given (false: the tensor-parallel partial sum)
  int sms;          // the plan's SM count
};

const FusedCase kCases[] = {
    {1, 8, 37, 1, 1, Sel::kUnique, true, true, true, 132},
    {1, 40, 37, 0, 5, Sel::kUnique, true, true, true, 132},          // empty selection: out = resid + b2
    {3, 136, 111, 111, 111, Sel::kUnique, false, false, true, 132},   // all neurons, unsorted
    {1, 768, 1001, 50, 64, Sel::kUnique, true, true, true, 132},
    {8, 1000, 1001, 333, 400, Sel::kRepeats, true, true, true, 132},
    {9, 1000, 517, 517, 517, Sel::kIdentity, true, false, true, 132},  // dense, batch tile 16
    {16, 768, 300, 77, 100, Sel::kUnique, false, true, true, 132},
    {17, 776, 300, 150, 300, Sel::kUnique, true, true, true, 132},     // batch tile 32
    {32, 1000, 2003, 1000, 1200, Sel::kUnique, true, true, true, 132},
    {32, 40, 5, 5, 5, Sel::kIdentity, false, false, true, 132},
    {5, 2048, 3001, 300, 300, Sel::kUnique, true, true, true, 1},      // 2 units of 150: 3 fc1 rounds
    {2, 1016, 64, 63, 64, Sel::kUnique, true, true, true, 132},
    {4, 1024, 4096, 4096, 4096, Sel::kIdentity, true, false, true, 132},
    {32, 2048, 600, 600, 600, Sel::kIdentity, false, false, true, 132},  // x too large to stage: streamed
    {24, 1000, 300, 200, 300, Sel::kRepeats, false, true, true, 1},
    {1, 9216, 64, 64, 64, Sel::kUnique, true, false, true, 132},
    {2, 264, 100, 50, 100, Sel::kUnique, true, true, false, 132},      // partial sum: no b1, b2, resid
    {7, 520, 90, 90, 90, Sel::kIdentity, true, false, true, 3},
    {12, 4096, 700, 0, 700, Sel::kUnique, false, true, true, 132},
};

std::vector<int> make_selection(const FusedCase& c, std::mt19937_64& rng) {
  if (c.sel == Sel::kIdentity) return {};
  std::vector<int> idx = test::random_indices(c.ffn, c.k, rng);
  if (c.sel == Sel::kRepeats && c.k >= 2)
    for (int j = 0; j < c.k; j += 3) idx[static_cast<size_t>(j)] = idx[static_cast<size_t>(c.k - 1 - j)];
  idx.resize(static_cast<size_t>(c.max_k), INT_MAX / 2);  // a read past k would fault
  return idx;
}

// The workspace's part that must be zero between launches (the ordered partials area after it needs not).
void expect_zeroed_part(const DeviceBuffer<unsigned char>& ws, int d) {
  const std::vector<unsigned char> bytes = ws.download();
  const size_t zeroed = fused_mlp_partials_offset(d);
  ASSERT_LE(zeroed, bytes.size());
  for (size_t i = 0; i < zeroed; ++i) ASSERT_EQ(bytes[i], 0) << "workspace byte " << i << " left non-zero";
}

// (case, ordered_sums)
class FusedMlpTest : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(FusedMlpTest, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  const auto [ci, ordered] = GetParam();
  const FusedCase c = kCases[ci];
  const uint64_t seed = test::case_seed("fused_mlp", ci);
  const FusedMlpPlan plan = plan_fused_mlp(c.B, c.d, c.max_k, c.sms);
  SCOPED_TRACE(::testing::Message() << "case " << ci << (ordered ? " ordered" : " fixed") << " B=" << c.B
                                    << " d=" << c.d << " ffn=" << c.ffn
                                    << " k=" << c.k << " max_k=" << c.max_k << " ln=" << c.ln
                                    << " units=" << plan.units << " slice=" << plan.slice_max
                                    << " stage_x=" << plan.stage_x << " seed=" << seed);
  ASSERT_TRUE(!c.ln || plan.stage_x) << "case table: LN fused needs x staged";
  std::mt19937_64 rng(seed);
  const float s1 = 1.f / std::sqrt(static_cast<float>(c.d)), s2 = 1.f / std::sqrt(static_cast<float>(c.k + 1));
  // A residual stream with an offset and spread, so the fused LN's mean and variance matter.
  const auto x = test::random_halves(static_cast<size_t>(c.B) * c.d, rng, c.ln ? -3.f : -1.f, c.ln ? 5.f : 1.f);
  const auto gamma = test::random_halves(static_cast<size_t>(c.d), rng, 0.5f, 1.5f);
  const auto beta = test::random_halves(static_cast<size_t>(c.d), rng, -0.2f, 0.2f);
  const auto w1 = test::random_halves(static_cast<size_t>(c.ffn) * c.d, rng, -s1, s1);
  const auto b1 = test::random_halves(static_cast<size_t>(c.ffn), rng, -0.3f, 0.3f);
  const auto w2t = test::random_halves(static_cast<size_t>(c.ffn) * c.d, rng, -s2, s2);
  const auto b2 = test::random_halves(static_cast<size_t>(c.d), rng, -0.3f, 0.3f);
  const auto resid = test::random_halves(static_cast<size_t>(c.B) * c.d, rng);
  const std::vector<int> idx = make_selection(c, rng);

  DeviceBuffer<__half> d_x(x.h), d_gamma(gamma.h), d_beta(beta.h), d_w1(w1.h), d_b1(b1.h), d_w2t(w2t.h),
      d_b2(b2.h), d_resid(resid.h);
  DeviceBuffer<int> d_idx(idx), d_k(std::vector<int>{c.k});
  DeviceBuffer<__half> d_out(static_cast<size_t>(c.B) * c.d);
  // Sized for the ordered scheme, which holds the fixed scheme's area: both run on it below.
  DeviceBuffer<unsigned char> d_ws(fused_mlp_workspace_bytes(c.B, c.d, plan.units));
  d_ws.zero();

  FusedMlpArgs a;
  a.out = d_out.data();
  a.workspace = d_ws.data();
  a.x = d_x.data();
  a.gamma = c.ln ? d_gamma.data() : nullptr;
  a.beta = c.ln ? d_beta.data() : nullptr;
  a.w1 = d_w1.data();
  a.b1 = c.bias_resid ? d_b1.data() : nullptr;
  a.w2t = d_w2t.data();
  a.b2 = c.bias_resid ? d_b2.data() : nullptr;
  a.resid = c.bias_resid ? d_resid.data() : nullptr;
  a.idx = c.sel == Sel::kIdentity ? nullptr : d_idx.data();
  a.k_dev = c.device_k ? d_k.data() : nullptr;
  a.B = c.B;
  a.d = c.d;
  a.ffn = c.ffn;
  a.max_k = c.sel == Sel::kIdentity ? c.k : c.max_k;
  a.num_sms = c.sms;
  a.ordered_sums = ordered;

  std::vector<__half> ref(static_cast<size_t>(c.B) * c.d);
  FusedMlpArgs ra = a;
  ra.out = ref.data();
  ra.workspace = nullptr;
  ra.x = x.h.data();
  ra.gamma = c.ln ? gamma.h.data() : nullptr;
  ra.beta = c.ln ? beta.h.data() : nullptr;
  ra.w1 = w1.h.data();
  ra.b1 = c.bias_resid ? b1.h.data() : nullptr;
  ra.w2t = w2t.h.data();
  ra.b2 = c.bias_resid ? b2.h.data() : nullptr;
  ra.resid = c.bias_resid ? resid.h.data() : nullptr;
  ra.idx = c.sel == Sel::kIdentity ? nullptr : idx.data();
  ra.k_dev = c.device_k ? &c.k : nullptr;
  fused_mlp_ref(ra);
  const std::vector<float> ref_f = test::to_float(ref);

  // Three launches: units arrive in a different order each time, and either scheme's sums must still give the
  // same bits (the graph and persistent paths, PDL on and off, pick the same top-k downstream). Then the other
  // scheme once on the same workspace: neither may leave the other a dirty area or counter.
  std::vector<__half> first;
  for (int run = 0; run < 4; ++run) {
    SCOPED_TRACE(::testing::Message() << "run " << run);
    d_out.poison();
    a.ordered_sums = run < 3 ? ordered : !ordered;
    launch_fused_mlp(a, nullptr);
    const std::vector<__half> got = d_out.download();
    EXPECT_TRUE(test::expect_close(got, ref_f, DType::kF16, "out"));
    if (run == 0) first = got;
    if (run < 3) {
      EXPECT_EQ(std::memcmp(got.data(), first.data(), got.size() * sizeof(__half)), 0) << "bits differ from run 0";
    }
  }
  expect_zeroed_part(d_ws, c.d);
}

INSTANTIATE_TEST_SUITE_P(Cases, FusedMlpTest,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(std::size(kCases))),
                                            ::testing::Bool()),
                         test::case_and_scheme_name);

TEST(FusedMlpPlanTest, UnitsAndStaging) {
  // Batch 1, opt-13b at 10 %: slices of 8 neurons, two units per SM at most (one wave).
  const FusedMlpPlan p = plan_fused_mlp(1, 5120, 2048, 132);
  EXPECT_EQ(p.units, 256);
  EXPECT_EQ(p.slice_max, 8);
  EXPECT_TRUE(p.stage_x);
  // Dense opt-66b: one wave of 264 units; reductions stay under half the weight bytes.
  const FusedMlpPlan dense = plan_fused_mlp(8, 9216, 36864, 132);
  EXPECT_EQ(dense.units, 264);
  EXPECT_LE(dense.slice_max, kFusedMlpSliceCap);
  EXPECT_TRUE(fused_mlp_ln_fits(4, 9216));
  EXPECT_FALSE(fused_mlp_ln_fits(32, 2048));
  EXPECT_EQ(plan_fused_mlp(1, 64, 0, 132).units, 1);  // k = 0: one unit writes out
}

// A NaN in x makes every neuron's h NaN, so each of the plan's units adds a non-finite partial to every output
// element. 256 units (the plan at opt-13b, MLP 10 %, batch 1): with 2^56 as fixed_sum's non-finite marker the
// 256 markers wrapped to exactly 0 and out came back finite (resid + b2); it must stay non-finite, under both
// split-sum schemes.
class FusedMlpNonFinite : public ::testing::TestWithParam<bool> {};

TEST_P(FusedMlpNonFinite, NanInputStaysNonFiniteOver256Units) {
  DV_SKIP_WITHOUT_GPU();
  const int B = 1, d = 64, ffn = 4096, sms = 128;
  const FusedMlpPlan plan = plan_fused_mlp(B, d, ffn, sms);
  ASSERT_EQ(plan.units, 256);
  std::mt19937_64 rng(test::case_seed("fused_mlp_nan", 0));
  auto x = test::random_halves(static_cast<size_t>(B) * d, rng);
  x.h[5] = __float2half(NAN);
  const auto w1 = test::random_halves(static_cast<size_t>(ffn) * d, rng, -0.1f, 0.1f);
  const auto w2t = test::random_halves(static_cast<size_t>(ffn) * d, rng, -0.1f, 0.1f);
  const auto b2 = test::random_halves(static_cast<size_t>(d), rng);
  const auto resid = test::random_halves(static_cast<size_t>(B) * d, rng);
  DeviceBuffer<__half> d_x(x.h), d_w1(w1.h), d_w2t(w2t.h), d_b2(b2.h), d_resid(resid.h);
  DeviceBuffer<__half> d_out(static_cast<size_t>(B) * d);
  DeviceBuffer<unsigned char> d_ws(fused_mlp_workspace_bytes(B, d, plan.units));
  d_ws.zero();
  FusedMlpArgs a;
  a.out = d_out.data();
  a.workspace = d_ws.data();
  a.x = d_x.data();
  a.w1 = d_w1.data();
  a.w2t = d_w2t.data();
  a.b2 = d_b2.data();
  a.resid = d_resid.data();
  a.B = B;
  a.d = d;
  a.ffn = ffn;
  a.max_k = ffn;  // the identity selection: every unit has a slice
  a.num_sms = sms;
  a.ordered_sums = GetParam();
  launch_fused_mlp(a, nullptr);
  const std::vector<float> got = test::to_float(d_out.download());
  for (int c = 0; c < d; ++c) EXPECT_FALSE(std::isfinite(got[static_cast<size_t>(c)])) << "column " << c;
  expect_zeroed_part(d_ws, d);
}

INSTANTIATE_TEST_SUITE_P(Schemes, FusedMlpNonFinite, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return std::string(info.param ? "ordered" : "fixed");
                         });

TEST(FusedMlpErrors, RejectsBadArgs) {
  DV_SKIP_WITHOUT_GPU();
  DeviceBuffer<__half> buf(1 << 16), out(1 << 12);
  DeviceBuffer<unsigned char> ws(fused_mlp_workspace_bytes(32, 2048));
  FusedMlpArgs a;
  a.out = out.data();
  a.workspace = ws.data();
  a.x = buf.data();
  a.w1 = buf.data();
  a.w2t = buf.data();
  a.B = 1;
  a.d = 8;
  a.ffn = 1;
  a.max_k = 1;
  for (const int d : {1, 33, 111, 132}) {
    a.d = d;
    EXPECT_THROW(launch_fused_mlp(a, nullptr), dv::Error) << "d = " << d;
  }
  a.d = 8;
  a.B = 33;
  EXPECT_THROW(launch_fused_mlp(a, nullptr), dv::Error);
  a.B = 1;
  a.max_k = 2;  // identity selection past ffn
  EXPECT_THROW(launch_fused_mlp(a, nullptr), dv::Error);
  a.max_k = 1;
  a.out = buf.data();  // aliases x
  EXPECT_THROW(launch_fused_mlp(a, nullptr), dv::Error);
  a.out = out.data();
  a.gamma = buf.data();  // without beta
  EXPECT_THROW(launch_fused_mlp(a, nullptr), dv::Error);
  a.beta = buf.data();
  a.B = 32;
  a.d = 2048;  // LN fused but x cannot be staged
  EXPECT_THROW(launch_fused_mlp(a, nullptr), dv::Error);
  // More chunks than the ordered finalize can list (x and out of their own, so nothing else is wrong).
  DeviceBuffer<__half> big_x(kFusedMlpOrderedMaxD + 8), big_out(kFusedMlpOrderedMaxD + 8);
  a.B = 1;
  a.d = kFusedMlpOrderedMaxD + 8;
  a.x = big_x.data();
  a.out = big_out.data();
  a.gamma = a.beta = nullptr;
  a.ordered_sums = true;
  EXPECT_THROW(launch_fused_mlp(a, nullptr), dv::Error);
}

}  // namespace
}  // namespace dv::kernels
