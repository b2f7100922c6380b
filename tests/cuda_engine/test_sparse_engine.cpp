// test_sparse_engine.cpp: the sparse path of the CUDA engine. With every neuron and head selected it must
// equal the dense engine; with random selections that change every step it must equal the reference model
// run with the same per-token masks (masked neurons/heads contribute nothing, K/V stay dense): the test of
// sparse_qkv's K/V catch-up, the head gather and the out-projection over selected heads. Each masked
// comparison also checks that the masks change the logits far beyond the tolerance, so a sparse path that
// ignored its selection could not pass. The K/V modes (catch-up of the selected heads with forced catch-up,
// or every head's K/V) and re-selection after long lags must keep the cache exact.
#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "kernels/common/error.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::CudaEngine;
using engine::CudaEngineOptions;
using engine::SelectionSource;
using engine::StepMode;

engine::SparseSpec fixed_spec(double mlp_density, double head_density) {
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = SelectionSource::kFixed;
  spec.mlp.density = mlp_density;
  spec.heads.density = head_density;
  spec.mlp.seed = 11;
  spec.heads.seed = 12;
  return spec;
}

class SparseShapeTest : public ::testing::TestWithParam<Shape> {};

TEST_P(SparseShapeTest, AllSelectedEqualsDense) {
  DV_SKIP_WITHOUT_GPU();
  const Shape& shape = GetParam();
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 31 + shape.d);
  const int B = 2, T = 8;
  const auto tokens = random_tokens(B, T, shape.vocab, 32);
  CudaEngineOptions o;
  o.batch = B;
  o.max_len = T;
  CudaEngine eng(engine::upload_weights(w), o);
  eng.set_sparse(fixed_spec(1.0, 1.0));
  const EngineRun dense = run_engine(eng, tokens, [](int) { return StepMode::kDense; });
  const EngineRun sparse = run_engine(eng, tokens, [](int) { return StepMode::kSparse; });
  for (int t = 0; t < T; ++t)
    EXPECT_LT(rel_error(sparse.logits[t], dense.logits[t]), kFp16Tolerance) << shape.name() << " step " << t;
  // And both against the reference, so "equal" cannot mean "equally wrong".
  const at::Tensor ref = reference_logits(OptModel(w), tokens, {}, {});
  EXPECT_LT(max_rel_error(sparse, ref), kFp16Tolerance);
}

// Selections drawn afresh every step: a head skipped for a few steps and selected again must first compute
// the K/V rows it missed. `dense_prompt` steps run dense first (the paper's setting), which exercises the
// hand-over (kv_valid filled to the dense length).
void check_masked(const Shape& shape, int B, int T, int dense_prompt, double mlp_density, int heads_kept,
                  engine::KvHeads kv_heads = engine::KvHeads::kAuto) {
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 41 + shape.d + dense_prompt);
  const OptModel model(w);
  const auto tokens = random_tokens(B, T, shape.vocab, 42 + B);
  const int L = shape.layers, k_mlp = engine::kept_count(mlp_density, shape.ffn);
  StepSelections heads(T, std::vector<std::vector<int>>(L)), mlp(T, std::vector<std::vector<int>>(L));
  for (int t = 0; t < T; ++t)
    for (int l = 0; l < L; ++l) {
      const bool dense = t < dense_prompt;
      mlp[t][l] = dense ? random_subset(shape.ffn, shape.ffn, 0) : random_subset(shape.ffn, k_mlp, 7919 * t + l);
      heads[t][l] = dense ? random_subset(shape.heads, shape.heads, 0)
                          : random_subset(shape.heads, heads_kept, 104729 * t + 31 * l + 1);
    }
  CudaEngineOptions o;
  o.batch = B;
  o.max_len = T + 1;
  CudaEngine eng(engine::upload_weights(w), o);
  engine::SparseSpec spec = fixed_spec(mlp_density, static_cast<double>(heads_kept) / shape.heads);
  spec.kv_heads = kv_heads;
  eng.set_sparse(spec);
  const EngineRun run = run_engine(
      eng, tokens, [&](int t) { return t < dense_prompt ? StepMode::kDense : StepMode::kSparse; },
      [&](int t) {
        if (t < dense_prompt) return;
        for (int l = 0; l < L; ++l) {
          eng.set_fixed_selection(true, l, mlp[t][l]);
          eng.set_fixed_selection(false, l, heads[t][l]);
        }
      },
      [&](int t) {
        if (t < dense_prompt) return;
        for (int l = 0; l < L; ++l) {  // the engine ran exactly the lists it was given
          ASSERT_EQ(eng.selection(true, l), mlp[t][l]);
          ASSERT_EQ(eng.selection(false, l), heads[t][l]);
        }
      });
  const at::Tensor ref = reference_logits(model, tokens, heads, mlp);
  std::string detail;
  const double err = max_rel_error(run, ref, &detail);
  EXPECT_LT(err, kFp16Tolerance) << shape.name() << " B=" << B << " dense prompt " << dense_prompt
                                 << " per step:" << detail;
  // The masks matter: the dense reference is far from the masked one after the dense prompt.
  const at::Tensor dense_ref = reference_logits(model, tokens, {}, {});
  const at::Tensor tail = dense_ref.slice(1, dense_prompt).contiguous();
  const at::Tensor mref = ref.slice(1, dense_prompt).contiguous();
  const double effect = (tail - mref).norm().item<double>() / mref.norm().item<double>();
  EXPECT_GT(effect, 5 * kFp16Tolerance) << "masks barely change the logits: the test would not see a wrong selection";
}

