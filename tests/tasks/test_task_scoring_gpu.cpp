// test_task_scoring_gpu.cpp: the task scorer over the reference scorer on CUDA gives the CPU's log-likelihoods
// and greedy flags, dense and under an oracle-sparse plan (skips without a GPU).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <ATen/Context.h>

#include "pipeline/scoring/reference_scorer.h"
#include "pipeline/tasks/loglikelihood_scorer.h"
#include "tests/engine/tiny_model.h"

namespace {

TEST(ReferenceScorerGpu, CudaMatchesCpu) {
  if (!at::hasCUDA()) GTEST_SKIP() << "no CUDA GPU";
  const dv::OptModel cpu = dv::test::tiny_model(true, 11, 32);
  const dv::OptModel gpu = dv::test::tiny_model(true, 11, 32, at::Device(at::kCUDA, 0));
  std::mt19937_64 rng(21);
  auto ids = [&](size_t n) {
    std::vector<int32_t> out(n);
    for (auto& t : out) t = static_cast<int32_t>(rng() % 97);
    return out;
  };
  std::vector<dv::TokenRequest> reqs;
  for (size_t i = 0; i < 9; ++i) reqs.push_back({ids(1 + (i * 7) % 40), ids(1 + i % 5)});  // some cut at 32
  dv::ScoringPlan sparse;
  sparse.selection = dv::Selection::kOracle;
  sparse.mlp_density = 0.3;
  sparse.head_density = 0.5;
  for (const dv::ScoringPlan& p : {sparse, dv::ScoringPlan{}}) {
    dv::ReferenceScorer on_cpu(cpu), on_gpu(gpu);
    on_cpu.set_plan(p);
    on_gpu.set_plan(p);
    const auto a = dv::LoglikelihoodScorer(on_cpu, 4, false).loglikelihood(reqs);
    const auto b = dv::LoglikelihoodScorer(on_gpu, 4, false).loglikelihood(reqs);
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_NEAR(a[i].logprob, b[i].logprob, 1e-3 * std::max(1.0, std::abs(a[i].logprob))) << i;
      EXPECT_EQ(a[i].greedy, b[i].greedy) << i;
    }
  }
}

}  // namespace
