// test_predictor_budget.cpp: the rank rule of engine/cuda/predictor_budget.h on the built-in OPT shapes (host
// only): ranks are multiples of 8 within the maxima, in the maxima's ratio, their bytes stay within the share
// while 8 more MLP rank would not (unless capped), int8 affords at least the fp16 ranks, share 0 keeps the
// maxima. Prints the ranks each shape gets, the figures engine/cuda/README.md quotes.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "engine/cuda/bench_bytes.h"
#include "engine/cuda/predictor_budget.h"
#include "engine/io/opt_config.h"

namespace dv::test {
namespace {

TEST(PredictorBudget, RanksKeepTheShareOnEveryShape) {
  for (const char* name : {"opt-1.3b", "opt-6.7b", "opt-13b", "opt-30b", "opt-66b"}) {
    const OptConfig c = opt_config_from_name(name);
    int fp16_rank = 0;
    for (const bool int8 : {false, true}) {
      engine::PredictorBudget b;
      b.int8 = int8;
      const engine::PredictorSizing s = engine::size_predictors(c, b, 1, 0.1, 0.5, 192);
      std::printf("%-9s %s: ranks %4d / %3d, predictors %.1f MB = %.1f%% of the sparse step (%.1f MB)\n", name,
                  int8 ? "int8" : "fp16", s.rank_mlp, s.rank_att, s.predictor_bytes / 1e6, 100 * s.share(),
                  s.step_bytes / 1e6);
      EXPECT_EQ(s.rank_mlp % 8, 0);
      EXPECT_EQ(s.rank_att % 8, 0);
      EXPECT_GE(s.rank_mlp, 8);
      EXPECT_LE(s.rank_mlp, b.max_rank_mlp);
      EXPECT_LE(s.rank_att, b.max_rank_att);
      EXPECT_NEAR(s.rank_att, s.rank_mlp * 512.0 / 1000.0, 8.0);
      if (s.rank_mlp > 8) EXPECT_LE(s.share(), b.share + 1e-9) << name;
      if (s.rank_mlp < b.max_rank_mlp) {
        // 8 more MLP rank, the attention rank following in the ratio (rounded up), no longer fits.
        const int att = static_cast<int>(std::ceil((s.rank_mlp + 8) * 512.0 / 1000.0));
        const double more = c.num_hidden_layers * engine::predictor_layer_bytes(c, s.rank_mlp + 8, att, int8);
        EXPECT_GT(more, b.share * s.step_bytes) << name << ": 8 more MLP rank still fits";
      }
      if (!int8) fp16_rank = s.rank_mlp;
      if (int8) EXPECT_GE(s.rank_mlp, fp16_rank) << name;
    }
  }
}

TEST(PredictorBudget, ShareZeroKeepsTheMaximumRanks) {
  engine::PredictorBudget b;
  b.share = 0;
  const engine::PredictorSizing s = engine::size_predictors(opt_config_from_name("opt-1.3b"), b, 1, 0.1, 0.5, 192);
  EXPECT_EQ(s.rank_mlp, 1000);
  EXPECT_EQ(s.rank_att, 512);
  EXPECT_GT(s.share(), 0.5);  // the reason for the rule: rank 1000 reads about as much as the sparse step
}

// The roofline's catch-up term (bench_bytes.h): per missed (head, position), B input rows of d read from the
// ring and B K and V rows of head_dim written, fp16; nothing caught up adds nothing, and it enters total().
TEST(BenchBytes, CatchupAddsRingReadsAndKvWrites) {
  const OptConfig c = opt_config_from_name("opt-13b");  // d 5120, 40 heads of 128
  EXPECT_EQ(engine::catchup_bytes(c, 1, 0), 0.0);
  EXPECT_EQ(engine::catchup_bytes(c, 1, 1), (5120 + 2 * 128) * 2.0);
  EXPECT_EQ(engine::catchup_bytes(c, 3, 742.5), 742.5 * 3 * (5120 + 2 * 128) * 2.0);
  engine::StepBytes s = engine::step_bytes(c, 1, 100, 2048, 20);
  const double without = s.total();
  s.catchup = engine::catchup_bytes(c, 1, 10);
  EXPECT_DOUBLE_EQ(s.total(), without + s.catchup);
}

}  // namespace
}  // namespace dv::test