TEST_P(SparseShapeTest, ChangingSelectionsMatchMaskedReference) {
  DV_SKIP_WITHOUT_GPU();
  const Shape& shape = GetParam();
  check_masked(shape, 1, 12, 0, 0.2, std::max(1, shape.heads / 2));
}

TEST_P(SparseShapeTest, DensePromptThenSparseMatchesMaskedReference) {
  DV_SKIP_WITHOUT_GPU();
  const Shape& shape = GetParam();
  check_masked(shape, 3, 12, 5, 0.1, std::max(1, shape.heads - 1));  // auto: all heads' K/V (union >= 90%)
}

// K/V of every head while q, attention and W_o stay on the selected heads, and the catch-up forced on at a
// batch where auto would pick all heads: both equal the masked reference.
TEST_P(SparseShapeTest, KvModesMatchMaskedReference) {
  DV_SKIP_WITHOUT_GPU();
  const Shape& shape = GetParam();
  check_masked(shape, 1, 10, 2, 0.2, std::max(1, shape.heads / 2), engine::KvHeads::kAll);
  check_masked(shape, 2, 10, 0, 0.2, std::max(1, shape.heads - 1), engine::KvHeads::kSelected);
}

INSTANTIATE_TEST_SUITE_P(Shapes, SparseShapeTest,
                         ::testing::Values(Shape{256, 4, 3, 1032, 997, 0, true},   // hd 64
                                           Shape{192, 3, 2, 776, 1001, 96, false},  // post-LN + projection
                                           Shape{160, 2, 2, 648, 1000, 0, true},  // hd 80
                                           Shape{512, 4, 2, 2056, 800, 0, true}),  // hd 128
                         [](const auto& info) { return info.param.name(); });

