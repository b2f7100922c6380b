// test_task_scoring.cpp: lm-eval's metrics on hand-made log-likelihoods (acc, acc_norm, stderr, lambada's
// perplexity, CB's F1), and the reference scorer on a small random model: its log-likelihoods equal a
// direct computation from one forward, batching and sort order change nothing, long contexts are cut from
// the left as the harness cuts them, and a sparse plan changes the scores.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include <c10/core/InferenceMode.h>

#include "kernels/common/error.h"
#include "pipeline/scoring/reference_scorer.h"
#include "pipeline/tasks/loglikelihood_scorer.h"
#include "pipeline/tasks/task_metrics.h"
#include "tests/engine/tiny_model.h"

namespace {

dv::TaskDoc doc(int choices, int gold, std::vector<double> lengths) {
  dv::TaskDoc d;
  d.requests.resize(static_cast<size_t>(choices));
  d.choice_lengths = std::move(lengths);
  d.gold = gold;
  return d;
}

TEST(TaskMetrics, AccAccNormAndStderr) {
  dv::Task t;
  t.name = "mc";
  t.report_acc_norm = true;
  // Doc 0: raw argmax 0 (gold 1); per length argmax 1. Doc 1: both pick 0 = gold. Doc 2: both pick 1, gold 0.
  t.docs = {doc(2, 1, {1, 10}), doc(2, 0, {1, 1}), doc(2, 0, {1, 1})};
  const std::vector<dv::LoglikelihoodResult> r = {{-2, false}, {-3, false}, {-1, false}, {-5, false}, {-4, false}, {-1, false}};
  const dv::TaskMetrics m = dv::score_task(t, r, 0, 0);
  EXPECT_DOUBLE_EQ(m.acc, 1.0 / 3);
  EXPECT_DOUBLE_EQ(m.acc_norm, 2.0 / 3);
  // mean_stderr of {0,1,0}: sample stddev sqrt(1/3) over sqrt(3).
  EXPECT_NEAR(m.acc_stderr, std::sqrt(1.0 / 3) / std::sqrt(3.0), 1e-12);
  EXPECT_TRUE(std::isnan(m.perplexity));
  EXPECT_THROW(dv::score_task(t, {r.begin(), r.end() - 1}, 0, 0), dv::Error);
}

TEST(TaskMetrics, LastWordPerplexityAndBootstrap) {
  dv::Task t;
  t.kind = dv::TaskKind::kLastWord;
  t.docs = {doc(1, 0, {1}), doc(1, 0, {1}), doc(1, 0, {1}), doc(1, 0, {1})};
  const std::vector<dv::LoglikelihoodResult> r = {{-1, true}, {-2, false}, {-3, true}, {-6, false}};
  const dv::TaskMetrics m = dv::score_task(t, r, 2000, 1);
  EXPECT_DOUBLE_EQ(m.acc, 0.5);
  EXPECT_NEAR(m.perplexity, std::exp(3.0), 1e-9);
  EXPECT_GT(m.perplexity_stderr, 0);
  EXPECT_EQ(dv::score_task(t, r, 2000, 1).perplexity_stderr, m.perplexity_stderr);  // seeded
  EXPECT_TRUE(std::isnan(dv::score_task(t, r, 0, 1).perplexity_stderr));
}

TEST(TaskMetrics, CbMacroF1) {
  dv::Task t;
  t.report_f1 = true;
  t.docs = {doc(3, 0, {1, 1, 1}), doc(3, 1, {1, 1, 1}), doc(3, 2, {1, 1, 1})};
  // Predictions 0, 0, 2: F1(label 0) = 2/3, F1(1) = 0, F1(2) = 1.
  const std::vector<dv::LoglikelihoodResult> r = {{0, 0}, {-1, 0}, {-1, 0}, {0, 0}, {-1, 0}, {-2, 0}, {-3, 0}, {-2, 0}, {0, 0}};
  EXPECT_NEAR(dv::score_task(t, r, 0, 0).f1, (2.0 / 3 + 0 + 1) / 3, 1e-12);
}

// Positions 32: short enough that left truncation is easy to reach.
dv::OptModel tiny_model() { return dv::test::tiny_model(true, 11, 32); }

std::vector<int32_t> ids(size_t n, std::mt19937_64& rng) {
  std::vector<int32_t> out(n);
  for (auto& t : out) t = static_cast<int32_t>(rng() % 97);
  return out;
}

// Sum of log p(continuation) from one unbatched forward of the (already short enough) sequence.
double direct_logprob(const dv::OptModel& m, const dv::TokenRequest& r) {
  c10::InferenceMode guard;
  std::vector<int64_t> all(r.context.begin(), r.context.end());
  all.insert(all.end(), r.continuation.begin(), r.continuation.end());
  const at::Tensor in = at::tensor(all, at::kLong).slice(0, 0, static_cast<int64_t>(all.size()) - 1).unsqueeze(0);
  const at::Tensor logp = at::log_softmax(m.forward(in), -1)[0];
  double sum = 0;
  const size_t n = r.continuation.size(), start = r.context.size() - 1;
  for (size_t j = 0; j < n; ++j) sum += logp[static_cast<int64_t>(start + j)][r.continuation[j]].item<double>();
  return sum;
}

TEST(TaskScorer, MatchesDirectComputationAtAnyBatch) {
  const dv::OptModel model = tiny_model();
  std::mt19937_64 rng(3);
  std::vector<dv::TokenRequest> reqs;
  for (size_t i = 0; i < 7; ++i) reqs.push_back({ids(1 + (i * 5) % 17, rng), ids(1 + i % 4, rng)});
  dv::ReferenceScorer ref(model);
  dv::LoglikelihoodScorer one(ref, 1, false), three(ref, 3, false);
  const auto a = one.loglikelihood(reqs), b = three.loglikelihood(reqs);
  ASSERT_EQ(a.size(), reqs.size());
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_NEAR(a[i].logprob, direct_logprob(model, reqs[i]), 1e-4) << i;
    EXPECT_NEAR(a[i].logprob, b[i].logprob, 1e-4) << i;
    EXPECT_EQ(a[i].greedy, b[i].greedy) << i;
  }
  // A continuation that is the model's own greedy choice is flagged greedy.
  c10::InferenceMode guard;
  dv::TokenRequest g{ids(6, rng), {}};
  const at::Tensor in = at::tensor(std::vector<int64_t>(g.context.begin(), g.context.end()), at::kLong).unsqueeze(0);
  g.continuation = {static_cast<int32_t>(model.forward(in)[0][-1].argmax().item<int64_t>())};
  EXPECT_TRUE(one.loglikelihood({g})[0].greedy);
}

