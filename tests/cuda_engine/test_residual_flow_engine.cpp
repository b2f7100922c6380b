// test_residual_flow_engine.cpp: the sparse step's residual-stream flow (DEJAVU_SPARSE_FLOW=residual: W_o and
// the MLP down add bias and residual, the QKV op and the up projection normalize their inputs themselves) with
// the layer-norm statistics from the producers' row partials (the default there; DEJAVU_LN_PARTIALS=0 makes the
// consumers read the rows instead) must compute what the block_out flow computes. The same fixed selections
// run through all three; a dense middle layer sends its MLP through cuBLAS (no partials: the next QKV reads the
// row), layer 0's QKV reads the embedding's row, and d = 640 gives the partials two uneven 512-column slices.
// With and without partials the logits may differ only by fp32 summation order; against the block_out flow
// and the masked reference model by fp16 rounding.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "tests/common/scoped_env.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

TEST(ResidualFlowEngine, RowPartialsMatchTheRowPassAndTheBlockOutFlow) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{640, 10, 3, 1288, 997, 0, true};
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 91);
  const OptModel model(w);
  const int B = 3, T = 8, dense_layer = 1;
  const auto tokens = random_tokens(B, T, shape.vocab, 92);
  const FixedSparseCase sel = fixed_sparse_case(shape, T, 0.2, shape.heads / 2, dense_layer);

  auto run = [&](const char* flow, const char* partials) {
    const ScopedEnv flow_env("DEJAVU_SPARSE_FLOW", flow), partials_env("DEJAVU_LN_PARTIALS", partials);
    engine::CudaEngineOptions o;
    o.batch = B;
    o.max_len = T;
    engine::CudaEngine eng(engine::upload_weights(w), o);
    return run_fixed_sparse(eng, tokens, sel);
  };
  const EngineRun block_out = run("block_out", "1");
  const EngineRun row_pass = run("residual", "0");
  const EngineRun partials = run("residual", "1");
  ASSERT_EQ(partials.logits.size(), block_out.logits.size());
  for (int t = 0; t < T; ++t) {
    EXPECT_LT(rel_error(partials.logits[t], row_pass.logits[t]), 1e-3) << "step " << t;
    EXPECT_LT(rel_error(partials.logits[t], block_out.logits[t]), kFp16Tolerance) << "step " << t;
  }
  const at::Tensor ref = reference_logits(model, tokens, sel.heads, sel.mlp);
  std::string detail;
  EXPECT_LT(max_rel_error(partials, ref, &detail), kFp16Tolerance) << "per step:" << detail;
}

}  // namespace
}  // namespace dv::test
