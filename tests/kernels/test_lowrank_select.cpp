// test_lowrank_select.cpp: the predictor's selection alone (histogram op + selection op) over crafted scores,
// against the reference, exactly. Cases stress ties (all equal, few distinct values, +0/-0, a bin holding more
// keys than the candidate list), NaN (above +inf for top-k, never past a threshold), k = 0 / 1 / n, thresholds
// exactly at a score, capacity clamps, odd n, several rows united, and the crossover to all n. Each case runs
// twice on one workspace, which must be left all zero.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "tests/kernels/kernel_test_util.h"
#include "tests/kernels/lowrank_test_util.h"

namespace dv::kernels {
namespace {

using test::DeviceBuffer;

constexpr SelectMode kTop = SelectMode::kTopK;
constexpr SelectMode kThr = SelectMode::kThreshold;

enum Scores {
  kContinuous,    // uniform in [-4, 4)
  kAllEqual,      // 0.75 everywhere
  kSignedZeros,   // +0 and -0
  kFewValues,     // `distinct` integer values
  kNarrow,        // continuous in [1, 1.001): one coarse bin, far more keys than the candidate list holds
  kWithNaN,       // continuous with every 7th score NaN (both signs)
};

struct SelectCase {
  const char* name;
  int n;
  Scores kind;
  int distinct;
  SelectMode mode;
  int top_k;
  float t;
  int max_k;
  int rows = 1;
  int dense_above = INT_MAX;
};

const SelectCase kSelectCases[] = {
    {"all_equal", 5000, kAllEqual, 0, kTop, 1234, 0.f, 1234},
    {"four_values", 7777, kFewValues, 4, kTop, 3000, 0.f, 3000},
    {"four_values_thr_at_value", 7777, kFewValues, 4, kThr, 0, 0.5f, 7777},  // logit(0.5) = 0 is a value
    {"signed_zeros", 4096, kSignedZeros, 0, kTop, 1000, 0.f, 1000},
    {"continuous_k1", 50000, kContinuous, 0, kTop, 1, 0.f, 1},
    {"continuous_k_n_minus_1", 65536, kContinuous, 0, kTop, 65535, 0.f, 65535},  // the op's largest n
    {"continuous_k_n", 3001, kContinuous, 0, kTop, 3001, 0.f, 3001},
    {"continuous_k0", 3001, kContinuous, 0, kTop, 0, 0.f, 1},
    {"empty", 0, kContinuous, 0, kTop, 5, 0.f, 5},
    {"single", 1, kContinuous, 0, kTop, 1, 0.f, 1},
    {"threshold_capped", 20000, kContinuous, 0, kThr, 0, 0.3f, 100},
    {"few_values_many_n", 60000, kFewValues, 37, kTop, 12345, 0.f, 12345},
    {"narrow_bin_overflows_list", 30000, kNarrow, 0, kTop, 7000, 0.f, 7000},
    {"nan_top_k", 4099, kWithNaN, 0, kTop, 700, 0.f, 700},
    {"nan_threshold", 4099, kWithNaN, 0, kThr, 0, 0.6f, 4099},
    {"odd_n_13", 13, kContinuous, 0, kTop, 5, 0.f, 5},
    {"max_n", kSelectMaxN, kContinuous, 0, kTop, 13107, 0.f, 13107},
    {"rows_2", 8191, kContinuous, 0, kTop, 819, 0.f, 1638, 2},
    {"rows_32", 20480, kContinuous, 0, kTop, 2048, 0.f, 20480, 32},
    {"rows_5_ties", 3000, kFewValues, 6, kTop, 700, 0.f, 3000, 5},
    {"rows_7_capped", 2000, kContinuous, 0, kTop, 300, 0.f, 1000, 7},  // union truncated to the lowest 1000
    {"rows_8_crossover", 4096, kContinuous, 0, kTop, 512, 0.f, 4096, 8, 2048},
    {"rows_3_below_crossover", 4096, kContinuous, 0, kTop, 100, 0.f, 4096, 3, 2048},
    {"threshold_crossover", 9000, kContinuous, 0, kThr, 0, 0.2f, 9000, 1, 4500},
    {"top_k_at_crossover", 1000, kContinuous, 0, kTop, 500, 0.f, 1000, 1, 500},  // 500 is not above 500
};

std::vector<float> make_scores(const SelectCase& c, std::mt19937_64& rng) {
  const size_t ld = static_cast<size_t>(lowrank_scores_ld(c.n));
  std::vector<float> s = test::random_floats(static_cast<size_t>(c.rows) * ld, rng, -4.f, 4.f);
  std::uniform_int_distribution<int> pick(0, std::max(c.distinct, 1) - 1);
  for (size_t i = 0; i < s.size(); ++i) {
    switch (c.kind) {
      case kContinuous: break;
      case kAllEqual: s[i] = 0.75f; break;
      case kSignedZeros: s[i] = (rng() & 1) ? 0.f : -0.f; break;
      case kFewValues: s[i] = static_cast<float>(pick(rng) - c.distinct / 2); break;
      case kNarrow: s[i] = 1.f + 0.001f * (s[i] + 4.f) / 8.f; break;
      case kWithNaN:
        if (i % 7 == 3) s[i] = (i % 2 != 0) ? NAN : -NAN;
        break;
    }
  }
  return s;
}

class LowrankSelectTest : public ::testing::TestWithParam<int> {};

TEST_P(LowrankSelectTest, MatchesReference) {
  DV_SKIP_WITHOUT_GPU();
  const int ci = GetParam();
  const SelectCase c = kSelectCases[ci];
  const uint64_t seed = test::case_seed("lowrank_select", ci);
  SCOPED_TRACE(::testing::Message() << c.name << " seed=" << seed);
  std::mt19937_64 rng(seed);
  const std::vector<float> scores = make_scores(c, rng);
  DeviceBuffer<float> d_scores(scores);
  DeviceBuffer<int> d_idx(static_cast<size_t>(c.max_k)), d_k(1);
  DeviceBuffer<char> ws = test::zeroed_workspace(lowrank_select_workspace_bytes(c.rows, c.n));
  LowrankSelectArgs a;
  a.idx = d_idx.data();
  a.k_dev = d_k.data();
  a.scores = d_scores.data();
  a.workspace = ws.data();
  a.n = c.n;
  a.rows = c.rows;
  a.mode = c.mode;
  a.top_k = c.top_k;
  a.threshold = c.t;
  a.max_k = c.max_k;
  a.dense_above = c.dense_above;
  for (int run = 0; run < 2; ++run) {
    SCOPED_TRACE(::testing::Message() << "run " << run);
    d_idx.poison();
    d_k.poison();
    launch_lowrank_select(a, nullptr);
    test::expect_same_selection(scores, a, d_idx.download(), d_k.download()[0]);
    test::expect_workspace_zero(ws);
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, LowrankSelectTest, ::testing::Range(0, static_cast<int>(std::size(kSelectCases))));

TEST(LowrankSelectRef, OrderKeyIsMonotone) {
  const float v[] = {-INFINITY, -3.5f, -1e-30f, -0.f, 0.f, 1e-30f, 2.f, INFINITY};
  for (size_t i = 0; i + 1 < std::size(v); ++i) EXPECT_LT(score_order_key(v[i]), score_order_key(v[i + 1])) << i;
  EXPECT_EQ(score_order_key(NAN), 0xFFFFFFFFu);
  EXPECT_EQ(score_order_key(-NAN), 0xFFFFFFFFu);
}

// The reference's union and crossover on a hand-made case: rows {0, 2} and {2, 3} unite to {0, 2, 3}.
TEST(LowrankSelectRef, UnitesRowsAndCrossesOver) {
  const int n = 4, ld = lowrank_scores_ld(n);
  std::vector<float> s(static_cast<size_t>(2 * ld), 0.f);
  s[0] = 5.f;
  s[2] = 4.f;
  s[static_cast<size_t>(ld) + 2] = 3.f;
  s[static_cast<size_t>(ld) + 3] = 3.f;
  std::vector<int> idx(4, -1);
  int k = -1;
  LowrankSelectArgs a;
  a.idx = idx.data();
  a.k_dev = &k;
  a.scores = s.data();
  a.n = n;
  a.rows = 2;
  a.top_k = 2;
  a.max_k = 4;
  lowrank_select_ref(a);
  ASSERT_EQ(k, 3);
  EXPECT_EQ(idx[0], 0);
  EXPECT_EQ(idx[1], 2);
  EXPECT_EQ(idx[2], 3);
  a.dense_above = 2;
  lowrank_select_ref(a);
  ASSERT_EQ(k, 4);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(idx[static_cast<size_t>(i)], i);
}

}  // namespace
}  // namespace dv::kernels
