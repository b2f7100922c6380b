// test_tiled_qkv_engine.cpp: the sparse step on the sparse state's tiled copies of w_qkv (tiled_qkv.h, the
// default) must write the same logits, bit for bit, as on the row-major w_qkv (DEJAVU_QKV_TILED=0): the same
// MMAs in the same order, only the weights' addresses differ. Random head selections every step make the
// selected heads catch up the positions they missed (multi-column passes) besides the plain one-column pass;
// batch 3, d = 640 (20 chunks of 32), a dense middle layer (all heads through the op).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_state.h"
#include "tests/common/scoped_env.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

TEST(TiledQkvEngine, TiledCopiesWriteTheRowMajorLogits) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{640, 10, 3, 1288, 997, 0, true};
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 191);
  const int B = 3, T = 12, L = shape.layers;
  const auto tokens = random_tokens(B, T, shape.vocab, 192);
  const FixedSparseCase sel = fixed_sparse_case(shape, T, 0.3, 3, /*dense_layer=*/1, /*seed=*/1);

  auto run = [&](const char* tiled, int want_copies) {
    const ScopedEnv env("DEJAVU_QKV_TILED", tiled);
    engine::CudaEngineOptions o;
    o.batch = B;
    o.max_len = T;
    engine::CudaEngine eng(engine::upload_weights(w), o);
    EngineRun run = run_fixed_sparse(eng, tokens, sel);
    int copies = 0;
    for (const at::Tensor& t : eng.sparse()->w_qkv_tiled) copies += t.defined() ? 1 : 0;
    EXPECT_EQ(copies, want_copies) << "DEJAVU_QKV_TILED=" << tiled;
    return run;
  };
  const EngineRun tiled = run("1", L);
  const EngineRun rows = run("0", 0);
  ASSERT_EQ(tiled.logits.size(), rows.logits.size());
  for (int t = 0; t < T; ++t) {
    ASSERT_EQ(tiled.logits[t].size(), rows.logits[t].size());
    size_t differ = 0;
    for (size_t i = 0; i < rows.logits[t].size(); ++i) differ += tiled.logits[t][i] != rows.logits[t][i] ? 1 : 0;
    EXPECT_EQ(differ, 0u) << "step " << t << ": logits that differ between the tiled and the row-major w_qkv";
  }
}

}  // namespace
}  // namespace dv::test
