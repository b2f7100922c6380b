// test_pdl_joins.cpp: kernels captured right after an event join (kernels/common/pdl.cuh), in both modes of
// DEJAVU_PDL_JOINS. plain (the default): every edge into such a kernel stays a full dependency. wait: the kernel
// keeps PDL, its join edges become programmatic, and a work-unit op runs as its PdlSync<true> instantiation,
// whose indices() waits before the selection the join delivers is read. Either way the consumer must see the
// producer's writes: a predictor's selection made on a side stream, read by the op after the join, never what
// the buffers held before (a runtime-flagged wait let ptxas hoist that read above it: work_units.cuh).
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "kernels/common/pdl.cuh"
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down_ref.h"
#include "tests/common/scoped_env.h"
#include "tests/kernels/sparse_qkv_driver.h"

namespace dv {
namespace {

using kernels::PdlJoins;
using kernels::SparseMlpDownArgs;
using kernels::SparseMlpDownPlan;
using test::DeviceBuffer;
using test::DType;
using test::KvMode;
using test::QkvCase;

// The switch's values: unset, empty and "plain" keep the default; "wait" opts in; anything else is an error.
TEST(PdlJoins, ParsesTheSwitch) {
  EXPECT_EQ(kernels::parse_pdl_joins(nullptr), PdlJoins::kPlain);
  EXPECT_EQ(kernels::parse_pdl_joins(""), PdlJoins::kPlain);
  EXPECT_EQ(kernels::parse_pdl_joins("plain"), PdlJoins::kPlain);
  EXPECT_EQ(kernels::parse_pdl_joins("wait"), PdlJoins::kWait);
  EXPECT_THROW(kernels::parse_pdl_joins("1"), Error);
  EXPECT_THROW(kernels::parse_pdl_joins("Wait"), Error);
}

// DEJAVU_PDL_JOINS set to the test's mode for its duration, the previous value restored.
class PdlJoinsTest : public ::testing::TestWithParam<PdlJoins> {
 protected:
  // Whether a kernel launched after a captured join on `s` gets programmatic edges in this mode.
  bool join_programmatic(cudaStream_t s) const { return GetParam() == PdlJoins::kWait && kernels::pdl_enabled(s); }

