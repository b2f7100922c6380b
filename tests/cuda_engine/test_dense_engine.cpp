// test_dense_engine.cpp: the dense CUDA engine against the fp32 LibTorch reference on identical fp16-exact
// random weights, over several decode steps and odd shapes (pre-LN and post-LN with the word_embed_proj_dim
// projection, head_dim 64/80/128, batch 1..3, vocabularies that are not multiples of 8); and CUDA-graph
// replay against eager launches of the same step.
#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "kernels/common/error.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::CudaEngine;
using engine::CudaEngineOptions;
using engine::StepMode;

struct DenseCase {
  Shape shape;
  int batch = 1;
  int steps = 9;
};

void PrintTo(const DenseCase& k, std::ostream* os) { *os << k.shape.name() << " batch " << k.batch; }

class DenseEngineTest : public ::testing::TestWithParam<DenseCase> {};

TEST_P(DenseEngineTest, LogitsMatchReference) {
  DV_SKIP_WITHOUT_GPU();
  const DenseCase& k = GetParam();
  const OptConfig c = make_config(k.shape);
  const uint64_t seed = 1000 + k.shape.d + k.batch;
  const OptWeights w = random_half_exact_weights(c, seed);
  const OptModel ref_model(w);
  const auto tokens = random_tokens(k.batch, k.steps, static_cast<int>(c.vocab_size), seed + 1);
  const at::Tensor ref = reference_logits(ref_model, tokens, {}, {});

  CudaEngineOptions o;
  o.batch = k.batch;
  o.max_len = k.steps + 3;
  CudaEngine eng(engine::upload_weights(w), o);
  const EngineRun run = run_engine(eng, tokens, [](int) { return StepMode::kDense; });
  std::string detail;
  const double err = max_rel_error(run, ref, &detail);
  EXPECT_LT(err, kFp16Tolerance) << k.shape.name() << " B=" << k.batch << " per step:" << detail;
  RecordProperty("max_rel_error", std::to_string(err));
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, DenseEngineTest,
    ::testing::Values(DenseCase{Shape{128, 2, 3, 520, 997, 0, true}, 1, 9},   // hd 64, odd vocab
                      DenseCase{Shape{192, 3, 2, 776, 1001, 96, false}, 2, 9},  // post-LN + projection (opt-350m)
                      DenseCase{Shape{160, 2, 2, 648, 1000, 0, true}, 3, 7},  // hd 80 (opt-2.7b), batch 3
                      DenseCase{Shape{256, 2, 1, 1024, 512, 128, true}, 2, 6}),  // hd 128, pre-LN + projection
    [](const auto& info) { return info.param.shape.name() + "_b" + std::to_string(info.param.batch); });

// The captured graph replays exactly the eager launch sequence: any pointer, position or stream-ordering
// mistake in the capture shows up as a mismatch on some step. Dense and sparse (random fixed selections
// that change every step, exercising the K/V catch-up) modes.
TEST(CudaEngineGraph, ReplayEqualsEagerLaunches) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{256, 4, 2, 1032, 997, 0, true};
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 77);
  const int B = 2, T = 10;
  const auto tokens = random_tokens(B, T, static_cast<int>(c.vocab_size), 78);
  CudaEngineOptions o;
  o.batch = B;
  o.max_len = T + 2;
  CudaEngine eng(engine::upload_weights(w), o);
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = engine::SelectionSource::kFixed;
  spec.mlp.density = 0.3;
  spec.heads.density = 0.5;
  eng.set_sparse(spec);
  const int L = shape.layers, k_mlp = engine::kept_count(0.3, shape.ffn), k_heads = 2;
  auto select = [&](int t) {
    for (int l = 0; l < L; ++l) {
      eng.set_fixed_selection(true, l, random_subset(shape.ffn, k_mlp, 1000 * t + l));
      eng.set_fixed_selection(false, l, random_subset(shape.heads, k_heads, 2000 * t + l));
    }
  };
  for (StepMode mode : {StepMode::kDense, StepMode::kSparse}) {
    eng.set_use_graph(true);
    const EngineRun graph = run_engine(eng, tokens, [&](int) { return mode; }, select);
    eng.set_use_graph(false);
    const EngineRun eager = run_engine(eng, tokens, [&](int) { return mode; }, select);
    bool bitwise = true;
    for (int t = 0; t < T; ++t) {
      const double e = rel_error(graph.logits[t], eager.logits[t]);
      bitwise = bitwise && graph.logits[t] == eager.logits[t];
      // The sparse down-projection sums its row splits with fp32 atomics (order varies run to run), so the
      // sparse mode agrees to rounding, not bitwise; dense should be bitwise.
      EXPECT_LT(e, mode == StepMode::kDense ? 1e-6 : 5e-3) << (mode == StepMode::kDense ? "dense" : "sparse")
                                                             << " step " << t;
    }
    std::printf("graph vs eager, %s: %s\n", mode == StepMode::kDense ? "dense" : "sparse",
                bitwise ? "bitwise equal" : "equal to rounding");
  }
}

// Positions past the KV cache are refused on the host instead of silently dropped by the kernels.
TEST(CudaEngineGraph, RefusesStepsPastTheCache) {
  DV_SKIP_WITHOUT_GPU();
  const OptConfig c = make_config(Shape{128, 2, 1, 512, 600, 0, true});
  CudaEngineOptions o;
  o.max_len = 2;
  CudaEngine eng(engine::upload_weights(random_half_exact_weights(c, 5)), o);
  eng.step({1}, StepMode::kDense);
  eng.step({2}, StepMode::kDense);
  EXPECT_THROW(eng.step({3}, StepMode::kDense), dv::Error);
  EXPECT_THROW(eng.set_tokens({600}), dv::Error);
}

}  // namespace
}  // namespace dv::test
