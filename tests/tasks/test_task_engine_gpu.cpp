// test_task_engine_gpu.cpp: zero-shot tasks through the CUDA engine (--engine cuda) against the reference
// engine, on a small random OPT whose weights are exact in fp16 (so fp16 arithmetic is the only difference):
// dense log-likelihoods within 1e-2 relative, the same greedy flags and the same acc on a multiple-choice and
// a last-word task (contexts past the 32 positions, so the harness's left cut is exercised, and batches that
// pad), and the oracle / predicted sweep points run on the engine and report what their selections kept, the
// oracle's close to the reference's, and padding is not counted in them. Skips without a GPU.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <c10/core/InferenceMode.h>

#include "pipeline/train/predictor_set.h"
#include "pipeline/scoring/cuda_scorer.h"
#include "pipeline/scoring/reference_scorer.h"
#include "pipeline/tasks/task_stage.h"
#include "tests/cuda_engine/engine_test_util.h"
#include "tests/cuda_engine/random_predictor_set.h"

namespace dv::test {
namespace {

constexpr int kPositions = 32;

struct Fixture {
  OptConfig config = [] {
    OptConfig c = make_config(Shape{128, 4, 3, 520, 997, 0, true});
    c.max_position_embeddings = kPositions;
    return c;
  }();
  OptWeights weights = random_half_exact_weights(config, 41);
  OptModel reference{weights};
  PredictorSet predictors = random_predictor_set(config, 300, 400);
  std::vector<Task> tasks;
  std::vector<std::vector<TokenRequest>> requests;

  Fixture() {
    // Seed 46: on the CPU reference its closest decisions are 0.10 apart in log-likelihood (the best choice
    // against the runner-up) and 0.033 in log-prob (a continuation token against the best other token), some
    // 30x what the engine's fp16 arithmetic moves a log-prob (~1e-3): the comparisons below are not coin flips.
    std::mt19937_64 rng(46);
    auto ids = [&](size_t n) {
      std::vector<int32_t> v(n);
      for (auto& t : v) t = static_cast<int32_t>(rng() % config.vocab_size);
      return v;
    };
    // 8 documents of 3 choices; contexts of 2..44 tokens (some cut at 32).
    Task mc;
    mc.name = "mc";
    mc.report_acc_norm = true;
    requests.emplace_back();
    for (int d = 0; d < 8; ++d) {
      TaskDoc doc;
      const std::vector<int32_t> context = ids(2 + static_cast<size_t>(d * 6));
      for (int c = 0; c < 3; ++c) {
        doc.requests.push_back({"", ""});
        doc.choice_lengths.push_back(1 + c);
        requests.back().push_back({context, ids(1 + static_cast<size_t>(d % 4))});
      }
      doc.gold = d % 3;
      mc.docs.push_back(doc);
    }
    // 6 last-word documents of 2 tokens: half continue with the reference's own greedy tokens, read through the
    // window the harness will give the model (acc counts them).
    Task last;
    last.name = "last";
    last.kind = TaskKind::kLastWord;
    requests.emplace_back();
    c10::InferenceMode guard;
    for (int d = 0; d < 6; ++d) {
      TokenRequest r{ids(5 + static_cast<size_t>(d * 7)), {}};
      const size_t start = std::max<size_t>(r.context.size() + 2, kPositions + 1) - (kPositions + 1);
      for (int j = 0; j < 2; ++j) {
        std::vector<int64_t> all(r.context.begin(), r.context.end());
        all.insert(all.end(), r.continuation.begin(), r.continuation.end());
        const std::vector<int64_t> tail(all.begin() + static_cast<std::ptrdiff_t>(start), all.end());
        const at::Tensor logits = reference.forward(at::tensor(tail, at::kLong).unsqueeze(0))[0][-1];
        const int32_t best = static_cast<int32_t>(logits.argmax().item<int64_t>());
        r.continuation.push_back(d % 2 == 0 ? best : (best + 1) % static_cast<int32_t>(config.vocab_size));
      }
      TaskDoc doc;
      doc.requests.push_back({"", ""});
      doc.choice_lengths.push_back(1);
      last.docs.push_back(doc);
      requests.back().push_back(r);
    }
    tasks = {mc, last};
  }

