// test_sparse_qkv.cpp: the selected-head QKV op and the forced K/V catch-up over sequences of decode steps
// (sparse_qkv_driver.h checks every step against the contract's model and the dense projection). Cases: random
// selections with the full input history, the 128-position ring with the catch-up plan (forced heads), a head
// re-selected after lags 0 / 31 / 127 / 2047, K/V of all heads (all_kv), a ring too short without forcing
// (positions lost and counted), batch 1..32, head_dim 16..128, graph replay, and the attention layer norm
// fused into the op (raw residual rows in, the normalized rows in x_hist). The key property: after any
// sequence of selections every position below a head's kv_valid holds the dense K/V (unless counted lost),
// positions at or above it were never written, and unselected heads' q rows are untouched. Also: the decode
// step's catch-up fork, captured, keeps its event join a full dependency under PDL.
#include <gtest/gtest.h>

#include <vector>

#include "tests/kernels/sparse_qkv_driver.h"

namespace dv {
namespace {

using test::DType;
using test::KvMode;
using test::QkvCase;

// {batch, heads, steps, max_len, gap, graph, hd, mode, ring, dense}
// Every case's d = heads x hd is a multiple of 32, as the op requires (the GPU run of 340f1ff threw on 48 and 400).
const std::vector<QkvCase> kCases = {
    {1, 1, 17, 20, 0, false, 64, KvMode::kFullHistory, 0, false},
    {3, 5, 40, 45, 3, false, 64, KvMode::kFullHistory, 0, false},
    {8, 3, 17, 17, 0, true, 64, KvMode::kFullHistory, 0, false},
    {32, 12, 6, 8, 0, false, 64, KvMode::kFullHistory, 0, false},
    {2, 12, 130, 130, 0, true, 64, KvMode::kFullHistory, 0, false},
    {5, 12, 33, 40, 0, false, 64, KvMode::kFullHistory, 0, true},
    {2, 32, 4, 5, 0, false, 64, KvMode::kFullHistory, 0, false},
    {3, 3, 24, 24, 5, false, 128, KvMode::kFullHistory, 0, false},
    {1, 8, 9, 12, 0, true, 128, KvMode::kFullHistory, 0, false},
    {9, 2, 7, 7, 0, false, 80, KvMode::kFullHistory, 0, false},
    {1, 5, 3, 3, 0, false, 128, KvMode::kFullHistory, 0, true},
    {3, 16, 20, 24, 0, false, 16, KvMode::kFullHistory, 0, false},
    {2, 6, 17, 17, 4, true, 16, KvMode::kFullHistory, 0, false},
    {4, 8, 30, 33, 0, false, 32, KvMode::kFullHistory, 0, false},
    {1, 1, 9, 9, 0, false, 32, KvMode::kFullHistory, 0, true},
    {5, 2, 12, 12, 0, true, 16, KvMode::kFullHistory, 0, false},
    // The ring and the catch-up plan: lags 0 / 31 / 127 / 2047 of head 0, odd batches, every head_dim.
    {1, 2, 40, 40, 1, false, 64, KvMode::kForced, kSparseQkvRing, false},
    {1, 4, 100, 101, 31, true, 32, KvMode::kForced, kSparseQkvRing, false},
    {1, 4, 300, 300, 127, false, 16, KvMode::kForced, kSparseQkvRing, false},
    {1, 2, 2100, 2100, 2047, true, 16, KvMode::kForced, kSparseQkvRing, false},
    {2, 4, 200, 210, 127, false, 80, KvMode::kForced, kSparseQkvRing, false},
    {3, 40, 70, 70, 31, false, 16, KvMode::kForced, kSparseQkvRing, false},
    {8, 3, 60, 64, 9, true, 128, KvMode::kForced, kSparseQkvRing, false},
    {7, 4, 50, 50, 0, false, 64, KvMode::kForced, 24, false},
    {1, 12, 200, 200, -1, false, 16, KvMode::kForced, 24, false},
    {2, 9, 90, 96, -1, true, 32, KvMode::kForced, 40, false},
    // K/V of every head; a short ring without forcing loses positions (counted, never written).
    {4, 6, 20, 22, 0, false, 64, KvMode::kAllKv, 0, false},
    {8, 3, 9, 9, 2, true, 128, KvMode::kAllKv, 0, false},
    {1, 3, 40, 40, 15, false, 32, KvMode::kRing, 6, false},
    // The fused layer norm: full history, the ring with forced catch-up at lags 31 / 127, all_kv, dense.
    {1, 4, 20, 20, 0, false, 64, KvMode::kFullHistory, 0, false, true},
    {3, 5, 140, 140, 31, true, 128, KvMode::kForced, kSparseQkvRing, false, true},
    {2, 6, 300, 300, 127, false, 16, KvMode::kForced, kSparseQkvRing, false, true},
    {8, 4, 9, 9, 2, false, 80, KvMode::kAllKv, 0, false, true},
    {5, 12, 12, 12, 0, true, 64, KvMode::kFullHistory, 0, true, true},
};

void check_cache(const QkvCase& c, const test::QkvProblem& p, const test::QkvModel& m, test::QkvBackend& be) {
  const int hd = c.hd;
  for (int part = 1; part <= 2; ++part) {
    const std::vector<__half> cache = part == 1 ? be.k() : be.v();
    std::vector<__half> got;
    std::vector<float> ref;
    for (int b = 0; b < c.batch; ++b)
      for (int h = 0; h < c.heads; ++h)
        for (int tt = 0; tt < c.max_len; ++tt)
          for (int r = 0; r < hd; ++r) {
            const __half g = cache[((static_cast<size_t>(b) * c.heads + h) * c.max_len + tt) * hd + r];
            if (tt >= m.valid[h] || m.is_lost(h, tt)) {
              ASSERT_TRUE(test::qkv_poison(g)) << "cache row never due written: part " << part << " h " << h << " t " << tt;
              continue;
            }
            got.push_back(g);
            ref.push_back(p.truth(tt, b, h, part, r));
          }
    if (!got.empty()) {
      ASSERT_TRUE(test::expect_close(got, ref, DType::kF16, part == 1 ? "K cache" : "V cache"));
    }
  }
}

void check_x_hist(const QkvCase& c, const test::QkvProblem& p, const SparseQkvArgs& a, int t, test::QkvBackend& be) {
  if (a.ring == 0) return;
  const std::vector<__half> xh = be.x_hist();
  const size_t d = p.d;
  std::vector<__half> normed;  // the fused layer norm's rows: fp32 statistics, within fp16 of layer_norm_ref
  std::vector<float> normed_ref;
  for (int b = 0; b < c.batch; ++b)
    for (int row = 0; row < a.ring; ++row) {
      const int tt = t - ((t - row) % a.ring + a.ring) % a.ring;  // newest position stored at this row
      for (size_t i = 0; i < d; i += 7) {
        const __half g = xh[(static_cast<size_t>(b) * a.ring + row) * d + i];
        if (tt < 0) {
          ASSERT_TRUE(test::qkv_poison(g)) << "x_hist row " << row << " written early";
        } else if (c.ln) {
          normed.push_back(g);
          normed_ref.push_back(__half2float(p.x[tt][b * d + i]));
        } else {
          ASSERT_EQ(__half_raw(g).x, __half_raw(p.x[tt][b * d + i]).x) << "x_hist b=" << b << " t=" << tt;
        }
      }
    }
  if (!normed.empty()) {
    ASSERT_TRUE(test::expect_close(normed, normed_ref, DType::kF16, "x_hist (normalized)"));
  }
}

// Drives one case through `be`, checking kv_valid, the counters and the lag bound every step, q every step,
// the x_hist ring and the whole cache on small cases every step and on the others every 64 steps and last.
void run_case(const QkvCase& c, const test::QkvProblem& p, const std::vector<std::vector<int>>& sel,
              test::QkvBackend& be, std::mt19937_64& rng) {
  const SparseQkvArgs a = test::case_args(c);
  const int hd = c.hd, slots = sparse_qkv_valid_slots(hd);
  test::QkvModel m;
  m.valid.assign(c.heads, 0);
  m.lost.assign(c.heads, {});
  const bool small = static_cast<size_t>(c.batch) * c.heads * c.max_len * hd <= (1u << 16);
  const int bound = a.max_forced > 0 ? a.force_lag + (c.heads + a.max_forced - 1) / a.max_forced - 1 : 0;
  for (int t = 0; t < c.steps; ++t) {
    SCOPED_TRACE("step " + std::to_string(t));
    std::vector<int> padded = sel[t];
    while (static_cast<int>(padded.size()) < c.heads) padded.push_back(static_cast<int>(rng() % c.heads));
    be.step(padded, static_cast<int>(sel[t].size()), t, p.input(t));
    m.step(c, a, sel[t], t);
    std::vector<int> want(static_cast<size_t>(c.heads) * slots);
    for (int h = 0; h < c.heads; ++h) std::fill(want.begin() + h * slots, want.begin() + (h + 1) * slots, m.valid[h]);
    ASSERT_EQ(be.valid(), want);
    std::vector<int> unique = sel[t];
    std::sort(unique.begin(), unique.end());
    if (std::unique(unique.begin(), unique.end()) == unique.end()) {  // duplicates may count twice
      const std::vector<int> counts = be.counts();
      for (int i = 0; i < 3; ++i) ASSERT_EQ(counts[3 * t + i], m.counts[i]) << "catch-up counter " << i;
    }
    for (int h = 0; h < c.heads && a.max_forced > 0; ++h)
      ASSERT_LE(t + 1 - m.valid[h], bound) << "head " << h << " lags past the plan's bound";

    std::vector<bool> chosen(c.heads, false);
    for (int h : sel[t]) chosen[h] = true;
    const std::vector<__half> q = be.q();
    std::vector<__half> q_got;
    std::vector<float> q_ref;
    for (int b = 0; b < c.batch; ++b)
      for (int h = 0; h < c.heads; ++h)
        for (int r = 0; r < hd; ++r) {
          const __half g = q[(static_cast<size_t>(b) * c.heads + h) * hd + r];
          if (!chosen[h]) {
            ASSERT_TRUE(test::qkv_poison(g)) << "q of unselected head " << h << " written";
            continue;
          }
          q_got.push_back(g);
          q_ref.push_back(p.truth(t, b, h, 0, r));
        }
    if (!q_got.empty()) {
      ASSERT_TRUE(test::expect_close(q_got, q_ref, DType::kF16, "q"));
    }
    if (!small && t % 64 != 63 && t != c.steps - 1) continue;
    check_x_hist(c, p, a, t, be);
    check_cache(c, p, m, be);
  }
  // The last step selected every head: the whole cache [0, steps) is now the dense cache (less lost rows).
  for (int v : be.valid()) ASSERT_EQ(v, c.steps);
}

TEST(SparseQkvKernel, CacheEqualsDenseAfterRandomSelections) {
  DV_SKIP_WITHOUT_GPU();
  for (size_t ci = 0; ci < kCases.size(); ++ci) {
    const QkvCase& c = kCases[ci];
    SCOPED_TRACE(test::describe(c));
    std::mt19937_64 rng(test::case_seed("sparse_qkv", static_cast<int>(ci)));
    const test::QkvProblem p = test::make_qkv_problem(c, rng);
    const auto sel = test::make_qkv_selections(c, rng);
    test::QkvGpuBackend be(c, p);
    run_case(c, p, sel, be, rng);
    if (HasFatalFailure()) return;
  }
}

// The reference obeys the same contract (runs without a GPU; the small cases keep it quick).
TEST(SparseQkvRef, CacheEqualsDenseAfterRandomSelections) {
  for (size_t ci : {0, 1, 2, 7, 9, 16, 18, 23, 24, 25, 26, 28, 29, 32}) {
    QkvCase c = kCases[ci];
    c.graph = false;
    SCOPED_TRACE(test::describe(c));
    std::mt19937_64 rng(test::case_seed("sparse_qkv_ref", static_cast<int>(ci)));
    const test::QkvProblem p = test::make_qkv_problem(c, rng);
    const auto sel = test::make_qkv_selections(c, rng);
    test::QkvRefBackend be(c, p);
    run_case(c, p, sel, be, rng);
    if (HasFatalFailure()) return;
  }
}

// After a dense prefill marks T positions valid (launch_kv_valid_fill), a step at pos T computes only
// position T: the prefilled positions are left as the prefill wrote them (here: still poisoned).
TEST(SparseQkvKernel, ValidFillSkipsPrefilledPositions) {
  DV_SKIP_WITHOUT_GPU();
  const QkvCase c{2, 3, 6, 8, 0, false, 128, KvMode::kForced, kSparseQkvRing, true};
  std::mt19937_64 rng(test::case_seed("sparse_qkv_fill", 0));
  const test::QkvProblem p = test::make_qkv_problem(c, rng);
  test::QkvGpuBackend be(c, p);
  const int pos = c.steps - 1;
  be.fill_valid(pos);
  std::vector<int> all(c.heads);
  std::iota(all.begin(), all.end(), 0);
  be.step(all, c.heads, pos, p.x[pos]);
  for (int v : be.valid()) ASSERT_EQ(v, pos + 1);
  const std::vector<__half> k = be.k();
  std::vector<__half> got;
  std::vector<float> ref;
  for (int b = 0; b < c.batch; ++b)
    for (int h = 0; h < c.heads; ++h)
      for (int tt = 0; tt < c.max_len; ++tt)
        for (int r = 0; r < c.hd; ++r) {
          const __half g = k[((static_cast<size_t>(b) * c.heads + h) * c.max_len + tt) * c.hd + r];
          if (tt != pos) {
            ASSERT_TRUE(test::qkv_poison(g)) << "position " << tt << " recomputed or written";
            continue;
          }
          got.push_back(g);
          ref.push_back(p.truth(pos, b, h, 1, r));
        }
  ASSERT_TRUE(test::expect_close(got, ref, DType::kF16, "K at pos"));
}

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

// The decode step's fork and joins (engine/cuda/decode_step.cpp): kv_catchup on the catch-up stream after an
// event recorded behind sparse_qkv, behind the previous layer's kv_catchup; then the main stream joins the
// catch-up stream and launches sparse_qkv again, as the step's MLP and QKV launches follow the join of a
// predictor's task. Under capture, PDL would make every edge of a kernel programmatic, the join's too (CUDA 13 /
// driver 580), and the ops read what a join delivers (a predictor's selection) before griddepcontrol.wait, so
// launch_kernel_pdl launches a kernel captured after a join plainly (kernels/common/pdl.cuh): every edge into
// it stays a full dependency. The edge to a stream's previous kernel alone stays programmatic.
TEST(SparseQkvKernel, CapturedEventJoinStaysFullDependency) {
  DV_SKIP_WITHOUT_GPU();
  const QkvCase c{1, 4, 2, 8, 0, false, 64, KvMode::kForced, kSparseQkvRing, false};
  std::mt19937_64 rng(test::case_seed("sparse_qkv_fork", 0));
  const test::QkvProblem p = test::make_qkv_problem(c, rng);
  SparseQkvArgs a = test::case_args(c);
  const size_t d = p.d, cache = static_cast<size_t>(c.batch) * c.heads * c.max_len * c.hd;
  test::DeviceBuffer<__half> w(p.w_qkv), b(p.b_qkv), x(c.batch * d), q(static_cast<size_t>(c.batch) * d), k(cache),
      v(cache), xh(c.batch * a.ring * d);
  test::DeviceBuffer<int> valid(static_cast<size_t>(c.heads) * sparse_qkv_valid_slots(c.hd)),
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

  cudaStream_t main_s = nullptr, side_s = nullptr;
  cudaEvent_t fork[2] = {nullptr, nullptr}, join = nullptr;
  DV_CUDA_CHECK(cudaStreamCreateWithFlags(&main_s, cudaStreamNonBlocking));
  DV_CUDA_CHECK(cudaStreamCreateWithFlags(&side_s, cudaStreamNonBlocking));
  for (cudaEvent_t* e : {&fork[0], &fork[1], &join}) DV_CUDA_CHECK(cudaEventCreateWithFlags(e, cudaEventDisableTiming));
  DV_CUDA_CHECK(cudaStreamBeginCapture(main_s, cudaStreamCaptureModeThreadLocal));
  cudaGraphNode_t qkv_node[3] = {nullptr, nullptr, nullptr}, catchup_node[2] = {nullptr, nullptr};
  for (int l = 0; l < 2; ++l) {
    launch_sparse_qkv(a, main_s);
    qkv_node[l] = last_captured(main_s);
    DV_CUDA_CHECK(cudaEventRecord(fork[l], main_s));
    DV_CUDA_CHECK(cudaStreamWaitEvent(side_s, fork[l], 0));
    launch_kv_catchup(kv_catchup_args(a), side_s);
    catchup_node[l] = last_captured(side_s);
  }
  DV_CUDA_CHECK(cudaEventRecord(join, side_s));
  DV_CUDA_CHECK(cudaStreamWaitEvent(main_s, join, 0));
  launch_sparse_qkv(a, main_s);
  qkv_node[2] = last_captured(main_s);
  cudaGraph_t graph = nullptr;
  DV_CUDA_CHECK(cudaStreamEndCapture(main_s, &graph));

  // kv_catchup of layer 1: joined from the main stream behind its own stream's kernel.
  const EdgesFrom fork_edge = edges_from(catchup_node[1], qkv_node[1]),
                  side_edge = edges_from(catchup_node[1], catchup_node[0]);
  EXPECT_EQ(fork_edge.count, 1) << "kv_catchup of layer 1 does not depend on sparse_qkv of layer 1";
  EXPECT_EQ(side_edge.count, 1) << "kv_catchup of layer 1 does not depend on kv_catchup of layer 0";
  EXPECT_FALSE(fork_edge.programmatic) << "the event join became a programmatic edge";
  EXPECT_FALSE(side_edge.programmatic) << "a kernel after a join kept PDL";
  // sparse_qkv after the main stream joins the catch-up stream.
  const EdgesFrom join_edge = edges_from(qkv_node[2], catchup_node[1]), main_edge = edges_from(qkv_node[2], qkv_node[1]);
  EXPECT_EQ(join_edge.count, 1) << "the last sparse_qkv does not depend on the joined kv_catchup";
  EXPECT_EQ(main_edge.count, 1) << "the last sparse_qkv does not depend on the previous sparse_qkv";
  EXPECT_FALSE(join_edge.programmatic) << "the event join became a programmatic edge";
  EXPECT_FALSE(main_edge.programmatic) << "a kernel after a join kept PDL";
  // Without a join, the edge to the stream's previous kernel is programmatic where PDL is on.
  const bool stream_edge_programmatic = edges_from(qkv_node[1], qkv_node[0]).programmatic;
  DV_CUDA_CHECK(cudaGraphDestroy(graph));
  for (cudaEvent_t e : {fork[0], fork[1], join}) DV_CUDA_CHECK(cudaEventDestroy(e));
  DV_CUDA_CHECK(cudaStreamDestroy(side_s));
  DV_CUDA_CHECK(cudaStreamDestroy(main_s));
  if (!stream_edge_programmatic) GTEST_SKIP() << "PDL is off here (DEJAVU_PDL=0 or compute capability < 9.0)";
}

// The plan keeps a selected head within one pass and the ring; batches past 128 / (wait + 1) need all_kv.
TEST(SparseQkvPlan, BoundsLagToOnePass) {
  for (int H : {1, 12, 32, 40, 56, 72, 96, 256})
    for (int B = 1; B <= 32; ++B) {
      const KvCatchupPlan p = sparse_qkv_catchup_plan(B, H, kSparseQkvRing);
      ASSERT_GE(p.max_forced, 2);
      ASSERT_LE(p.max_forced, kSparseQkvMaxForced);
      const int worst = p.force_lag + (H + p.max_forced - 1) / p.max_forced - 1;  // missing positions at most
      if (p.force_lag >= 1) {
        ASSERT_LE(B * (worst + 1), kSparseQkvPassColumns) << "B " << B << " H " << H;
        ASSERT_LE(worst + 1, kSparseQkvRing);
      }
    }
  EXPECT_GE(sparse_qkv_catchup_plan(1, 40, kSparseQkvRing).force_lag, 96);
  EXPECT_LT(sparse_qkv_catchup_plan(8, 40, kSparseQkvRing).force_lag, 1);
}

TEST(SparseQkvKernel, RejectsBadArguments) {
  SparseQkvArgs a;
  a.batch = 1;
  a.num_heads = 4;
  a.max_len = 8;
  a.max_heads = 4;
  a.head_dim = 96;
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  a.head_dim = 64;
  a.max_heads = 5;
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  a.max_heads = 4;
  a.max_forced = 2;  // forcing needs the forced list, a ring and a lag
  EXPECT_THROW(launch_sparse_qkv(a, nullptr), Error);
  KvCatchupArgs ca;
  ca.batch = 1;
  ca.num_heads = 4;
  ca.head_dim = 64;
  ca.max_len = 8;
  ca.max_forced = 2;
  EXPECT_THROW(launch_kv_catchup(ca, nullptr), Error);
  EXPECT_THROW(pack_qkv_weights(QkvPackArgs{}), Error);
}

}  // namespace
}  // namespace dv
