// test_persistent_predictor_ops.cpp: the predictor's ops (kernels/lowrank_predictor) as the persistent decode
// kernel's op table runs them: built by make_lowrank_predictor_ops, launched one op at a time through
// launch_decode_op (one CTA per unit), against the graph path's launch_lowrank_predictor on the same inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"
#include "kernels/lowrank_predictor/predictor_plan.cuh"
#include "kernels/persistent_decode/decode_op_launch.h"
#include "tests/kernels/kernel_test_util.h"

namespace dv::kernels {
namespace {

using test::DeviceBuffer;

// The predictor's three ops through the op table (each launched on its own) against the graph path's
// launch_lowrank_predictor on the same inputs: the same op code, so equal scores bit for bit and the same
// selection, which is also lowrank_select_ref's over those scores. Top-k (max and per-row union, the
// crossover) and threshold, batches 1..8, splits of d (d > 1024).
TEST(PersistentOps, PredictorOpsEqualTheGraphPathsPredictor) {
  DV_SKIP_WITHOUT_GPU();
  struct Case { int B, d, r, n; SelectMode mode; int top_k; float t; int max_k; BatchUnion u; int dense_above; };
  constexpr SelectMode kTop = SelectMode::kTopK, kThr = SelectMode::kThreshold;
  constexpr BatchUnion kMax = BatchUnion::kMaxLogit, kRow = BatchUnion::kPerRow;
  const Case cases[] = {{1, 264, 64, 1000, kTop, 100, 0.f, 100, kMax, INT_MAX},
                        {4, 2056, 96, 3001, kTop, 300, 0.f, 1200, kRow, INT_MAX},
                        {8, 520, 32, 777, kThr, 0, 0.5f, 777, kMax, INT_MAX},
                        {3, 136, 8, 20480, kTop, 2048, 0.f, 20480, kRow, 4000},
                        {5, 40, 16, 37, kTop, 37, 0.f, 37, kRow, INT_MAX}};
  for (int ci = 0; ci < static_cast<int>(std::size(cases)); ++ci) {
    const Case c = cases[ci];
    std::mt19937_64 rng(test::case_seed("persistent_predictor_ops", ci));
    SCOPED_TRACE(::testing::Message() << "case " << ci);
    const auto x = test::random_halves(static_cast<size_t>(c.B) * c.d, rng);
    const float sa = 1.f / std::sqrt(static_cast<float>(c.d)), sb = 3.f / std::sqrt(static_cast<float>(c.r));
    const auto wa = test::random_halves(static_cast<size_t>(c.r) * c.d, rng, -sa, sa);
    const auto wb = test::random_halves(static_cast<size_t>(c.n) * c.r, rng, -sb, sb);
    DeviceBuffer<__half> dx(x.h), dwa(wa.h), dwb(wb.h);
    // One set of outputs and workspaces per path.
    struct Run {
      DeviceBuffer<__half> z;
      DeviceBuffer<float> scores, part;
      DeviceBuffer<char> ws;
      DeviceBuffer<int> idx, k;
    };
    auto make_run = [&] {
      Run r{DeviceBuffer<__half>(static_cast<size_t>(c.B) * c.r),
            DeviceBuffer<float>(lowrank_predictor_scores_floats(c.B, c.n, c.mode, c.u)),
            DeviceBuffer<float>(lowrank_predictor_partials_floats(c.B, c.d, c.r)),
            DeviceBuffer<char>(lowrank_predictor_workspace_bytes(c.B, c.d, c.r, c.n)),
            DeviceBuffer<int>(static_cast<size_t>(c.max_k)), DeviceBuffer<int>(1)};
      r.ws.zero();
      r.scores.poison();
      r.idx.poison();
      r.k.poison();
      return r;
    };
    Run ops_run = make_run(), graph_run = make_run();
    auto args_of = [&](Run& r) {
      LowrankPredictorArgs a;
      a.idx = r.idx.data();
      a.k_dev = r.k.data();
      a.scores = r.scores.data();
      a.z = r.z.data();
      a.z_partials = r.part.data();
      a.workspace = r.ws.data();
      a.x = dx.data();
      a.wa = dwa.data();
      a.wb = dwb.data();
      a.B = c.B;
      a.d = c.d;
      a.r = c.r;
      a.n = c.n;
      a.mode = c.mode;
      a.top_k = c.top_k;
      a.threshold = c.t;
      a.max_k = c.max_k;
      a.batch_union = c.u;
      a.dense_above = c.dense_above;
      return a;
    };
    const LowrankPredictorArgs a = args_of(ops_run);
    check_lowrank_predictor_args(a);
    const LowrankPredictorOps<8, false> ops = make_lowrank_predictor_ops<8, false>(a);
    DecodeOpParams p;
    p.predictor_z = ops.z;
    launch_decode_op(DecodeOpKind::kPredictorZ, p, nullptr);
    p.predictor_scores = ops.scores;
    launch_decode_op(DecodeOpKind::kPredictorScores, p, nullptr);
    p.predictor_select = ops.select;
    launch_decode_op(DecodeOpKind::kPredictorSelect, p, nullptr);
    launch_lowrank_predictor(args_of(graph_run), nullptr);

    const std::vector<float> scores = ops_run.scores.download(), graph_scores = graph_run.scores.download();
    const int rows = lowrank_selection_rows(c.B, c.mode, c.u), ld = lowrank_scores_ld(c.n);
    for (int b = 0; b < rows; ++b)
      for (int j = 0; j < c.n; ++j) {
        const size_t e = static_cast<size_t>(b) * ld + j;
        ASSERT_EQ(std::memcmp(&scores[e], &graph_scores[e], sizeof(float)), 0) << "score " << b << "," << j;
      }
    const int k = ops_run.k.download()[0];
    ASSERT_EQ(k, graph_run.k.download()[0]);
    const std::vector<int> idx = ops_run.idx.download(), graph_idx = graph_run.idx.download();
    for (int j = 0; j < k; ++j) ASSERT_EQ(idx[static_cast<size_t>(j)], graph_idx[static_cast<size_t>(j)]) << j;
    std::vector<int> ref(static_cast<size_t>(std::max(c.max_k, 1)), -1);
    int ref_k = -1;
    LowrankSelectArgs r = lowrank_selection_of(a);
    r.idx = ref.data();
    r.k_dev = &ref_k;
    r.scores = scores.data();
    lowrank_select_ref(r);
    ASSERT_EQ(k, ref_k);
    for (int j = 0; j < k; ++j) ASSERT_EQ(idx[static_cast<size_t>(j)], ref[static_cast<size_t>(j)]) << j;
  }
}

}  // namespace
}  // namespace dv::kernels