  std::vector<TokenRequest> all() const {
    std::vector<TokenRequest> out = requests[0];
    out.insert(out.end(), requests[1].begin(), requests[1].end());
    return out;
  }
};

TEST(TaskEngine, DenseMatchesReferenceEngine) {
  DV_SKIP_WITHOUT_GPU();
  Fixture f;
  ReferenceScorer ref(f.reference);
  CudaScorer cuda(f.weights, nullptr, kPositions, 4);  // 4 per prefill: 30 requests, a short last batch
  const std::vector<TokenRequest> reqs = f.all();
  const auto want = LoglikelihoodScorer(ref, 4, false).loglikelihood(reqs);
  const auto got = LoglikelihoodScorer(cuda, 4, false).loglikelihood(reqs);
  ASSERT_EQ(got.size(), reqs.size());
  int greedy = 0;
  for (size_t i = 0; i < reqs.size(); ++i) {
    EXPECT_LE(std::abs(got[i].logprob - want[i].logprob), kFp16Tolerance * std::abs(want[i].logprob))
        << i << ": " << got[i].logprob << " vs " << want[i].logprob;
    EXPECT_EQ(got[i].greedy, want[i].greedy) << i;
    greedy += want[i].greedy ? 1 : 0;
  }
  EXPECT_EQ(greedy, 3);  // the last-word task's greedy continuations, and only they
  const std::vector<LoglikelihoodResult> ref_mc(want.begin(), want.begin() + 24), gpu_mc(got.begin(), got.begin() + 24);
  const std::vector<LoglikelihoodResult> ref_last(want.begin() + 24, want.end()), gpu_last(got.begin() + 24, got.end());
  EXPECT_EQ(score_task(f.tasks[0], gpu_mc, 0, 0).acc, score_task(f.tasks[0], ref_mc, 0, 0).acc);
  EXPECT_EQ(score_task(f.tasks[0], gpu_mc, 0, 0).acc_norm, score_task(f.tasks[0], ref_mc, 0, 0).acc_norm);
  EXPECT_EQ(score_task(f.tasks[1], gpu_last, 0, 0).acc, 0.5);
  EXPECT_EQ(score_task(f.tasks[1], ref_last, 0, 0).acc, 0.5);
}

TEST(TaskEngine, SweepRunsOraclePredictedWithStats) {
  DV_SKIP_WITHOUT_GPU();
  Fixture f;
  CudaScorer cuda(f.weights, &f.predictors, kPositions, 3);
  ReferenceScorer ref(f.reference);
  TaskRunOptions o;
  o.batch = 3;
  o.bootstrap_iters = 0;
  EvalSweep sweep;
  sweep.modes = {"dense", "oracle", "predicted"};
  sweep.targets = {"mlp", "heads"};
  sweep.mlp_densities = {0.25};
  sweep.head_densities = {0.5};
  sweep.dense_layers = {-1};
  const std::vector<TaskPoint> got = run_task_sweep(cuda, f.tasks, f.requests, sweep, o);
  sweep.modes = {"dense", "oracle"};  // the reference scorer here has no predictors
  const std::vector<TaskPoint> want = run_task_sweep(ref, f.tasks, f.requests, sweep, o);
  ASSERT_EQ(got.size(), 5u);  // dense + {oracle, predicted} x {mlp, heads}
  ASSERT_EQ(want.size(), 3u);
  EXPECT_EQ(got[0].tasks[0].acc, want[0].tasks[0].acc);
  EXPECT_EQ(got[0].tasks[1].acc, want[0].tasks[1].acc);
  for (const TaskPoint& p : got) {
    SCOPED_TRACE(p.point.mode + " " + p.point.target);
    for (const TaskMetrics& m : p.tasks) EXPECT_TRUE(std::isfinite(m.acc)) << m.task;
    if (p.point.mode == "dense") continue;
    if (p.point.target == "mlp") {
      EXPECT_GT(p.kept.mlp_active, 0);
      EXPECT_LT(p.kept.mlp_mass_recall(), 1.0);
    } else {
      EXPECT_GT(p.kept.head_mass, 0);
      EXPECT_LT(p.kept.head_mass_recall(), 1.0);
    }
  }
  // The oracle keeps each token's own top-k on both engines: what it keeps agrees up to fp16 near-ties.
  EXPECT_NEAR(got[1].kept.mlp_mass_recall(), want[1].kept.mlp_mass_recall(), 0.02);
  EXPECT_NEAR(got[2].kept.head_mass_recall(), want[2].kept.head_mass_recall(), 0.02);
}

TEST(TaskEngine, PaddingIsNotCountedInStats) {
  DV_SKIP_WITHOUT_GPU();
  Fixture f;
  ScoringPlan plan;
  plan.selection = Selection::kOracle;
  plan.mlp_density = 0.25;
  plan.head_density = 0.5;
  auto stats_at = [&](int batch) {
    CudaScorer cuda(f.weights, nullptr, kPositions, batch);
    cuda.set_plan(plan);
    LoglikelihoodScorer(cuda, batch, false).loglikelihood(f.all());
    return cuda.stats();
  };
  const SelectionStats alone = stats_at(1), padded = stats_at(5);  // batch 1: no padding
  ASSERT_GT(alone.mlp_active, 0);
  EXPECT_NEAR(padded.mlp_active / alone.mlp_active, 1.0, 1e-3);
  EXPECT_NEAR(padded.mlp_mass / alone.mlp_mass, 1.0, 1e-3);
  EXPECT_NEAR(padded.mlp_mass_kept / alone.mlp_mass_kept, 1.0, 1e-3);
  EXPECT_NEAR(padded.head_mass / alone.head_mass, 1.0, 1e-3);
  EXPECT_NEAR(padded.head_mass_kept / alone.head_mass_kept, 1.0, 1e-3);
}

}  // namespace
}  // namespace dv::test