// A head re-selected after lags 0 / 31 / 127 / 2047 (every layer's head 0; the other head random): with two
// heads the plan forces a catch-up at lag 127, so lag 127 is served by one 128-column pass of the selected
// head and lag 2047 by forced catch-ups on the low-priority stream; the logits equal the masked reference,
// nothing falls out of the input ring, and the forced catch-up ran when a lag passed the bound.
TEST(SparseEngine, BoundedCatchupAtLongLags) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{128, 2, 2, 520, 997, 0, true};
  OptConfig c = make_config(shape);
  c.max_position_embeddings = 2100;
  const OptWeights w = random_half_exact_weights(c, 61);
  const OptModel model(w);
  for (int gap : {0, 31, 127, 2047}) {
    SCOPED_TRACE("gap " + std::to_string(gap));
    const int T = gap + 12, L = shape.layers;
    const auto tokens = random_tokens(1, T, shape.vocab, 62 + gap);
    StepSelections heads(T, std::vector<std::vector<int>>(L)), mlp(T, std::vector<std::vector<int>>(L));
    for (int t = 0; t < T; ++t)
      for (int l = 0; l < L; ++l) {
        mlp[t][l] = random_subset(shape.ffn, 104, 7 * t + l);
        heads[t][l] = t % (gap + 1) == 0 ? std::vector<int>{0} : std::vector<int>{1};
      }
    CudaEngineOptions o;
    o.max_len = T;
    CudaEngine eng(engine::upload_weights(w), o);
    eng.set_sparse(fixed_spec(0.2, 0.5));
    ASSERT_FALSE(eng.sparse()->kv[0].all_kv);
    const EngineRun run = run_engine(eng, tokens, [](int) { return StepMode::kSparse; }, [&](int t) {
      for (int l = 0; l < L; ++l) {
        eng.set_fixed_selection(true, l, mlp[t][l]);
        eng.set_fixed_selection(false, l, heads[t][l]);
      }
    });
    std::string detail;
    EXPECT_LT(max_rel_error(run, reference_logits(model, tokens, heads, mlp), &detail), kFp16Tolerance) << detail;
    const engine::CatchupStats st = eng.sparse()->catchup_stats(0, T, eng.stream());
    EXPECT_EQ(st.lost, 0);
    EXPECT_EQ(st.forced > 0, gap == 2047) << "forced head-positions " << st.forced;
    EXPECT_LE(st.max_per_step, 2 * L * 128);
  }
}

// Rewind (what the benchmark does between configurations) replays the same positions with the same result,
// and an empty selection (a block that keeps nothing) is legal and equals the reference with zero masks.
TEST(SparseEngine, RewindReplaysAndEmptySelectionsWork) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{256, 4, 2, 1032, 997, 0, true};
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 51);
  const int P = 6, S = 5;
  const auto tokens = random_tokens(1, P + S, shape.vocab, 52);
  CudaEngineOptions o;
  o.max_len = P + S;
  CudaEngine eng(engine::upload_weights(w), o);
  eng.set_sparse(fixed_spec(0.25, 0.5));
  eng.reset();
  for (int t = 0; t < P; ++t) eng.step({tokens[0][t]}, StepMode::kDense);
  std::vector<std::vector<float>> first, second;
  for (int t = P; t < P + S; ++t) {
    eng.step({tokens[0][t]}, StepMode::kSparse);
    first.push_back(eng.logits());
  }
  eng.rewind(P);
  for (int t = P; t < P + S; ++t) {
    eng.step({tokens[0][t]}, StepMode::kSparse);
    second.push_back(eng.logits());
  }
  for (int s = 0; s < S; ++s) EXPECT_LT(rel_error(second[s], first[s]), 5e-3) << "step " << P + s;
  EXPECT_THROW(eng.step({tokens[0][0]}, StepMode::kDense), dv::Error);  // dense after sparse is refused

  // Empty lists in layer 1 (MLP and heads), against the reference with all-zero masks there.
  const int L = shape.layers;
  StepSelections heads(P + S, std::vector<std::vector<int>>(L)), mlp(P + S, std::vector<std::vector<int>>(L));
  for (int t = 0; t < P + S; ++t) {
    mlp[t][0] = random_subset(shape.ffn, 250, 3 + t);  // capacity: kept_count(0.25, 1032) = 258
    heads[t][0] = {1, 3};
  }
  const EngineRun run = run_engine(eng, tokens, [](int) { return StepMode::kSparse; }, [&](int t) {
    for (int l = 0; l < L; ++l) {
      eng.set_fixed_selection(true, l, mlp[t][l]);
      eng.set_fixed_selection(false, l, heads[t][l]);
    }
  });
  EXPECT_LT(max_rel_error(run, reference_logits(OptModel(w), tokens, heads, mlp)), kFp16Tolerance);
}

}  // namespace
}  // namespace dv::test
