// test_model_bench.cpp: `dejavu bench --model`'s engine side (engine/cuda/model_bench.h) on a small random
// model: one row per configuration with the right names, kept counts and byte terms; the timed steps feed the
// given tokens in order (the engine ends where stepping the same tokens one by one ends); bad token counts and
// configuration lists are errors; a -auto configuration (SparseSpec::fallback) notes the mode it settled on.
// Latency values are not asserted (no timing asserts), only that they exist.
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/cuda/model_bench.h"
#include "kernels/common/error.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::StepMode;

std::vector<int32_t> token_stream(int n, int vocab, uint64_t seed) { return random_tokens(1, n, vocab, seed)[0]; }

// The tiny model's bench options: prompt 9, 2 warm-up + 7 timed steps of fresh tokens.
engine::ModelBenchOptions tiny_options(const Shape& shape, uint64_t seed) {
  engine::ModelBenchOptions o;
  o.name = "tiny";
  o.prompt_len = 9;
  o.warmup = 2;
  o.iters = 7;
  o.tokens = token_stream(o.prompt_len + o.warmup + o.iters, shape.vocab, seed);
  return o;
}

// Random predictors (MLP rank 24, heads rank 8) at MLP 10%, heads 50%.
engine::ModelBenchConfig predictor_config(const std::string& name, const Shape& shape, uint64_t seed) {
  engine::ModelBenchConfig cfg;
  cfg.engine = name;
  cfg.sparse = true;
  cfg.mlp_density = cfg.spec.mlp.density = 0.1;
  cfg.head_density = cfg.spec.heads.density = 0.5;
  cfg.spec.mlp.source = cfg.spec.heads.source = engine::SelectionSource::kPredictor;
  cfg.spec.mlp.predictors = random_predictors(shape.layers, shape.d, 24, shape.ffn, seed);
  cfg.spec.heads.predictors = random_predictors(shape.layers, shape.d, 8, shape.heads, seed + 100);
  return cfg;
}

TEST(ModelBench, OneRowPerConfigurationWithItsSelectionsAndBytes) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape;
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 5);
  const engine::ModelBenchOptions o = tiny_options(shape, 11);
  std::vector<engine::ModelBenchConfig> configs(3);
  configs[0].engine = "dense";
  configs[1].engine = "sparse-fixed";
  configs[1].sparse = true;
  configs[1].mlp_density = configs[1].spec.mlp.density = 0.3;
  configs[1].head_density = configs[1].spec.heads.density = 0.5;
  configs[1].spec.mlp.source = configs[1].spec.heads.source = engine::SelectionSource::kFixed;
  configs[2] = predictor_config("sparse-predictor", shape, 100);
  int emitted = 0;
  const engine::BenchReport rep =
      engine::run_model_bench(engine::upload_weights(w), o, configs, [&](const engine::BenchRow&) { ++emitted; });
  ASSERT_EQ(rep.rows.size(), 3u);
  EXPECT_EQ(emitted, 3);
  EXPECT_GT(rep.copy_gbps, 0);
  EXPECT_FALSE(rep.notes.empty());  // the prompt's time
  for (size_t i = 0; i < 3; ++i) {
    const engine::BenchRow& r = rep.rows[i];
    SCOPED_TRACE(r.engine);
    EXPECT_EQ(r.engine, configs[i].engine);
    EXPECT_EQ(r.shape, "tiny");
    EXPECT_EQ(r.batch, 1);
    EXPECT_EQ(r.layers, shape.layers);
    EXPECT_FALSE(r.per_layer);
    EXPECT_GT(r.median_ms, 0);
    EXPECT_LE(r.p10_ms, r.median_ms);
    EXPECT_LE(r.median_ms, r.p90_ms);
    EXPECT_GT(r.floor_ms, 0);
    EXPECT_GT(r.weight_bytes, 0);
    EXPECT_GT(r.kv_bytes, 0);
    EXPECT_GT(r.speedup_vs_dense, 0);
    EXPECT_EQ(r.catchup_lost, 0);  // the catch-up plan keeps every head within the input ring
    EXPECT_LE(r.catchup_per_step, r.catchup_max);
  }
  EXPECT_EQ(rep.rows[0].catchup_max, 0);  // dense: nothing to catch up
  EXPECT_EQ(rep.rows[0].mlp_kept, shape.ffn);
  EXPECT_EQ(rep.rows[0].heads_kept, shape.heads);
  EXPECT_EQ(rep.rows[0].speedup_vs_dense, 1.0);
  EXPECT_EQ(rep.rows[1].mlp_kept, engine::kept_count(0.3, shape.ffn));
  EXPECT_EQ(rep.rows[1].heads_kept, 1);
  EXPECT_EQ(rep.rows[1].predictor_bytes, 0);
  EXPECT_EQ(rep.rows[2].mlp_kept, engine::kept_count(0.1, shape.ffn));
  // fp16 predictor weights of both kinds in every layer.
  const double pred = 2.0 * shape.layers * (24.0 * (shape.d + shape.ffn) + 8.0 * (shape.d + shape.heads));
  EXPECT_NEAR(rep.rows[2].predictor_bytes, pred, 0.01 * pred);
  EXPECT_LT(rep.rows[1].weight_bytes, rep.rows[0].weight_bytes);
}

