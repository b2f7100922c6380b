// test_window_scorer.cpp: the scorer interface on the CPU. The reference scorer reproduces the existing
// perplexity figures (compute_perplexity, dense and masked, batched and with a tail window), per-layer
// densities behave as the single density where they agree and change the result where they do not, and the
// engine names fail with one clear error (an unknown name; cuda without a GPU or without a CUDA build).
#include <gtest/gtest.h>

#include <ATen/Context.h>
#include <c10/core/InferenceMode.h>

#include "engine/models/perplexity.h"
#include "kernels/common/error.h"
#include "pipeline/scoring/reference_scorer.h"
#include "pipeline/scoring/scorer_factory.h"
#include "pipeline/scoring/sparsity_masks.h"
#include "tests/engine/tiny_model.h"

namespace {

dv::OptModel tiny_model() { return dv::test::tiny_model(true, 11); }

std::vector<int32_t> random_ids(int n, uint64_t seed) { return dv::test::random_ids(n, 97, seed); }

dv::PerplexityOptions windows(int64_t L, int64_t batch) {
  dv::PerplexityOptions o;
  o.seq_len = L;
  o.batch = batch;
  o.show_progress = false;
  return o;
}

TEST(WindowScorer, ReferenceEqualsComputePerplexity) {
  c10::InferenceMode guard;
  const dv::OptModel m = tiny_model();
  const auto ids = random_ids(3 * 30 + 7, 1);  // 3 full windows and a tail
  dv::ReferenceScorer scorer(m);
  for (const int64_t batch : {1, 2, 3}) {
    const dv::PerplexityResult want = dv::compute_perplexity(m, ids, windows(30, batch));
    const dv::PerplexityResult got = dv::scorer_perplexity(scorer, ids, windows(30, batch));
    EXPECT_NEAR(got.perplexity, want.perplexity, 1e-9 * want.perplexity) << "batch " << batch;
    EXPECT_EQ(got.predicted_tokens, want.predicted_tokens);
    EXPECT_EQ(got.windows, want.windows);
    EXPECT_EQ(got.input_tokens, want.input_tokens);
  }
}

TEST(WindowScorer, ReferenceOracleEqualsMaskHooks) {
  c10::InferenceMode guard;
  const dv::OptModel m = tiny_model();
  const auto ids = random_ids(80, 2);
  dv::SparsityPlan masks;
  masks.mlp_density = 0.25;
  masks.head_density = 0.5;
  masks.mlp_scores = masks.head_scores = dv::oracle_scores();
  masks.dense_layer = {true, false, false};
  const dv::ForwardHooks hooks = dv::make_mask_hooks(masks, nullptr);
  const double want = dv::compute_perplexity(m, ids, windows(40, 1), &hooks).perplexity;
  dv::ReferenceScorer scorer(m);
  dv::ScoringPlan plan;
  plan.selection = dv::Selection::kOracle;
  plan.mlp_density = 0.25;
  plan.head_density = 0.5;
  plan.dense_layer = {true, false, false};
  scorer.set_plan(plan);
  EXPECT_NEAR(dv::scorer_perplexity(scorer, ids, windows(40, 1)).perplexity, want, 1e-9 * want);
  EXPECT_GT(scorer.stats().mlp_active, 0);
  EXPECT_LT(scorer.stats().mlp_mass_recall(), 1.0);
  // The dense plan after a sparse one is dense again (set_plan replaces the hooks).
  scorer.set_plan(dv::ScoringPlan{});
  const double dense = dv::compute_perplexity(m, ids, windows(40, 1)).perplexity;
  EXPECT_NEAR(dv::scorer_perplexity(scorer, ids, windows(40, 1)).perplexity, dense, 1e-9 * dense);
  EXPECT_GT(std::abs(want / dense - 1), 1e-3) << "the oracle masks must change the perplexity";
}

TEST(WindowScorer, PerLayerDensities) {
  c10::InferenceMode guard;
  const dv::OptModel m = tiny_model();
  const auto ids = random_ids(80, 3);
  dv::ReferenceScorer scorer(m);
  auto ppl = [&](double mlp, std::vector<double> per_layer) {
    dv::ScoringPlan plan;
    plan.selection = dv::Selection::kOracle;
    plan.mlp_density = mlp;
    plan.mlp_layer_density = std::move(per_layer);
    scorer.set_plan(plan);
    return dv::scorer_perplexity(scorer, ids, windows(40, 1)).perplexity;
  };
  const double single = ppl(0.3, {});
  EXPECT_NEAR(ppl(1.0, {0.3, 0.3, 0.3}), single, 1e-9 * single);  // per-layer values override the single one
  EXPECT_NEAR(ppl(0.3, {0.3}), single, 1e-9 * single);            // layers past the list use the single value
  EXPECT_GT(std::abs(ppl(0.3, {1.0, 0.3, 0.3}) / single - 1), 1e-4);
}

TEST(WindowScorer, PredictedNeedsPredictors) {
  const dv::OptModel m = tiny_model();
  dv::ReferenceScorer scorer(m);
  EXPECT_FALSE(scorer.has_predictors());
  dv::ScoringPlan plan;
  plan.selection = dv::Selection::kPredicted;
  plan.mlp_density = 0.5;
  EXPECT_THROW(scorer.set_plan(plan), dv::Error);
  EXPECT_THROW(dv::parse_selection("random"), dv::Error);
  EXPECT_EQ(dv::parse_selection("oracle"), dv::Selection::kOracle);
}

TEST(WindowScorer, EngineNames) {
  const dv::OptModel m = tiny_model();
  dv::ScorerRequest r;
  r.engine = "tpu";
  try {
    dv::make_scorer(m, r);
    ADD_FAILURE() << "an unknown engine must fail";
  } catch (const dv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("tpu"), std::string::npos) << e.what();
  }
  EXPECT_NE(dv::make_scorer(m, dv::ScorerRequest{})->name(), "");
  if (at::hasCUDA()) GTEST_SKIP() << "a GPU is visible: --engine cuda is no error here (GPU tests cover it)";
  r.engine = "cuda";
  try {
    dv::check_engine_available("cuda", "--engine");
    ADD_FAILURE() << "--engine cuda without a GPU must fail";
  } catch (const dv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("--engine cuda"), std::string::npos) << e.what();
  }
  EXPECT_THROW(dv::make_scorer(m, r), dv::Error);
}

}  // namespace
