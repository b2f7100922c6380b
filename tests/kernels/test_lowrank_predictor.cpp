// test_lowrank_predictor.cpp: the fused predictor (z, scores, selection) and its selection stage alone,
// against the C++ reference. z and scores are compared with fp16 tolerance; the selection is compared
// exactly, by running the reference selection on the scores the GPU produced (so rounding differences in
// the GEMVs cannot move the k-th score across the boundary). Selection cases stress ties (all equal,
// few distinct values, +0/-0), k = 0 / 1 / n, thresholds exactly at a score, capacity clamps, and n beyond
// one thread's share of the block.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <vector>

#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv::kernels {
namespace {

using test::DeviceBuffer;
using test::DType;

// Runs the GPU selection's result against the reference selection over the same scores.
void expect_same_selection(const std::vector<float>& scores, SelectMode mode, int top_k, float t, int max_k,
                           const std::vector<int>& got_idx, int got_k) {
  std::vector<int> ref_idx(static_cast<size_t>(std::max(max_k, 1)), -1);
  int ref_k = -1;
  LowrankSelectArgs r;
  r.idx = ref_idx.data();
  r.k_dev = &ref_k;
  r.scores = scores.data();
  r.n = static_cast<int>(scores.size());
  r.mode = mode;
  r.top_k = top_k;
  r.threshold = t;
  r.max_k = max_k;
  lowrank_select_ref(r);
  ASSERT_EQ(got_k, ref_k);
  for (size_t i = 0; i < static_cast<size_t>(ref_k); ++i) ASSERT_EQ(got_idx[i], ref_idx[i]) << "at " << i;
}

// ---- full predictor --------------------------------------------------------------------------------------

struct PredCase {
  int B, d, r, n;
  SelectMode mode;
  int top_k;
  float t;
  int max_k;
};

constexpr SelectMode kTop = SelectMode::kTopK;
constexpr SelectMode kThr = SelectMode::kThreshold;

const PredCase kPredCases[] = {
    {1, 40, 8, 1, kTop, 1, 0.f, 1},           {1, 768, 64, 1000, kTop, 100, 0.f, 128},
    {3, 1000, 200, 2003, kTop, 0, 0.f, 10},   {8, 136, 96, 20000, kTop, 2000, 0.f, 2048},
    {32, 768, 64, 4096, kTop, 4096, 0.f, 4096}, {9, 264, 16, 3001, kThr, 0, 0.5f, 3001},
    {17, 40, 24, 513, kThr, 0, 0.9f, 50},     {2, 1000, 1000, 300, kTop, 37, 0.f, 37},
    {1, 8, 8, 60000, kTop, 5000, 0.f, 5000},  {16, 512, 128, 96, kTop, 48, 0.f, 96},
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

// One case, fp16 or int8 weights: z, scores and the selection against the reference on the same weights.
void run_predictor_case(int ci, bool int8) {
  const PredCase c = kPredCases[ci];
  const uint64_t seed = test::case_seed(int8 ? "lowrank_predictor_int8" : "lowrank_predictor", ci);
  SCOPED_TRACE(::testing::Message() << "case " << ci << (int8 ? " int8" : " fp16") << " B=" << c.B << " d=" << c.d
                                    << " r=" << c.r << " n=" << c.n << " top_k=" << c.top_k << " t=" << c.t
                                    << " seed=" << seed);
  std::mt19937_64 rng(seed);
  const auto x = test::random_halves(static_cast<size_t>(c.B) * c.d, rng);
  // Scaled so that z and the logits stay O(1): a threshold then selects a nontrivial fraction.
  const float sa = 1.f / std::sqrt(static_cast<float>(c.d)), sb = 3.f / std::sqrt(static_cast<float>(c.r));
  const auto wa = test::random_halves(static_cast<size_t>(c.r) * c.d, rng, -sa, sa);
  const auto wb = test::random_halves(static_cast<size_t>(c.n) * c.r, rng, -sb, sb);

  DeviceBuffer<__half> d_x(x.h), d_wa(wa.h), d_wb(wb.h), d_z(static_cast<size_t>(c.B) * c.r);
  DeviceBuffer<float> d_scores(static_cast<size_t>(c.n));
  DeviceBuffer<int> d_idx(static_cast<size_t>(c.max_k)), d_k(1);
  d_z.poison();
  d_scores.poison();
  d_idx.poison();
  d_k.poison();

  LowrankPredictorArgs a = predictor_args(d_idx.data(), d_k.data(), d_scores.data(), d_z.data(), d_x.data(), c);
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
  launch_lowrank_predictor(a, nullptr);
  const std::vector<__half> z = d_z.download();
  const std::vector<float> scores = d_scores.download();
  const std::vector<int> idx = d_idx.download();
  const int k = d_k.download()[0];

  std::vector<__half> z_ref(z.size());
  std::vector<float> scores_ref(scores.size());
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

  EXPECT_TRUE(test::expect_close(z, test::to_float(z_ref), DType::kF16, "z"));
  // Scores inherit z's fp16 rounding (one ulp apart in rare elements): fp16 tolerance.
  EXPECT_TRUE(test::expect_close(scores, scores_ref, DType::kF16, "scores"));
  expect_same_selection(scores, c.mode, c.top_k, c.t, c.max_k, idx, k);
}

class LowrankPredictorTest : public ::testing::TestWithParam<int> {};

TEST_P(LowrankPredictorTest, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  run_predictor_case(GetParam(), false);
}

TEST_P(LowrankPredictorTest, Int8WeightsMatchReference) {
  DV_SKIP_WITHOUT_GPU();
  run_predictor_case(GetParam(), true);
}

INSTANTIATE_TEST_SUITE_P(Cases, LowrankPredictorTest, ::testing::Range(0, static_cast<int>(std::size(kPredCases))));

// ---- selection alone, crafted scores ---------------------------------------------------------------------

struct SelectCase {
  const char* name;
  int n;
  int distinct;  // 0: continuous random scores; v > 0: scores drawn from v values (ties); -1: all equal
  SelectMode mode;
  int top_k;
  float t;
  int max_k;
};

const SelectCase kSelectCases[] = {
    {"all_equal", 5000, -1, kTop, 1234, 0.f, 1234},
    {"four_values", 7777, 4, kTop, 3000, 0.f, 3000},
    {"four_values_thr_at_value", 7777, 4, kThr, 0, 0.5f, 7777},  // logit(0.5) = 0 is one of the values
    {"signed_zeros", 4096, 2, kTop, 1000, 0.f, 1000},
    {"continuous_k1", 50000, 0, kTop, 1, 0.f, 1},
    {"continuous_k_n_minus_1", 100000, 0, kTop, 99999, 0.f, 99999},
    {"continuous_k_n", 3001, 0, kTop, 3001, 0.f, 3001},
    {"continuous_k0", 3001, 0, kTop, 0, 0.f, 1},
    {"empty", 0, 0, kTop, 5, 0.f, 5},
    {"single", 1, 0, kTop, 1, 0.f, 1},
    {"threshold_capped", 20000, 0, kThr, 0, 0.3f, 100},
    {"few_values_many_n", 60000, 37, kTop, 12345, 0.f, 12345},
};

class LowrankSelectTest : public ::testing::TestWithParam<int> {};

TEST_P(LowrankSelectTest, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  const int ci = GetParam();
  const SelectCase c = kSelectCases[ci];
  const uint64_t seed = test::case_seed("lowrank_select", ci);
  SCOPED_TRACE(::testing::Message() << c.name << " seed=" << seed);
  std::mt19937_64 rng(seed);
  std::vector<float> scores = test::random_floats(static_cast<size_t>(c.n), rng, -4.f, 4.f);
  if (c.distinct == -1) {
    for (float& s : scores) s = 0.75f;
  } else if (c.distinct == 2) {
    for (size_t i = 0; i < scores.size(); ++i) scores[i] = (rng() & 1) ? 0.f : -0.f;
  } else if (c.distinct > 0) {
    std::uniform_int_distribution<int> pick(0, c.distinct - 1);
    for (float& s : scores) s = static_cast<float>(pick(rng) - c.distinct / 2);
  }
  DeviceBuffer<float> d_scores(scores);
  DeviceBuffer<int> d_idx(static_cast<size_t>(c.max_k)), d_k(1);
  d_idx.poison();
  d_k.poison();
  LowrankSelectArgs a;
  a.idx = d_idx.data();
  a.k_dev = d_k.data();
  a.scores = d_scores.data();
  a.n = c.n;
  a.mode = c.mode;
  a.top_k = c.top_k;
  a.threshold = c.t;
  a.max_k = c.max_k;
  launch_lowrank_select(a, nullptr);
  expect_same_selection(scores, c.mode, c.top_k, c.t, c.max_k, d_idx.download(), d_k.download()[0]);
}

INSTANTIATE_TEST_SUITE_P(Cases, LowrankSelectTest, ::testing::Range(0, static_cast<int>(std::size(kSelectCases))));

TEST(LowrankSelectRef, OrderKeyIsMonotone) {
  const float v[] = {-INFINITY, -3.5f, -1e-30f, -0.f, 0.f, 1e-30f, 2.f, INFINITY};
  for (size_t i = 0; i + 1 < std::size(v); ++i) EXPECT_LT(score_order_key(v[i]), score_order_key(v[i + 1])) << i;
}

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
  for (const int probe : {0, 131, d - 1}) {
    x.assign(x.size(), __float2half(0.f));
    x[static_cast<size_t>(probe)] = __float2half(1.f);
    DeviceBuffer<__half> d_x(x), d_z(static_cast<size_t>(B) * r);
    d_z.poison();
    LowrankPredictorArgs a = predictor_args(d_idx.data(), d_k.data(), d_scores.data(), d_z.data(), d_x.data(),
                                            PredCase{B, d, r, n, kTop, 1, 0.f, n});
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

TEST(LowrankPredictorErrors, RejectsBadShapes) {
  DV_SKIP_WITHOUT_GPU();
  DeviceBuffer<__half> buf(4096);
  DeviceBuffer<float> scores(64);
  DeviceBuffer<int> idx(64), k(1);
  LowrankPredictorArgs a;
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
}

}  // namespace
}  // namespace dv::kernels