// A configuration with SparseSpec::fallback (bench --model's -auto rows) calibrates, is timed in the mode it
// settled on, names it in a note, and runs on the graph path only (the persistent path has no choice to make).
TEST(ModelBench, AutoRowSettlesOnAModeAndNotesIt) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape;
  const OptWeights w = random_half_exact_weights(make_config(shape), 8);
  engine::ModelBenchOptions o = tiny_options(shape, 14);
  o.decode_paths = {"graph", "persistent"};
  std::vector<engine::ModelBenchConfig> configs(2);
  configs[0].engine = "dense";
  configs[1] = predictor_config("sparse-predictor-auto", shape, 101);
  configs[1].spec.fallback.enabled = true;
  configs[1].spec.fallback.calibration_steps = 4;
  const engine::BenchReport rep = engine::run_model_bench(engine::upload_weights(w), o, configs, {});
  ASSERT_EQ(rep.rows.size(), 3u);  // dense, dense-persistent, the auto row on the graph path only
  EXPECT_EQ(rep.rows[1].engine, "dense-persistent");
  const engine::BenchRow& r = rep.rows[2];
  EXPECT_EQ(r.engine, "sparse-predictor-auto");
  EXPECT_GT(r.median_ms, 0);
  std::string note;
  for (const std::string& n : rep.notes)
    if (n.find("sparse-predictor-auto") != std::string::npos) note = n;
  std::printf("%s\n", note.c_str());
  const bool sparse = note.find(": runs sparse (") != std::string::npos;
  EXPECT_TRUE(sparse || note.find(": runs dense (") != std::string::npos) << note;
  EXPECT_NE(note.find(", 3 pairs)"), std::string::npos) << note;
  if (!sparse) {  // settled on dense: every neuron and head, nothing caught up, no predictor reads
    EXPECT_EQ(r.mlp_kept, shape.ffn);
    EXPECT_EQ(r.heads_kept, shape.heads);
    EXPECT_EQ(r.catchup_max, 0);
    EXPECT_EQ(r.predictor_bytes, 0);
  }
}

// The timed steps upload one token each, in order: after timing, the engine's logits are those of stepping the
// prompt and the same tokens one by one on a fresh engine.
TEST(ModelBench, TimedStepsFeedTheirTokensInOrder) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape;
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 6);
  const int prompt = 6, warmup = 2, iters = 4, n = prompt + warmup + iters;
  const std::vector<int32_t> tokens = token_stream(n, shape.vocab, 12);
  engine::CudaEngineOptions eo;
  eo.max_len = n + 1;
  engine::CudaEngine timed(engine::upload_weights(w), eo);
  timed.reset();
  for (int t = 0; t < prompt; ++t) timed.step({tokens[t]}, StepMode::kDense);
  const std::vector<int32_t> decode(tokens.begin() + prompt, tokens.end());
  engine::time_decode_steps(timed, StepMode::kDense, prompt, warmup, iters, decode);
  EXPECT_EQ(timed.position(), n);
  engine::CudaEngine stepped(engine::upload_weights(w), eo);
  const EngineRun run = run_engine(stepped, {tokens}, [](int) { return StepMode::kDense; });
  EXPECT_LT(rel_error(timed.logits(), run.logits.back()), 1e-4);
  // A stream of different tokens ends elsewhere: the comparison can fail.
  std::vector<int32_t> other = decode;
  other.back() = (other.back() + 1) % shape.vocab;
  engine::time_decode_steps(timed, StepMode::kDense, prompt, warmup, iters, other);
  EXPECT_GT(rel_error(timed.logits(), run.logits.back()), 1e-3);
}

TEST(ModelBench, TooFewTokensAndNoDenseFirstAreErrors) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape;
  const OptWeights w = random_half_exact_weights(make_config(shape), 7);
  engine::ModelBenchOptions o;
  o.prompt_len = 8;
  o.warmup = 2;
  o.iters = 5;
  o.tokens = token_stream(14, shape.vocab, 13);  // one short
  std::vector<engine::ModelBenchConfig> configs(1);
  configs[0].engine = "dense";
  EXPECT_THROW(engine::run_model_bench(engine::upload_weights(w), o, configs, {}), Error);
  o.tokens = token_stream(15, shape.vocab, 13);
  configs[0].sparse = true;
  EXPECT_THROW(engine::run_model_bench(engine::upload_weights(w), o, configs, {}), Error);
}

}  // namespace
}  // namespace dv::test
