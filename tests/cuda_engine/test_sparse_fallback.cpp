// test_sparse_fallback.cpp: the measured sparse/dense choice (engine/cuda/sparse_fallback.h). Host: the rule
// (medians after the warm-up pair, the margin), the option's checks and the CLI value's parsing, each error
// naming its key. GPU: an engine with SparseSpec::fallback decodes sparse requests; the calibration requests'
// logits are the dense step's, the choice is made after calibration_steps requests and is one of the two modes,
// and the steps after it equal the dense run (dense chosen) or the plain sparse run (sparse chosen). Off the
// graph path (eager launches) the fallback does not apply and sparse requests run sparse.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_fallback.h"
#include "kernels/common/error.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::choose_step_mode;
using engine::StepChoice;
using engine::StepMode;

void expect_error_naming(const std::function<void()>& f, const std::string& key) {
  try {
    f();
    ADD_FAILURE() << "no error for " << key;
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
  }
}

TEST(SparseFallbackRule, MediansAfterTheWarmupPair) {
  // The first pair (graph upload, cold caches) is ignored even when it is far off.
  const StepChoice c = choose_step_mode({50.0, 1.0, 1.2, 1.1}, {0.1, 0.8, 0.7, 0.9}, 0.02);
  EXPECT_TRUE(c.decided);
  EXPECT_TRUE(c.sparse);
  EXPECT_EQ(c.pairs, 3);
  EXPECT_DOUBLE_EQ(c.dense_ms, 1.1);
  EXPECT_DOUBLE_EQ(c.sparse_ms, 0.8);
  // Even counts: the mean of the two middle values.
  const StepChoice e = choose_step_mode({9, 1.0, 2.0}, {9, 3.0, 5.0}, 0.0);
  EXPECT_DOUBLE_EQ(e.dense_ms, 1.5);
  EXPECT_DOUBLE_EQ(e.sparse_ms, 4.0);
  EXPECT_FALSE(e.sparse);
}

TEST(SparseFallbackRule, SparseOnlyWhenFasterByTheMargin) {
  EXPECT_FALSE(choose_step_mode({1, 1.0, 1.0}, {1, 0.99, 0.99}, 0.02).sparse);   // 1% faster: not enough
  EXPECT_TRUE(choose_step_mode({1, 1.0, 1.0}, {1, 0.97, 0.97}, 0.02).sparse);    // 3% faster
  EXPECT_FALSE(choose_step_mode({1, 1.0, 1.0}, {1, 1.0, 1.0}, 0.0).sparse);      // a tie stays dense
  EXPECT_TRUE(choose_step_mode({1, 1.0, 1.0}, {1, 0.999, 0.999}, 0.0).sparse);
  EXPECT_FALSE(choose_step_mode({1, 1.0, 1.0}, {1, 1.5, 1.5}, 0.02).sparse);     // slower
}

TEST(SparseFallbackRule, RejectsTooFewOrUnpairedTimings) {
  EXPECT_THROW(choose_step_mode({1.0}, {1.0}, 0.02), Error);
  EXPECT_THROW(choose_step_mode({1.0, 1.0, 1.0}, {1.0, 1.0}, 0.02), Error);
}

TEST(SparseFallbackOptions, DefaultsAndChecksNameTheirKeys) {
  const engine::SparseFallback f;
  EXPECT_FALSE(f.enabled);  // off in the API; generate and bench's -auto rows turn it on
  EXPECT_EQ(f.calibration_steps, 8);
  EXPECT_DOUBLE_EQ(f.margin, 0.08);
  EXPECT_FALSE(engine::SparseSpec{}.fallback.enabled);
  EXPECT_NO_THROW(engine::check_sparse_fallback(f));
  engine::SparseFallback steps = f;
  steps.calibration_steps = 1;
  expect_error_naming([&] { engine::check_sparse_fallback(steps); }, "sparse_fallback.calibration_steps");
  for (double margin : {-0.01, 0.5}) {
    engine::SparseFallback m = f;
    m.margin = margin;
    expect_error_naming([&] { engine::check_sparse_fallback(m); }, "sparse_fallback.margin");
  }
  EXPECT_TRUE(engine::parse_sparse_fallback("auto"));
  EXPECT_FALSE(engine::parse_sparse_fallback("off"));
  expect_error_naming([] { engine::parse_sparse_fallback("on"); }, "--sparse-fallback");
  const StepChoice undecided;
  EXPECT_EQ(engine::step_choice_text(undecided), "undecided");
  EXPECT_EQ(engine::step_choice_text(choose_step_mode({1, 2.0}, {1, 1.0}, 0.02)),
            "sparse (sparse 1.000 ms, dense 2.000 ms, 1 pairs)");
}

