// test_l2_warmup_engine.cpp: the L2 warm-up (kernels/common/l2_warmup.cuh: attention prefetches W_o at the
// selected heads, the layer norms the next up projection's and QKV's weights) must not change what the decode
// step computes, and moving the predictors' joins from the up projection and the QKV op to the layer norms before
// them (where the warm-up reads the selections) must keep every kernel after its selection. The same sequence
// (dense steps, then sparse steps whose predictors run on the side stream) runs with DEJAVU_L2_WARMUP=0 and with
// the warm-up on, from warm units in front of the ops and from a forked stream (units, branch): the same selections
// and the same logits bit for bit, and the branch run within fp16 noise of the reference model under them.
// Pre-LN and post-LN blocks, batch 1 and 3, the block_out flow (the default sparse flow: attention and both layer
// norms warm) and the residual flow (attention alone), predictors with lookahead (the defaults) and of the block's
// own input (the layer norms then warm nothing sparse).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "tests/common/scoped_env.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::StepMode;

struct WarmCase {
  Shape shape;
  int batch;
  const char* flow;    // DEJAVU_SPARSE_FLOW
  bool exact_inputs;   // predictors of the block's own input (no lookahead): the layer norms cannot warm those
};

std::string case_name(const ::testing::TestParamInfo<WarmCase>& info) {
  const WarmCase& c = info.param;
  return std::string(c.shape.pre_ln ? "pre" : "post") + "_B" + std::to_string(c.batch) + "_" + c.flow +
         (c.exact_inputs ? "_exact" : "");
}

class L2WarmupEngine : public ::testing::TestWithParam<WarmCase> {};

TEST_P(L2WarmupEngine, SameSelectionsAndLogitsWithAndWithoutWarmup) {
  DV_SKIP_WITHOUT_GPU();
  const WarmCase& wc = GetParam();
  const Shape& shape = wc.shape;
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 501);
  const OptModel model(w);
  const int B = wc.batch, T = 8, L = shape.layers, dense_steps = 2;
  const auto tokens = random_tokens(B, T, shape.vocab, 502);
  engine::SparseSpec spec = random_predictor_spec(shape, 0.2, 0.5, 48, 32, 503, 504);
  if (wc.exact_inputs) {
    spec.mlp.input = engine::PredictorInputKind::kMlpInput;
    spec.heads.input = engine::PredictorInputKind::kAttnInput;
  }
  auto mode = [&](int t) { return t < dense_steps ? StepMode::kDense : StepMode::kSparse; };

  StepSelections heads, mlp;
  auto run = [&](const char* warmup) {
    const ScopedEnv warm_env("DEJAVU_L2_WARMUP", warmup), budget_env("DEJAVU_L2_WARMUP_MB", ""),
        flow_env("DEJAVU_SPARSE_FLOW", wc.flow);
    engine::CudaEngineOptions o;
    o.batch = B;
    o.max_len = T;
    engine::CudaEngine eng(engine::upload_weights(w), o);
    eng.set_sparse(spec);
    return run_recording_selections(eng, tokens, mode, &mlp, &heads);
  };
  const EngineRun off = run("0");
  const StepSelections mlp_off = mlp, heads_off = heads;
  EngineRun on;
  for (const char* warmup : {"units", "branch"}) {
    SCOPED_TRACE(std::string("DEJAVU_L2_WARMUP=") + warmup);
    on = run(warmup);
    ASSERT_EQ(on.logits.size(), off.logits.size());
    for (int t = 0; t < T; ++t) {
      ASSERT_EQ(on.logits[t].size(), off.logits[t].size());
      size_t differ = 0;
      for (size_t i = 0; i < on.logits[t].size(); ++i) differ += on.logits[t][i] != off.logits[t][i] ? 1 : 0;
      EXPECT_EQ(differ, 0u) << "step " << t << ": logits that differ with the warm-up on";
      for (int l = 0; l < L && t >= dense_steps; ++l) {
        EXPECT_EQ(mlp[t][l], mlp_off[t][l]) << "MLP selection, step " << t << " layer " << l;
        EXPECT_EQ(heads[t][l], heads_off[t][l]) << "head selection, step " << t << " layer " << l;
      }
    }
  }
  for (int t = 0; t < dense_steps; ++t)  // dense steps keep everything
    for (int l = 0; l < L; ++l) {
      mlp[t][l] = random_subset(shape.ffn, shape.ffn, 0);
      heads[t][l] = random_subset(shape.heads, shape.heads, 0);
    }
  const at::Tensor ref = reference_logits(model, tokens, heads, mlp);
  std::string detail;
  EXPECT_LT(max_rel_error(on, ref, &detail), kFp16Tolerance) << "per step:" << detail;
}

INSTANTIATE_TEST_SUITE_P(Flows, L2WarmupEngine,
                         ::testing::Values(WarmCase{{256, 4, 3, 1032, 997, 0, true}, 1, "block_out", false},
                                           WarmCase{{320, 5, 3, 1288, 997, 0, true}, 3, "block_out", false},
                                           WarmCase{{256, 4, 3, 1032, 997, 0, true}, 2, "block_out", true},
                                           WarmCase{{256, 4, 3, 1032, 997, 0, false}, 2, "block_out", false},
                                           WarmCase{{256, 4, 3, 1032, 997, 0, true}, 1, "residual", false}),
                         case_name);

}  // namespace
}  // namespace dv::test