TEST(TaskScorer, TruncatesFromTheLeftLikeTheHarness) {
  const dv::OptModel model = tiny_model();
  std::mt19937_64 rng(5);
  const dv::TokenRequest longer{ids(40, rng), ids(3, rng)};
  // (context + continuation)[-(32 + 1):][:-1]: the model reads the last 33 tokens but the final one.
  const dv::TokenRequest cut{std::vector<int32_t>(longer.context.end() - 30, longer.context.end()), longer.continuation};
  dv::ReferenceScorer ref(model);
  dv::LoglikelihoodScorer s(ref, 2, false);
  EXPECT_EQ(s.max_length(), 32);
  EXPECT_NEAR(s.loglikelihood({longer})[0].logprob, direct_logprob(model, cut), 1e-4);
  EXPECT_THROW(s.loglikelihood({{ids(3, rng), ids(33, rng)}}), dv::Error);
  EXPECT_THROW(s.loglikelihood({{{}, ids(2, rng)}}), dv::Error);
}

TEST(TaskScorer, SparsePlansChangeScoresDenseLayersUndo) {
  const dv::OptModel model = tiny_model();
  std::mt19937_64 rng(9);
  const std::vector<dv::TokenRequest> reqs = {{ids(12, rng), ids(3, rng)}, {ids(5, rng), ids(2, rng)}};
  dv::ReferenceScorer ref(model);
  dv::LoglikelihoodScorer s(ref, 2, false);
  const auto dense = s.loglikelihood(reqs);
  dv::ScoringPlan sparse;
  sparse.selection = dv::Selection::kOracle;
  sparse.mlp_density = 0.1;
  sparse.head_density = 0.5;
  ref.set_plan(sparse);
  const auto masked = s.loglikelihood(reqs);
  EXPECT_GT(std::abs(masked[0].logprob - dense[0].logprob), 1e-3);
  sparse.dense_layer = {true, true, true};
  ref.set_plan(sparse);
  const auto undone = s.loglikelihood(reqs);
  for (size_t i = 0; i < reqs.size(); ++i) EXPECT_NEAR(undone[i].logprob, dense[i].logprob, 1e-5);
}

}  // namespace