 private:
  const test::ScopedEnv env_{"DEJAVU_PDL_JOINS", GetParam() == PdlJoins::kWait ? "wait" : "plain"};
};

// The node the last launch on `s` added to the graph being captured.
cudaGraphNode_t last_captured(cudaStream_t s) {
  cudaStreamCaptureStatus status;
  const cudaGraphNode_t* deps = nullptr;
  const cudaGraphEdgeData* edges = nullptr;
  size_t n = 0;
  DV_CUDA_CHECK(cudaStreamGetCaptureInfo(s, &status, nullptr, nullptr, &deps, &edges, &n));
  EXPECT_EQ(n, 1u);
  return n == 1 ? deps[0] : nullptr;
}

// The edges of `node` to `from` in a captured graph: how many, and whether one is programmatic.
struct EdgesFrom {
  int count = 0;
  bool programmatic = false;
};
EdgesFrom edges_from(cudaGraphNode_t node, cudaGraphNode_t from) {
  size_t n = 0;
  DV_CUDA_CHECK(cudaGraphNodeGetDependencies(node, nullptr, nullptr, &n));
  std::vector<cudaGraphNode_t> deps(n);
  std::vector<cudaGraphEdgeData> edges(n);
  DV_CUDA_CHECK(cudaGraphNodeGetDependencies(node, deps.data(), edges.data(), &n));
  EdgesFrom e;
  for (size_t i = 0; i < n; ++i)
    if (deps[i] == from) {
      ++e.count;
      e.programmatic = e.programmatic || edges[i].type == cudaGraphDependencyTypeProgrammatic;
    }
  return e;
}

// Two non-blocking streams and the events of a fork and a join, destroyed at scope exit.
struct ForkJoin {
  cudaStream_t main_s = nullptr, side_s = nullptr;
  cudaEvent_t fork[2] = {nullptr, nullptr}, join = nullptr;
  ForkJoin() {
    DV_CUDA_CHECK(cudaStreamCreateWithFlags(&main_s, cudaStreamNonBlocking));
    DV_CUDA_CHECK(cudaStreamCreateWithFlags(&side_s, cudaStreamNonBlocking));
    for (cudaEvent_t* e : {&fork[0], &fork[1], &join}) DV_CUDA_CHECK(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
  }
  ~ForkJoin() {
    for (cudaEvent_t e : {fork[0], fork[1], join}) (void)cudaEventDestroy(e);
    (void)cudaStreamDestroy(side_s);
    (void)cudaStreamDestroy(main_s);
  }
  void fork_side(int i) {
    DV_CUDA_CHECK(cudaEventRecord(fork[i], main_s));
    DV_CUDA_CHECK(cudaStreamWaitEvent(side_s, fork[i], 0));
  }
  void join_main() {
    DV_CUDA_CHECK(cudaEventRecord(join, side_s));
    DV_CUDA_CHECK(cudaStreamWaitEvent(main_s, join, 0));
  }
};

// The decode step's fork and joins (engine/cuda/decode_step.cpp): kv_catchup on the catch-up stream after an
// event recorded behind sparse_qkv, behind the previous layer's kv_catchup; then the main stream joins the
// catch-up stream and launches sparse_qkv again, as the step's MLP and QKV launches follow the join of a
// predictor's task. Under capture, the PDL attribute makes every edge of a kernel programmatic, the join's too
// (CUDA 13 / driver 580). plain: a kernel captured after a join is launched plainly, every edge into it full.
// wait: it keeps PDL, its join edges programmatic (its PdlSync waits in indices()). The edge to a stream's
// previous kernel alone is programmatic in both.
TEST_P(PdlJoinsTest, CapturedEventJoinEdges) {
  DV_SKIP_WITHOUT_GPU();
  const QkvCase c{1, 4, 2, 8, 0, false, 64, KvMode::kForced, kSparseQkvRing, false};
  std::mt19937_64 rng(test::case_seed("sparse_qkv_fork", 0));
  const test::QkvProblem p = test::make_qkv_problem(c, rng);
  SparseQkvArgs a = test::case_args(c);
  const size_t d = p.d, cache = static_cast<size_t>(c.batch) * c.heads * c.max_len * c.hd;
  DeviceBuffer<__half> w(p.w_qkv), b(p.b_qkv), x(c.batch * d), q(static_cast<size_t>(c.batch) * d), k(cache),
      v(cache), xh(c.batch * a.ring * d);
  DeviceBuffer<int> valid(static_cast<size_t>(c.heads) * sparse_qkv_valid_slots(c.hd)),
      forced(2 * kSparseQkvMaxForced), forced_count(1), counts(static_cast<size_t>(c.max_len) * 3), heads(c.heads),
      count(1), pos(1);
  test::bind_state(a, {q.data(), k.data(), v.data(), xh.data(), valid.data(), forced.data(), forced_count.data(),
                       counts.data()});
  a.x = x.data();
  a.w_qkv = w.data();
  a.b_qkv = b.data();
  a.heads = heads.data();
  a.num_selected = count.data();
  a.pos = pos.data();

  ForkJoin fj;
  DV_CUDA_CHECK(cudaStreamBeginCapture(fj.main_s, cudaStreamCaptureModeThreadLocal));
  cudaGraphNode_t qkv_node[3] = {nullptr, nullptr, nullptr}, catchup_node[2] = {nullptr, nullptr};
  for (int l = 0; l < 2; ++l) {
    launch_sparse_qkv(a, fj.main_s);
    qkv_node[l] = last_captured(fj.main_s);
    fj.fork_side(l);
    launch_kv_catchup(kv_catchup_args(a), fj.side_s);
    catchup_node[l] = last_captured(fj.side_s);
  }
  fj.join_main();
  launch_sparse_qkv(a, fj.main_s);
  qkv_node[2] = last_captured(fj.main_s);
  cudaGraph_t graph = nullptr;
  DV_CUDA_CHECK(cudaStreamEndCapture(fj.main_s, &graph));

  const bool joined = join_programmatic(fj.main_s);
  // kv_catchup of layer 1: joined from the main stream behind its own stream's kernel.
  const EdgesFrom fork_edge = edges_from(catchup_node[1], qkv_node[1]),
                  side_edge = edges_from(catchup_node[1], catchup_node[0]);
  EXPECT_EQ(fork_edge.count, 1) << "kv_catchup of layer 1 does not depend on sparse_qkv of layer 1";
  EXPECT_EQ(side_edge.count, 1) << "kv_catchup of layer 1 does not depend on kv_catchup of layer 0";
  EXPECT_EQ(fork_edge.programmatic, joined) << "the event join's edge";
  EXPECT_EQ(side_edge.programmatic, joined) << "the edge to the joined kernel's own stream";
  // sparse_qkv after the main stream joins the catch-up stream.
  const EdgesFrom join_edge = edges_from(qkv_node[2], catchup_node[1]),
                  main_edge = edges_from(qkv_node[2], qkv_node[1]);
  EXPECT_EQ(join_edge.count, 1) << "the last sparse_qkv does not depend on the joined kv_catchup";
  EXPECT_EQ(main_edge.count, 1) << "the last sparse_qkv does not depend on the previous sparse_qkv";
  EXPECT_EQ(join_edge.programmatic, joined) << "the event join's edge";
  EXPECT_EQ(main_edge.programmatic, joined) << "the edge to the joined kernel's own stream";
  // Without a join, the edge to the stream's previous kernel is programmatic where PDL is on.
  const bool stream_edge_programmatic = edges_from(qkv_node[1], qkv_node[0]).programmatic;
  EXPECT_EQ(stream_edge_programmatic, kernels::pdl_enabled(fj.main_s));
  DV_CUDA_CHECK(cudaGraphDestroy(graph));
  if (!stream_edge_programmatic) GTEST_SKIP() << "PDL is off here (DEJAVU_PDL=0 or compute capability < 9.0)";
}

// The guarantee, in both modes: a predictor's selection (lowrank_select, threshold mode: one op whose units pass
// launch_dependents at once, then scan n scores and compact the winners) made on the side stream, joined by
// sparse_mlp_down on the main stream behind a kernel of its own stream. Before each replay idx / k hold a stale
// selection (other rows, a larger count); the consumer must read the new one, so out matches the reference on
// the selection the producer makes. In wait mode a consumer that read idx before its griddepcontrol.wait could
// start while the selection is being written.
TEST_P(PdlJoinsTest, ConsumerAfterJoinSeesTheProducersSelection) {
  DV_SKIP_WITHOUT_GPU();
  const int n = kernels::kSelectMaxN, picked = 96, cap = 128, B = 2, d = 64, replays = 10;
  std::mt19937_64 rng(test::case_seed("pdl_joins", 0));
  // The producer's scores: the picked rows far above the threshold, every other row far below.
  std::vector<int> rows = test::random_indices(n, 2 * cap, rng);  // distinct: picked, then stale rows
  std::vector<int> sel(rows.begin(), rows.begin() + picked), stale(rows.begin() + cap, rows.end());
  std::sort(sel.begin(), sel.end());
  std::vector<float> scores(static_cast<size_t>(kernels::lowrank_scores_ld(n)), -8.f);
  for (int r : sel) scores[static_cast<size_t>(r)] = 8.f;
  const auto w2t = test::random_halves(static_cast<size_t>(n) * d, rng);
  const auto h = test::random_halves(static_cast<size_t>(B) * cap, rng);
  std::vector<int> fixed(static_cast<size_t>(cap));
  for (int i = 0; i < cap; ++i) fixed[static_cast<size_t>(i)] = i;

  DeviceBuffer<float> d_scores(scores);
  DeviceBuffer<char> select_ws(kernels::lowrank_select_workspace_bytes(1, n));
  select_ws.zero();
  DeviceBuffer<int> d_idx(static_cast<size_t>(cap)), d_k(1), d_fixed(fixed);
  DeviceBuffer<__half> d_w2t(w2t.h), d_h(h.h), out_prev(static_cast<size_t>(B) * d), out(static_cast<size_t>(B) * d);
  const SparseMlpDownPlan plan = kernels::plan_sparse_mlp_down(B, d, cap, 1);
  DeviceBuffer<char> ws_prev(plan.workspace_bytes), ws(plan.workspace_bytes);
  ws_prev.zero();
  ws.zero();

  kernels::LowrankSelectArgs s;
  s.idx = d_idx.data();
  s.k_dev = d_k.data();
  s.scores = d_scores.data();
  s.workspace = select_ws.data();
  s.n = n;
  s.mode = kernels::SelectMode::kThreshold;
  s.threshold = 0.5f;
  s.max_k = cap;
  SparseMlpDownArgs a;
  a.out = out.data();
  a.workspace = ws.data();
  a.h = d_h.data();
  a.w2t = d_w2t.data();
  a.idx = d_idx.data();
  a.k_dev = d_k.data();
  a.B = B;
  a.d = d;
  a.ffn_rows = n;
  a.max_k = cap;
  a.ld_h = cap;
  SparseMlpDownArgs prev = a;  // the main stream's kernel before the join: a fixed selection of all cap rows
  prev.out = out_prev.data();
  prev.workspace = ws_prev.data();
  prev.idx = d_fixed.data();
  prev.k_dev = nullptr;

  ForkJoin fj;
  DV_CUDA_CHECK(cudaStreamBeginCapture(fj.main_s, cudaStreamCaptureModeThreadLocal));
  kernels::launch_sparse_mlp_down(prev, fj.main_s);
  const cudaGraphNode_t prev_node = last_captured(fj.main_s);
  fj.fork_side(0);
  kernels::launch_lowrank_select(s, fj.side_s);
  const cudaGraphNode_t select_node = last_captured(fj.side_s);
  fj.join_main();
  kernels::launch_sparse_mlp_down(a, fj.main_s);
  const cudaGraphNode_t consumer = last_captured(fj.main_s);
  cudaGraph_t graph = nullptr;
  DV_CUDA_CHECK(cudaStreamEndCapture(fj.main_s, &graph));
  const bool joined = join_programmatic(fj.main_s);
  EXPECT_EQ(edges_from(consumer, select_node).programmatic, joined) << "the join's edge";
  EXPECT_EQ(edges_from(consumer, prev_node).programmatic, joined) << "the edge to the main stream's kernel";
  cudaGraphExec_t exec = nullptr;
  DV_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));

