// test_task_windows.cpp: the task scorer over the reference WindowScorer against the harness's computation done
// by hand, one request at a time (truncate (context + continuation)[-(max_length + 1):][:-1], one unpadded
// forward, sum the continuation's log-probs, compare the argmax), at odd batch sizes that pad every batch
// differently, on pre- and post-LN models; padding must not reach the mask statistics; ScoreOptions::next
// scores the token past a window as if it were appended.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <c10/core/InferenceMode.h>

#include "pipeline/scoring/reference_scorer.h"
#include "pipeline/tasks/loglikelihood_scorer.h"
#include "tests/engine/tiny_model.h"

namespace {

constexpr int64_t kPositions = 32;

std::vector<int32_t> ids(size_t n, std::mt19937_64& rng) {
  std::vector<int32_t> out(n);
  for (auto& t : out) t = static_cast<int32_t>(rng() % 97);
  return out;
}

// Context lengths 1..45 (some past the 32 positions), continuations 1..5 tokens.
std::vector<dv::TokenRequest> requests(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<dv::TokenRequest> out;
  for (size_t i = 0; i < 13; ++i) out.push_back({ids(1 + (i * 11) % 45, rng), ids(1 + (i * 3) % 5, rng)});
  return out;
}

// The harness's loglikelihood of one request, written out: no batching, no padding, no sorting.
dv::LoglikelihoodResult by_hand(const dv::OptModel& m, const dv::TokenRequest& r) {
  c10::InferenceMode guard;
  std::vector<int64_t> all(r.context.begin(), r.context.end());
  all.insert(all.end(), r.continuation.begin(), r.continuation.end());
  const int64_t keep = std::min<int64_t>(static_cast<int64_t>(all.size()), kPositions + 1);
  const std::vector<int64_t> input(all.end() - keep, all.end() - 1);
  const at::Tensor logp = at::log_softmax(m.forward(at::tensor(input, at::kLong).unsqueeze(0)), -1)[0];
  const int64_t len = static_cast<int64_t>(input.size()), n = static_cast<int64_t>(r.continuation.size());
  dv::LoglikelihoodResult out{0, true};
  for (int64_t j = 0; j < n; ++j) {
    const at::Tensor row = logp[len - n + j];
    out.logprob += row[r.continuation[j]].item<double>();
    out.greedy = out.greedy && row.argmax().item<int64_t>() == r.continuation[j];
  }
  return out;
}

TEST(TaskWindows, EqualsTheHarnessByHandAtOddBatches) {
  for (const bool pre_ln : {true, false}) {
    SCOPED_TRACE(pre_ln ? "pre-LN" : "post-LN");
    const dv::OptModel model = dv::test::tiny_model(pre_ln, 13, kPositions);
    const std::vector<dv::TokenRequest> reqs = requests(pre_ln ? 1 : 2);
    std::vector<dv::LoglikelihoodResult> want;
    int greedy_hits = 0;
    for (const auto& r : reqs) {
      want.push_back(by_hand(model, r));
      greedy_hits += want.back().greedy ? 1 : 0;
    }
    dv::ReferenceScorer ref(model);
    for (const int64_t batch : {1, 2, 3, 5, 13}) {
      SCOPED_TRACE("batch " + std::to_string(batch));
      const auto got = dv::LoglikelihoodScorer(ref, batch, false).loglikelihood(reqs);
      ASSERT_EQ(got.size(), reqs.size());
      for (size_t i = 0; i < reqs.size(); ++i) {
        EXPECT_LE(std::abs(got[i].logprob - want[i].logprob), 1e-4 * std::abs(want[i].logprob)) << i;
        EXPECT_EQ(got[i].greedy, want[i].greedy) << i;
      }
    }
    EXPECT_LT(greedy_hits, static_cast<int>(reqs.size()));  // the flags are not all one value
  }
}

TEST(TaskWindows, GreedyFlagsBothWays) {
  const dv::OptModel model = dv::test::tiny_model(true, 13, kPositions);
  std::mt19937_64 rng(4);
  // Continuations built from the model's own argmax (through the window the harness will read) are greedy;
  // changing their last token makes them not.
  std::vector<dv::TokenRequest> reqs;
  for (const size_t len : {3u, 7u, 40u}) {
    dv::TokenRequest r{ids(len, rng), {}};
    const size_t start = std::max<size_t>(len + 3, kPositions + 1) - (kPositions + 1);
    for (int j = 0; j < 3; ++j) {
      c10::InferenceMode guard;
      std::vector<int64_t> all(r.context.begin(), r.context.end());
      all.insert(all.end(), r.continuation.begin(), r.continuation.end());
      const std::vector<int64_t> tail(all.begin() + static_cast<std::ptrdiff_t>(start), all.end());
      const at::Tensor logits = model.forward(at::tensor(tail, at::kLong).unsqueeze(0))[0][-1];
      r.continuation.push_back(static_cast<int32_t>(logits.argmax().item<int64_t>()));
    }
    reqs.push_back(r);
    r.continuation.back() = (r.continuation.back() + 1) % 97;
    reqs.push_back(r);
  }
  dv::ReferenceScorer ref(model);
  const auto got = dv::LoglikelihoodScorer(ref, 4, false).loglikelihood(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_EQ(got[i].greedy, i % 2 == 0) << i;
}

TEST(TaskWindows, PaddingIsNotCountedInStats) {
  const dv::OptModel model = dv::test::tiny_model(true, 13, kPositions);
  const std::vector<dv::TokenRequest> reqs = requests(3);
  dv::ReferenceScorer ref(model);
  dv::ScoringPlan plan;
  plan.selection = dv::Selection::kOracle;
  plan.mlp_density = 0.2;
  plan.head_density = 0.5;
  auto stats_at = [&](int64_t batch) {
    ref.set_plan(plan);
    dv::LoglikelihoodScorer(ref, batch, false).loglikelihood(reqs);
    return ref.stats();
  };
  const dv::SelectionStats alone = stats_at(1), padded = stats_at(5);  // batch 1 has no padding
  auto near = [](double a, double b) { return std::abs(a - b) <= 1e-4 * std::abs(b); };
  EXPECT_GT(alone.mlp_active, 0);
  EXPECT_TRUE(near(padded.mlp_active, alone.mlp_active)) << padded.mlp_active << " vs " << alone.mlp_active;
  EXPECT_TRUE(near(padded.mlp_active_kept, alone.mlp_active_kept));
  EXPECT_TRUE(near(padded.mlp_mass, alone.mlp_mass));
  EXPECT_TRUE(near(padded.mlp_mass_kept, alone.mlp_mass_kept));
  EXPECT_TRUE(near(padded.head_mass, alone.head_mass));
  EXPECT_TRUE(near(padded.head_mass_kept, alone.head_mass_kept));
  EXPECT_LT(alone.mlp_mass_recall(), 1.0);
}

TEST(TaskWindows, NextScoresTheTokenPastTheWindow) {
  const dv::OptModel model = dv::test::tiny_model(false, 13, kPositions);
  std::mt19937_64 rng(6);
  std::vector<std::vector<int32_t>> windows = {ids(1, rng), ids(9, rng), ids(4, rng), ids(9, rng)};
  dv::ScoreOptions o;
  o.pad = true;
  o.greedy = true;
  o.next = ids(windows.size(), rng);
  dv::ReferenceScorer ref(model);
  const dv::WindowScores got = ref.score(windows, o);
  for (size_t w = 0; w < windows.size(); ++w) {
    std::vector<int32_t> longer = windows[w];
    longer.push_back(o.next[w]);
    const std::vector<float> want = ref.logprobs({longer})[0];
    ASSERT_EQ(got.logprobs[w].size(), want.size()) << w;
    ASSERT_EQ(got.greedy[w].size(), want.size()) << w;
    for (size_t t = 0; t < want.size(); ++t) EXPECT_NEAR(got.logprobs[w][t], want[t], 1e-4 * std::abs(want[t]) + 1e-6);
  }
}

}  // namespace
