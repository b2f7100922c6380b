// test_lowrank_predictor.cpp: the predictor's three ops (z, scores + histogram, selection) against the C++
// reference, fp16 and int8 weights, and the previous three-launch chain on the same table. z and scores are
// compared with fp16 tolerance; the selection exactly (lowrank_test_util.h). Cases: B = 1..32 (every batch
// tile), odd n and d, k = 0 / 1 / n, thresholds overflowing max_k, the per-row union and the crossover to
// dense. Each case runs twice on one workspace: the second run proves the first left its counters at zero.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <vector>

#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"
#include "tests/kernels/kernel_test_util.h"
#include "tests/kernels/lowrank_test_util.h"

namespace dv::kernels {
namespace {

using test::DeviceBuffer;
using test::DType;

constexpr SelectMode kTop = SelectMode::kTopK;
constexpr SelectMode kThr = SelectMode::kThreshold;
constexpr BatchUnion kMax = BatchUnion::kMaxLogit;
constexpr BatchUnion kRow = BatchUnion::kPerRow;
constexpr int kNever = INT_MAX;

struct PredCase {
  int B, d, r, n;
  SelectMode mode;
  int top_k;
  float t;
  int max_k;
  BatchUnion batch_union = kMax;
  int dense_above = kNever;
};

const PredCase kPredCases[] = {
    {1, 40, 8, 1, kTop, 1, 0.f, 1},
    {1, 768, 64, 1000, kTop, 100, 0.f, 128},
    {3, 1000, 200, 2003, kTop, 0, 0.f, 10},
    {8, 136, 96, 20000, kTop, 2000, 0.f, 2048},
    {32, 768, 64, 4096, kTop, 4096, 0.f, 4096},
    {9, 264, 16, 3001, kThr, 0, 0.5f, 3001},
    {17, 40, 24, 513, kThr, 0, 0.9f, 50},             // threshold overflowing max_k: the lowest 50
    {2, 1000, 1000, 300, kTop, 37, 0.f, 37},
    {1, 8, 8, 60000, kTop, 5000, 0.f, 5000},
    {16, 512, 128, 96, kTop, 48, 0.f, 96},
    {1, 5120, 1000, 20480, kTop, 2048, 0.f, 2048},    // opt-13b's MLP predictor
    {1, 2056, 136, 8191, kTop, 1, 0.f, 1},            // d past one z split, odd n
    {4, 2048, 256, 8192, kTop, 819, 0.f, 3276, kRow},  // per-row union: up to 4 * 819
    {2, 264, 40, 777, kTop, 77, 0.f, 154, kRow},
    {13, 520, 48, 1111, kTop, 111, 0.f, 1111, kRow, 500},  // union past the crossover: all 1111
    {32, 1024, 96, 3000, kTop, 300, 0.f, 3000, kRow, 2700},
    {24, 96, 32, 1025, kTop, 1025, 0.f, 1025, kRow},   // k = n per row
    {5, 128, 16, 2001, kThr, 0, 0.3f, 2001, kMax, 1000},  // threshold past the crossover
    {1, 4096, 512, 16384, kTop, 1638, 0.f, 16384, kMax, 1000},  // top-k past the crossover
};

// A case's sizes and selection with the given outputs and input; the weights are the caller's.
LowrankPredictorArgs predictor_args(int* idx, int* k, float* scores, __half* z, const __half* x, const PredCase& c) {
  LowrankPredictorArgs a;
  a.idx = idx;
  a.k_dev = k;
  a.scores = scores;
  a.z = z;
  a.x = x;
  a.B = c.B;
  a.d = c.d;
  a.r = c.r;
  a.n = c.n;
  a.mode = c.mode;
  a.top_k = c.top_k;
  a.threshold = c.t;
  a.max_k = c.max_k;
  a.batch_union = c.batch_union;
  a.dense_above = c.dense_above;
  return a;
}

// int8 weights and their scales, quantized by the reference rule, on the host and the device.
struct Int8Rows {
  std::vector<int8_t> q;
  std::vector<float> scale;
  DeviceBuffer<int8_t> d_q;
  DeviceBuffer<float> d_scale;
  Int8Rows(const std::vector<float>& w, int rows, int cols) : q(w.size()), scale(static_cast<size_t>(rows)) {
    quantize_rows_int8_ref(w.data(), rows, cols, q.data(), scale.data());
    d_q = DeviceBuffer<int8_t>(q);
    d_scale = DeviceBuffer<float>(scale);
  }
};

enum class Impl { kOps, kOpsInt8, kChain };

// One case: z, scores and the selection against the reference on the same weights, twice on one workspace.
void run_predictor_case(int ci, Impl impl) {
  const PredCase c = kPredCases[ci];
  const bool int8 = impl == Impl::kOpsInt8;
  const uint64_t seed = test::case_seed(int8 ? "lowrank_predictor_int8" : "lowrank_predictor", ci);
  SCOPED_TRACE(::testing::Message() << "case " << ci << (int8 ? " int8" : " fp16") << " B=" << c.B << " d=" << c.d
                                    << " r=" << c.r << " n=" << c.n << " top_k=" << c.top_k << " t=" << c.t
                                    << " per_row=" << (c.batch_union == kRow) << " seed=" << seed);
  std::mt19937_64 rng(seed);
  const auto x = test::random_halves(static_cast<size_t>(c.B) * c.d, rng);
  // Scaled so that z and the logits stay O(1): a threshold then selects a nontrivial fraction.
  const float sa = 1.f / std::sqrt(static_cast<float>(c.d)), sb = 3.f / std::sqrt(static_cast<float>(c.r));
  const auto wa = test::random_halves(static_cast<size_t>(c.r) * c.d, rng, -sa, sa);
  const auto wb = test::random_halves(static_cast<size_t>(c.n) * c.r, rng, -sb, sb);

  const size_t n_scores = lowrank_predictor_scores_floats(c.B, c.n, c.mode, c.batch_union);
  DeviceBuffer<__half> d_x(x.h), d_wa(wa.h), d_wb(wb.h), d_z(static_cast<size_t>(c.B) * c.r);
  DeviceBuffer<float> d_scores(n_scores);
  DeviceBuffer<int> d_idx(static_cast<size_t>(c.max_k)), d_k(1);
  DeviceBuffer<float> d_part(lowrank_predictor_partials_floats(c.B, c.d, c.r));
  DeviceBuffer<char> ws = test::zeroed_workspace(lowrank_predictor_workspace_bytes(c.B, c.d, c.r, c.n));

  LowrankPredictorArgs a = predictor_args(d_idx.data(), d_k.data(), d_scores.data(), d_z.data(), d_x.data(), c);
  a.workspace = ws.data();
  a.z_partials = d_part.data();
  a.wa = d_wa.data();
  a.wb = d_wb.data();
  std::optional<Int8Rows> qa, qb;
  if (int8) {
    qa.emplace(wa.f, c.r, c.d);
    qb.emplace(wb.f, c.n, c.r);
    a.wa = a.wb = nullptr;
    a.wa_i8 = qa->d_q.data();
    a.wa_scale = qa->d_scale.data();
    a.wb_i8 = qb->d_q.data();
    a.wb_scale = qb->d_scale.data();
  }

  std::vector<__half> z_ref(static_cast<size_t>(c.B) * c.r);
  std::vector<float> scores_ref(n_scores);
  std::vector<int> idx_ref(static_cast<size_t>(c.max_k));
  int k_ref = 0;
  LowrankPredictorArgs ra = a;
  ra.idx = idx_ref.data();
  ra.k_dev = &k_ref;
  ra.scores = scores_ref.data();
  ra.z = z_ref.data();
  ra.x = x.h.data();
  ra.wa = int8 ? nullptr : wa.h.data();
  ra.wb = int8 ? nullptr : wb.h.data();
  if (int8) {
    ra.wa_i8 = qa->q.data();
    ra.wa_scale = qa->scale.data();
    ra.wb_i8 = qb->q.data();
    ra.wb_scale = qb->scale.data();
  }
  lowrank_predictor_ref(ra);

  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(::testing::Message() << "run " << run);
    d_z.poison();
    d_scores.poison();
    d_idx.poison();
    d_k.poison();
    if (impl == Impl::kChain) {
      launch_lowrank_predictor_chain(a, nullptr);
    } else {
      launch_lowrank_predictor(a, nullptr);
    }
    const std::vector<float> scores = d_scores.download();
    EXPECT_TRUE(test::expect_close(d_z.download(), test::to_float(z_ref), DType::kF16, "z"));
    // Scores inherit z's fp16 rounding (one ulp apart in rare elements): fp16 tolerance.
    EXPECT_TRUE(test::expect_close(test::scores_without_padding(scores, c.n),
                                   test::scores_without_padding(scores_ref, c.n), DType::kF16, "scores"));
    test::expect_same_selection(scores, lowrank_selection_of(a), d_idx.download(), d_k.download()[0]);
  }
}

class LowrankPredictorTest : public ::testing::TestWithParam<int> {};

TEST_P(LowrankPredictorTest, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  run_predictor_case(GetParam(), Impl::kOps);
}

TEST_P(LowrankPredictorTest, Int8WeightsMatchReference) {
  DV_SKIP_WITHOUT_GPU();
  run_predictor_case(GetParam(), Impl::kOpsInt8);
}

// The previous chain, on the cases it supports (max-over-batch union, no crossover).
TEST_P(LowrankPredictorTest, ChainMatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  const PredCase& c = kPredCases[GetParam()];
  if (c.batch_union == kRow || c.dense_above != kNever) GTEST_SKIP() << "not a case of the chain";
  run_predictor_case(GetParam(), Impl::kChain);
}

INSTANTIATE_TEST_SUITE_P(Cases, LowrankPredictorTest, ::testing::Range(0, static_cast<int>(std::size(kPredCases))));

// The quantizer's contract: |q| <= 127, each nonzero row reaches 127, |w - scale q| <= scale / 2, zero rows
// give scale 0 and q 0. Host only.
TEST(LowrankPredictorRef, QuantizeRowsInt8) {
  std::mt19937_64 rng(test::case_seed("quantize_rows_int8", 0));
  const int rows = 37, cols = 131;
  std::vector<float> w = test::random_floats(static_cast<size_t>(rows) * cols, rng, -3.f, 3.f);
  for (int c = 0; c < cols; ++c) w[static_cast<size_t>(5) * cols + c] = 0.f;  // an all-zero row
  w[7] = -1e-30f;                                                            // a tiny entry
  std::vector<int8_t> q(w.size());
  std::vector<float> scale(rows);
  quantize_rows_int8_ref(w.data(), rows, cols, q.data(), scale.data());
  for (int i = 0; i < rows; ++i) {
    int qmax = 0;
    for (int c = 0; c < cols; ++c) {
      const size_t k = static_cast<size_t>(i) * cols + c;
      ASSERT_LE(std::abs(static_cast<int>(q[k])), 127);
      qmax = std::max(qmax, std::abs(static_cast<int>(q[k])));
      EXPECT_LE(std::fabs(w[k] - scale[i] * q[k]), 0.5f * scale[i] * (1.f + 1e-5f)) << i << "," << c;
    }
    if (i == 5) {
      EXPECT_EQ(scale[i], 0.f);
      EXPECT_EQ(qmax, 0);
    } else {
      EXPECT_EQ(qmax, 127) << "row " << i;
    }
  }
}

// Every int8 value, -128 included, goes through the kernel's fp16 conversion exactly: with x = e_probe,
// z[i] = Wa[i, probe], and row i of Wa is a byte ramp shifted by i, so the 256 rows hold all 256 values in
// every column (d = 264 also leaves a partial 32-column chunk).
TEST(LowrankPredictorInt8, EveryByteValueConvertsExactly) {
  DV_SKIP_WITHOUT_GPU();
  const int B = 1, d = 264, r = 256, n = 8;
  std::vector<int8_t> qa(static_cast<size_t>(r) * d), qb(static_cast<size_t>(n) * r, 1);
  for (int i = 0; i < r; ++i)
    for (int c = 0; c < d; ++c) qa[static_cast<size_t>(i) * d + c] = static_cast<int8_t>((c + i) % 256 - 128);
  std::vector<__half> x(static_cast<size_t>(d), __float2half(0.f));
  std::vector<float> sa(r, 1.f), sb(n, 1.f);
  DeviceBuffer<int8_t> d_qa(qa), d_qb(qb);
  DeviceBuffer<float> d_sa(sa), d_sb(sb), d_scores(n);
  DeviceBuffer<int> d_idx(n), d_k(1);
  DeviceBuffer<char> ws = test::zeroed_workspace(lowrank_predictor_workspace_bytes(B, d, r, n));
  DeviceBuffer<float> d_part(lowrank_predictor_partials_floats(B, d, r));
  for (const int probe : {0, 131, d - 1}) {
    x.assign(x.size(), __float2half(0.f));
    x[static_cast<size_t>(probe)] = __float2half(1.f);
    DeviceBuffer<__half> d_x(x), d_z(static_cast<size_t>(B) * r);
    d_z.poison();
    LowrankPredictorArgs a = predictor_args(d_idx.data(), d_k.data(), d_scores.data(), d_z.data(), d_x.data(),
                                            PredCase{B, d, r, n, kTop, 1, 0.f, n});
    a.workspace = ws.data();
    a.z_partials = d_part.data();
    a.wa_i8 = d_qa.data();
    a.wa_scale = d_sa.data();
    a.wb_i8 = d_qb.data();
    a.wb_scale = d_sb.data();
    launch_lowrank_predictor(a, nullptr);
    const std::vector<__half> z = d_z.download();
    for (int i = 0; i < r; ++i)
      ASSERT_EQ(__half2float(z[i]), static_cast<float>(qa[static_cast<size_t>(i) * d + probe])) << probe << "," << i;
  }
}

// A NaN in one batch row's input makes all of that row's logits NaN: the max union ignores the row, the
// per-row union takes its top-k as the lowest k indices (all keys tie at NaN, which ranks above +inf).
TEST(LowrankPredictorNaN, NaNRowUnitesAsSpecified) {
  DV_SKIP_WITHOUT_GPU();
  const int B = 3, d = 64, r = 16, n = 1000, k = 50;
  std::mt19937_64 rng(test::case_seed("lowrank_predictor_nan", 0));
  auto x = test::random_halves(static_cast<size_t>(B) * d, rng);
  x.h[static_cast<size_t>(d) + 7] = __float2half(NAN);  // row 1
  const auto wa = test::random_halves(static_cast<size_t>(r) * d, rng, -0.125f, 0.125f);
  const auto wb = test::random_halves(static_cast<size_t>(n) * r, rng, -0.75f, 0.75f);
  DeviceBuffer<__half> d_x(x.h), d_wa(wa.h), d_wb(wb.h), d_z(static_cast<size_t>(B) * r);
  DeviceBuffer<int> d_idx(static_cast<size_t>(B) * k), d_k(1);
  for (const BatchUnion u : {kMax, kRow}) {
    SCOPED_TRACE(u == kMax ? "max union" : "per-row union");
    DeviceBuffer<float> d_scores(lowrank_predictor_scores_floats(B, n, kTop, u));
    DeviceBuffer<char> ws = test::zeroed_workspace(lowrank_predictor_workspace_bytes(B, d, r, n));
    DeviceBuffer<float> d_part(lowrank_predictor_partials_floats(B, d, r));
    const PredCase c{B, d, r, n, kTop, k, 0.f, B * k, u};
    LowrankPredictorArgs a = predictor_args(d_idx.data(), d_k.data(), d_scores.data(), d_z.data(), d_x.data(), c);
    a.workspace = ws.data();
    a.z_partials = d_part.data();
    a.wa = d_wa.data();
    a.wb = d_wb.data();
    launch_lowrank_predictor(a, nullptr);
    const std::vector<float> scores = d_scores.download();
    const std::vector<int> idx = d_idx.download();
    const int got_k = d_k.download()[0];
    test::expect_same_selection(scores, lowrank_selection_of(a), idx, got_k);
    if (u == kMax) {
      for (int j = 0; j < n; ++j) ASSERT_FALSE(std::isnan(scores[static_cast<size_t>(j)])) << j;
      EXPECT_EQ(got_k, k);
    } else {
      const int ld = lowrank_scores_ld(n);
      for (int j = 0; j < n; ++j) ASSERT_TRUE(std::isnan(scores[static_cast<size_t>(ld + j)])) << j;
      for (int j = 0; j < k; ++j) EXPECT_TRUE(std::binary_search(idx.begin(), idx.begin() + got_k, j)) << j;
    }
  }
}

TEST(LowrankPredictorErrors, RejectsBadShapes) {
  DV_SKIP_WITHOUT_GPU();
  DeviceBuffer<__half> buf(4096);
  DeviceBuffer<float> scores(64);
  DeviceBuffer<int> idx(64), k(1);
  DeviceBuffer<char> ws = test::zeroed_workspace(lowrank_predictor_workspace_bytes(1, 8, 8, 64));
  LowrankPredictorArgs a;
  a.workspace = ws.data();
  a.idx = idx.data();
  a.k_dev = k.data();
  a.scores = scores.data();
  a.z = buf.data();
  a.x = buf.data();
  a.wa = buf.data();
  a.wb = buf.data();
  a.B = 1;
  a.d = 8;
  a.r = 8;
  a.n = 64;
  a.top_k = 10;
  a.max_k = 5;
  EXPECT_THROW(launch_lowrank_predictor(a, nullptr), dv::Error);
  a.max_k = 64;
  a.r = 12;
  EXPECT_THROW(launch_lowrank_predictor(a, nullptr), dv::Error);
  a.r = 8;
  a.mode = SelectMode::kThreshold;
  a.threshold = 1.f;
  EXPECT_THROW(launch_lowrank_predictor(a, nullptr), dv::Error);
  a.threshold = 0.5f;
  DeviceBuffer<int8_t> q(4096);
  a.wa_i8 = q.data();  // int8 Wa while fp16 Wa/Wb are set, and no scales
  EXPECT_THROW(launch_lowrank_predictor(a, nullptr), dv::Error);
  a.wa_i8 = nullptr;
  a.mode = SelectMode::kTopK;
  a.max_k = 32;
  a.dense_above = 40;  // may select all 64 into 32 places
  EXPECT_THROW(launch_lowrank_predictor(a, nullptr), dv::Error);
  a.dense_above = kNever;
  a.workspace = nullptr;
  EXPECT_THROW(launch_lowrank_predictor(a, nullptr), dv::Error);
  a.workspace = ws.data();
  a.B = 33;
  EXPECT_THROW(launch_lowrank_predictor(a, nullptr), dv::Error);
}

}  // namespace
}  // namespace dv::kernels