  std::vector<__half> ref(static_cast<size_t>(B) * d);
  SparseMlpDownArgs ra = a;
  ra.out = ref.data();
  ra.workspace = nullptr;
  ra.h = h.h.data();
  ra.w2t = w2t.h.data();
  ra.idx = sel.data();
  ra.k_dev = &picked;
  kernels::sparse_mlp_down_ref(ra);
  const std::vector<float> ref_f = test::to_float(ref);

  for (int r = 0; r < replays; ++r) {
    SCOPED_TRACE(::testing::Message() << "replay " << r);
    d_idx.upload(stale);
    d_k.upload({cap});
    out.poison();
    DV_CUDA_CHECK(cudaDeviceSynchronize());
    DV_CUDA_CHECK(cudaGraphLaunch(exec, fj.main_s));
    DV_CUDA_CHECK(cudaStreamSynchronize(fj.main_s));
    ASSERT_EQ(d_k.download(), std::vector<int>{picked}) << "the producer did not write its selection";
    const std::vector<int> got_idx = d_idx.download();
    ASSERT_TRUE(std::equal(sel.begin(), sel.end(), got_idx.begin())) << "the producer's selection differs";
    ASSERT_TRUE(test::expect_close(out.download(), ref_f, DType::kF16, "out after the join"));
  }
  DV_CUDA_CHECK(cudaGraphExecDestroy(exec));
  DV_CUDA_CHECK(cudaGraphDestroy(graph));
}

INSTANTIATE_TEST_SUITE_P(Modes, PdlJoinsTest, ::testing::Values(PdlJoins::kPlain, PdlJoins::kWait),
                         [](const ::testing::TestParamInfo<PdlJoins>& info) {
                           return std::string(info.param == PdlJoins::kWait ? "wait" : "plain");
                         });

}  // namespace
}  // namespace dv