engine::SparseSpec half_spec(bool fallback, int calibration_steps) {
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = engine::SelectionSource::kFixed;
  spec.mlp.density = spec.heads.density = 0.5;
  spec.mlp.seed = 5;
  spec.heads.seed = 6;
  spec.fallback.enabled = fallback;
  spec.fallback.calibration_steps = calibration_steps;
  return spec;
}

class SparseFallbackEngine : public ::testing::TestWithParam<int> {};  // batch

TEST_P(SparseFallbackEngine, ChoosesOneModeAndDecodesAsIt) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{128, 4, 2, 520, 997};
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 71);
  const int B = GetParam(), T = 12, calibration = 4;
  const auto tokens = random_tokens(B, T, shape.vocab, 72);
  engine::CudaEngineOptions o;
  o.batch = B;
  o.max_len = T;
  engine::CudaEngine eng(engine::upload_weights(w), o);
  eng.set_sparse(half_spec(false, calibration));
  const EngineRun dense = run_engine(eng, tokens, [](int) { return StepMode::kDense; });
  const EngineRun sparse = run_engine(eng, tokens, [](int) { return StepMode::kSparse; });
  eng.reset();
  eng.set_sparse(half_spec(true, calibration));
  EXPECT_TRUE(eng.sparse_fallback_applies());
  EXPECT_FALSE(eng.sparse_choice().decided);
  const EngineRun run = run_engine(eng, tokens, [](int) { return StepMode::kSparse; }, [&](int t) {
    EXPECT_EQ(eng.sparse_choice().decided, t >= calibration) << "step " << t;
  });
  const StepChoice& choice = eng.sparse_choice();
  ASSERT_TRUE(choice.decided);
  EXPECT_EQ(choice.pairs, calibration - 1);
  EXPECT_GT(choice.dense_ms, 0);
  EXPECT_GT(choice.sparse_ms, 0);
  std::printf("batch %d: %s\n", B, engine::step_choice_text(choice).c_str());
  // The masks must matter, or "equals the sparse run" could not tell the modes apart.
  EXPECT_GT(rel_error(sparse.logits[T - 1], dense.logits[T - 1]), 10 * kFp16Tolerance);
  for (int t = 0; t < T; ++t) {
    const bool dense_step = t < calibration || !choice.sparse;
    // Dense steps replay the same dense graph on the same dense-written cache: the same logits (and tokens).
    const double err = rel_error(run.logits[t], (dense_step ? dense : sparse).logits[t]);
    EXPECT_LT(err, dense_step ? 1e-6 : kFp16Tolerance) << "step " << t << (dense_step ? " (dense)" : " (sparse)");
  }
  // A new spec forgets the choice; the sequence is dense-written when dense was chosen, so it rewinds.
  if (!choice.sparse) {
    EXPECT_NO_THROW(eng.rewind(T / 2));
  }
  eng.reset();
  eng.set_sparse(half_spec(true, calibration));
  EXPECT_FALSE(eng.sparse_choice().decided);
}

INSTANTIATE_TEST_SUITE_P(Batches, SparseFallbackEngine, ::testing::Values(1, 3));

TEST(SparseFallbackEngineEager, DoesNotApplyOffTheGraphPath) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{128, 4, 2, 520, 997};
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 73);
  const int T = 6;
  const auto tokens = random_tokens(1, T, shape.vocab, 74);
  engine::CudaEngineOptions o;
  o.max_len = T;
  o.use_graph = false;
  engine::CudaEngine eng(engine::upload_weights(w), o);
  eng.set_sparse(half_spec(false, 2));
  const EngineRun sparse = run_engine(eng, tokens, [](int) { return StepMode::kSparse; });
  eng.reset();
  eng.set_sparse(half_spec(true, 2));
  EXPECT_FALSE(eng.sparse_fallback_applies());
  const EngineRun run = run_engine(eng, tokens, [](int) { return StepMode::kSparse; });
  EXPECT_FALSE(eng.sparse_choice().decided);
  for (int t = 0; t < T; ++t) EXPECT_LT(rel_error(run.logits[t], sparse.logits[t]), kFp16Tolerance) << "step " << t;
}

}  // namespace
}  // namespace dv::test
