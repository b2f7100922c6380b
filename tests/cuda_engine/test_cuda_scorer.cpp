// test_cuda_scorer.cpp: `eval --engine cuda` through the WindowScorer interface. The CUDA scorer's
// perplexity under a plan (oracle, predicted; with and without dense layers; per-layer densities) must equal the
// reference model masked with exactly the selections the engine made (fp16 tolerance), the selections must
// change the result (so a scorer that ignored them could not pass), and the dense plan must equal the
// reference scorer. The eval sweep runs end to end on the CUDA scorer with its stats filled.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/cuda/engine_context.h"
#include "pipeline/train/predictor_set.h"
#include "pipeline/scoring/cuda_scorer.h"
#include "pipeline/eval/eval_stage.h"
#include "pipeline/scoring/reference_scorer.h"
#include "tests/cuda_engine/engine_test_util.h"
#include "tests/cuda_engine/random_predictor_set.h"

namespace dv::test {
namespace {

constexpr int kWindow = 24;

struct Fixture {
  OptConfig config = make_config(Shape{128, 2, 3, 520, 997, 0, true});
  OptWeights weights = random_half_exact_weights(config, 91);
  OptModel reference{weights};
  PredictorSet predictors = random_predictor_set(config, 100, 200);
  std::vector<int32_t> ids = [&] {
    std::mt19937_64 rng(93);
    std::vector<int32_t> v(3 * kWindow + 5);  // a short tail window too
    for (auto& t : v) t = static_cast<int32_t>(rng() % config.vocab_size);
    return v;
  }();
};

// The windows of the perplexity recipe over f.ids (kWindow tokens, the tail shorter).
std::vector<std::vector<int32_t>> windows_of(const Fixture& f) {
  std::vector<std::vector<int32_t>> w;
  for (size_t s = 0; s < f.ids.size(); s += kWindow)
    w.emplace_back(f.ids.begin() + s, f.ids.begin() + std::min(f.ids.size(), s + kWindow));
  return w;
}

// Mean |a - b| over every token's log-prob.
double mean_abs_difference(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  double sum = 0;
  size_t n = 0;
  for (size_t w = 0; w < a.size(); ++w)
    for (size_t t = 0; t < a[w].size(); ++t, ++n) sum += std::abs(static_cast<double>(a[w][t]) - b.at(w).at(t));
  return n > 0 ? sum / static_cast<double>(n) : 0.0;
}

double dense_reference_ppl(Fixture& f) {
  ReferenceScorer ref(f.reference);
  PerplexityOptions o;
  o.seq_len = kWindow;
  o.show_progress = false;
  return scorer_perplexity(ref, f.ids, o).perplexity;
}

TEST(CudaScorer, MatchesReferenceMaskedWithItsSelections) {
  DV_SKIP_WITHOUT_GPU();
  Fixture f;
  CudaScorer scorer(f.weights, &f.predictors, kWindow, 1);
  ReferenceScorer reference(f.reference);
  const auto dense_lp = reference.logprobs(windows_of(f));
  struct PlanCase {
    const char* name;
    ScoringPlan plan;
  };
  std::vector<PlanCase> cases;
  for (const Selection sel : {Selection::kOracle, Selection::kPredicted}) {
    for (const bool with_dense_layer : {false, true}) {
      ScoringPlan p;
      p.selection = sel;
      p.mlp_density = 0.2;
      p.head_density = 0.5;
      if (with_dense_layer) p.dense_layer = {false, true, false};
      cases.push_back({with_dense_layer ? "dense layer 1" : "all sparse", p});
    }
  }
  ScoringPlan per_layer;
  per_layer.selection = Selection::kPredicted;
  per_layer.mlp_layer_density = {0.1, 0.5, 0.3};
  per_layer.head_layer_density = {1.0, 0.5, 0.5};
  per_layer.mlp_density = per_layer.head_density = 0.5;
  cases.push_back({"per-layer densities", per_layer});
  for (const PlanCase& c : cases) {
    SCOPED_TRACE(std::string(selection_name(c.plan.selection)) + " " + c.name);
    scorer.set_plan(c.plan);
    const nlohmann::json j = compare_with_reference(scorer, f.reference, f.ids, kWindow);
    EXPECT_LT(j["relative_difference"].get<double>(), kFp16Tolerance) << j.dump();
    // The selections must matter: per token, far more than fp16 rounding moves a log-prob (~1e-3).
    EXPECT_GT(mean_abs_difference(scorer.logprobs(windows_of(f)), dense_lp), 2e-2) << j.dump();
  }
}

TEST(CudaScorer, DenseEqualsReferenceScorer) {
  DV_SKIP_WITHOUT_GPU();
  Fixture f;
  CudaScorer scorer(f.weights, nullptr, kWindow, 2);  // batch 2: two windows per prefill, then the tail alone
  PerplexityOptions o;
  o.seq_len = kWindow;
  o.batch = 2;
  o.show_progress = false;
  const PerplexityResult r = scorer_perplexity(scorer, f.ids, o);
  EXPECT_EQ(r.predicted_tokens, static_cast<int64_t>(f.ids.size()) - 4);  // 4 windows, one prediction fewer each
  EXPECT_NEAR(r.perplexity / dense_reference_ppl(f), 1.0, kFp16Tolerance);
}

TEST(CudaScorer, EvalSweepRunsThroughTheEngine) {
  DV_SKIP_WITHOUT_GPU();
  Fixture f;
  CudaScorer scorer(f.weights, &f.predictors, kWindow, 1);
  EvalSweep sweep;
  sweep.mlp_densities = {0.25};
  sweep.head_densities = {0.5};
  sweep.dense_layers = {-1};
  PerplexityOptions o;
  o.seq_len = kWindow;
  o.show_progress = false;
  const std::vector<EvalPoint> points = run_eval_sweep(scorer, f.ids, o, sweep);
  ASSERT_EQ(points.size(), 7u);  // dense + {oracle, predicted} x {mlp, heads, both}
  EXPECT_NEAR(points[0].ppl.perplexity / dense_reference_ppl(f), 1.0, kFp16Tolerance);
  for (const EvalPoint& p : points) {
    EXPECT_TRUE(std::isfinite(p.ppl.perplexity)) << p.mode << " " << p.target;
    if (p.target == "mlp" || p.target == "both") {
      EXPECT_GT(p.kept.mlp_active, 0) << p.mode << " " << p.target;
      EXPECT_LT(p.kept.mlp_mass_recall(), 1.0) << p.mode << " " << p.target;
    }
    if (p.target == "heads" || p.target == "both") {
      EXPECT_LT(p.kept.head_mass_recall(), 1.0) << p.mode << " " << p.target;
    }
  }
}

}  // namespace
}  // namespace dv::test
