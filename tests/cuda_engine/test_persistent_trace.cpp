// test_persistent_trace.cpp: a traced persistent step (kernels/persistent_decode/decode_trace.h) on the GPU:
// every op with units reports a start and an end, and no op ends before an op it waits for
// (analyze_step_trace throws on either), the per-name totals cover every op, the dependency chain ends at the
// op that ends last; and tracing changes no logits. Dense and predicted sparse steps, batch 1 and 3.
#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "kernels/persistent_decode/decode_trace.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::CudaEngine;
using engine::CudaEngineOptions;
using engine::DecodePath;
using engine::StepMode;

TEST(PersistentTrace, TracedStepIsConsistentAndChangesNothing) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{256, 4, 3, 1032, 997, 0, true};
  const OptWeights w = random_half_exact_weights(make_config(shape), 91);
  for (const bool sparse : {false, true}) {
    for (const int B : {1, 3}) {
      const std::string what = std::string(sparse ? "sparse" : "dense") + " B=" + std::to_string(B);
      const int T = 6;
      const auto tokens = random_tokens(B, T, shape.vocab, 92 + B);
      CudaEngineOptions o;
      o.batch = B;
      o.max_len = T;
      CudaEngine eng(engine::upload_weights(w), o);
      if (sparse) eng.set_sparse(random_predictor_spec(shape, 0.25, 0.5, 64, 32, 93, 193));
      eng.set_decode_path(DecodePath::kPersistent);
      const StepMode last = sparse ? StepMode::kSparse : StepMode::kDense;
      auto mode = [&](int t) { return t < 2 ? StepMode::kDense : last; };
      const EngineRun plain = run_engine(eng, tokens, mode);

      engine::PersistentDecoder& d = eng.persistent(last);
      d.set_trace(true);
      const EngineRun traced = run_engine(eng, tokens, mode);
      const std::vector<kernels::PersistentOpTrace> raw = d.read_trace(eng.stream());
      d.set_trace(false);
      for (size_t t = 0; t < plain.logits.size(); ++t)
        EXPECT_LT(rel_error(traced.logits[t], plain.logits[t]), kFp16Tolerance) << what << " step " << t;

      kernels::StepTrace tr;
      ASSERT_NO_THROW(tr = kernels::analyze_step_trace(d.ops(), raw)) << what;
      ASSERT_EQ(tr.ops.size(), d.ops().size()) << what;
      int counted = 0;
      for (const kernels::OpNameTotal& n : tr.by_name) counted += n.ops;
      EXPECT_EQ(counted, static_cast<int>(d.ops().size())) << what;
      EXPECT_GT(tr.span_us, 0.0) << what;
      ASSERT_FALSE(tr.critical_path.empty()) << what;
      double busy = 0;  // %globaltimer may tick in microseconds: one op's busy time can read 0, the sum not
      for (const kernels::OpTiming& m : tr.ops) {
        EXPECT_GE(m.run_us, 0.0) << what << " op " << m.op;
        busy += m.busy_us;
      }
      EXPECT_GT(busy, 0.0) << what;
      EXPECT_DOUBLE_EQ(tr.ops[tr.critical_path.back()].end_us, tr.span_us) << what;
      EXPECT_LE(tr.critical_us, tr.span_us + 1e-9) << what;
    }
  }
}

}  // namespace
}  // namespace dv::test
