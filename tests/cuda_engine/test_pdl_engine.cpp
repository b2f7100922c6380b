// test_pdl_engine.cpp: programmatic dependent launch (kernels/common/pdl.cuh) must not change what the
// decode step computes. The same sequence (dense steps, then sparse steps whose predictors run on the side
// stream) runs through an engine captured with PDL (the default) and one captured with DEJAVU_PDL=0; their
// logits must agree to fp32 reduction-order noise (the down kernels' fp32 reductions are unordered), and the
// PDL run must match the reference model under the engine's own selections. Any missed wait (a kernel
// reading its input before the previous kernel finished) shows up as a mismatch here. Both modes of
// DEJAVU_PDL_JOINS for the PDL run: plain (kernels after the predictors' and the catch-up's event joins
// launched plainly) and wait (they keep PDL and the ops wait before reading the joined selection).
#include <string>

#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "tests/common/scoped_env.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::StepMode;

// The PDL run's DEJAVU_PDL_JOINS (the PDL-off run has no programmatic edges, joins or not).
class PdlEngine : public ::testing::TestWithParam<const char*> {};

TEST_P(PdlEngine, SameLogitsWithAndWithoutPdl) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{256, 4, 3, 1032, 997, 0, true};
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 81);
  const OptModel model(w);
  const int B = 2, T = 9, L = shape.layers, dense_steps = 3;
  const auto tokens = random_tokens(B, T, shape.vocab, 82);
  const engine::SparseSpec spec = random_predictor_spec(shape, 0.2, 0.5, 64, 32, 300, 400);
  auto mode = [&](int t) { return t < dense_steps ? StepMode::kDense : StepMode::kSparse; };

  StepSelections heads, mlp;
  auto run = [&](const char* pdl) {
    const ScopedEnv pdl_env("DEJAVU_PDL", pdl), joins_env("DEJAVU_PDL_JOINS", GetParam());
    engine::CudaEngineOptions o;
    o.batch = B;
    o.max_len = T;
    engine::CudaEngine eng(engine::upload_weights(w), o);
    eng.set_sparse(spec);
    return run_recording_selections(eng, tokens, mode, &mlp, &heads);
  };
  const EngineRun off = run("0");
  const StepSelections mlp_off = mlp, heads_off = heads;
  const EngineRun on = run("1");
  ASSERT_EQ(on.logits.size(), off.logits.size());
  for (int t = 0; t < T; ++t) {
    EXPECT_LT(rel_error(on.logits[t], off.logits[t]), 1e-3) << "step " << t;
    for (int l = 0; l < L && t >= dense_steps; ++l) {
      EXPECT_EQ(mlp[t][l], mlp_off[t][l]) << "MLP selection, step " << t << " layer " << l;
      EXPECT_EQ(heads[t][l], heads_off[t][l]) << "head selection, step " << t << " layer " << l;
    }
  }
  // Dense steps keep everything: the reference takes full lists there.
  for (int t = 0; t < dense_steps; ++t)
    for (int l = 0; l < L; ++l) {
      mlp[t][l] = random_subset(shape.ffn, shape.ffn, 0);
      heads[t][l] = random_subset(shape.heads, shape.heads, 0);
    }
  const at::Tensor ref = reference_logits(model, tokens, heads, mlp);
  std::string detail;
  EXPECT_LT(max_rel_error(on, ref, &detail), kFp16Tolerance) << "per step:" << detail;
}

INSTANTIATE_TEST_SUITE_P(Joins, PdlEngine, ::testing::Values("plain", "wait"),
                         [](const ::testing::TestParamInfo<const char*>& info) { return std::string(info.param); });

}  // namespace
}  // namespace dv::test
