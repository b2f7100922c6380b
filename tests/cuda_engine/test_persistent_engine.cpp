// test_persistent_engine.cpp: the persistent decode path (one kernel a step, engine/cuda/persistent) held
// against the graph path on the same engine, sequence and selections: logits within the fp16 tolerance and
// selections identical, dense and sparse (fixed lists changing every step, and predictors), batch 1..8, the
// tiny odd shapes (head_dim 64 / 80 / 128, post-LN with project_in / project_out); K/V catch-up of a head
// re-selected after lags 0 / 31 / 127 / 2047 (the forced catch-up included) with the same catch-up counts on
// both paths; predicted selections at every batch 1..8 in both K/V modes; the greedy token the kernel writes;
// thousands of steps across reset and rewind (counters tagged by step, never reset); the watchdog turning a
// planted stuck wait into one error line; and the refusals (tensor parallelism, batch > 8).
// Both paths run the same ops (SameOpsOnBothPaths: the graph path's opt-in fused MLP flow) in the same order.
#include <algorithm>
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "kernels/common/error.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::CudaEngine;
using engine::CudaEngineOptions;
using engine::DecodePath;
using engine::SelectionSource;
using engine::StepMode;

const Shape kShapes[] = {Shape{256, 4, 3, 1032, 997, 0, true},    // hd 64
                         Shape{192, 3, 2, 776, 1001, 96, false},  // post-LN + projection
                         Shape{160, 2, 2, 648, 1000, 0, true},    // hd 80
                         Shape{512, 4, 2, 2056, 800, 0, true}};   // hd 128

struct Runs {
  EngineRun graph, persistent;
};

// Predictors on both blocks of every layer (random low-rank weights, ranks 64 and 32).
engine::SparseSpec predicted_spec(const Shape& shape, double mlp_density, uint64_t seed) {
  return random_predictor_spec(shape, mlp_density, 0.5, 64, 32, seed, seed + 100);
}

// The same sequence through both paths of one engine; `before_step` may set selections for step t.
Runs both_paths(CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens,
                const std::function<StepMode(int)>& mode, const std::function<void(int)>& before_step = {},
                std::vector<std::vector<std::vector<int>>>* graph_sel = nullptr,
                std::vector<std::vector<std::vector<int>>>* persistent_sel = nullptr) {
  const int L = static_cast<int>(eng.config().num_hidden_layers);
  // The lists of sparse steps only (a dense step leaves the previous sequence's lists in place).
  auto reader = [&](std::vector<std::vector<std::vector<int>>>* out) -> std::function<void(int)> {
    if (out == nullptr) return {};
    return [&eng, &mode, out, L](int t) {
      if (mode(t) != StepMode::kSparse) return;
      std::vector<std::vector<int>> step;
      for (int l = 0; l < L; ++l) {
        step.push_back(eng.selection(true, l));
        step.push_back(eng.selection(false, l));
      }
      out->push_back(step);
    };
  };
  Runs r;
  eng.set_decode_path(DecodePath::kGraph);
  r.graph = run_engine(eng, tokens, mode, before_step, reader(graph_sel));
  eng.set_decode_path(DecodePath::kPersistent);
  r.persistent = run_engine(eng, tokens, mode, before_step, reader(persistent_sel));
  eng.set_decode_path(DecodePath::kGraph);
  return r;
}

void expect_paths_agree(const Runs& r, const std::string& what) {
  for (size_t t = 0; t < r.graph.logits.size(); ++t)
    EXPECT_LT(rel_error(r.persistent.logits[t], r.graph.logits[t]), kFp16Tolerance) << what << " step " << t;
}

class PersistentShapeTest : public SameOpsOnBothPaths<::testing::TestWithParam<Shape>> {};
class PersistentEngine : public SameOpsOnBothPaths<::testing::Test> {};

TEST_P(PersistentShapeTest, DenseMatchesGraphAndReference) {
  DV_SKIP_WITHOUT_GPU();
  const Shape& shape = GetParam();
  const OptWeights w = random_half_exact_weights(make_config(shape), 61 + shape.d);
  for (int B : {1, 3, 8}) {
    const auto tokens = random_tokens(B, 9, shape.vocab, 62 + B);
    CudaEngineOptions o;
    o.batch = B;
    o.max_len = 9;
    CudaEngine eng(engine::upload_weights(w), o);
    const Runs r = both_paths(eng, tokens, [](int) { return StepMode::kDense; });
    expect_paths_agree(r, shape.name() + " dense B=" + std::to_string(B));
    EXPECT_LT(max_rel_error(r.persistent, reference_logits(OptModel(w), tokens, {}, {})), kFp16Tolerance);
  }
}

// Fixed lists drawn afresh every step after a dense prompt: K/V catch-up of re-selected heads, the gathered
// fc1 / fc2 / W_o, empty and full lists; the engine reports running exactly the given lists on both paths.
TEST_P(PersistentShapeTest, ChangingFixedSelectionsMatchGraph) {
  DV_SKIP_WITHOUT_GPU();
  const Shape& shape = GetParam();
  const OptWeights w = random_half_exact_weights(make_config(shape), 71 + shape.d);
  const int B = 2, T = 12, P = 4, L = shape.layers;
  const auto tokens = random_tokens(B, T, shape.vocab, 72);
  CudaEngineOptions o;
  o.batch = B;
  o.max_len = T;
  CudaEngine eng(engine::upload_weights(w), o);
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = SelectionSource::kFixed;
  spec.mlp.density = 0.2;
  spec.heads.density = 1.0;  // capacity: every head, so that full and empty lists both fit
  eng.set_sparse(spec);
  const int k_mlp = engine::kept_count(0.2, shape.ffn);
  auto lists = [&](int t) {
    if (t < P) return;
    for (int l = 0; l < L; ++l) {
      const int heads_kept = (t + l) % (shape.heads + 1);  // 0 (empty) .. all heads
      eng.set_fixed_selection(true, l, random_subset(shape.ffn, t == P + 1 ? 0 : k_mlp, 7919 * t + l));
      eng.set_fixed_selection(false, l, random_subset(shape.heads, heads_kept, 104729 * t + l));
    }
  };
  std::vector<std::vector<std::vector<int>>> gs, ps;
  const Runs r = both_paths(
      eng, tokens, [&](int t) { return t < P ? StepMode::kDense : StepMode::kSparse; }, lists, &gs, &ps);
  expect_paths_agree(r, shape.name() + " fixed");
  EXPECT_EQ(gs, ps);
}

TEST_P(PersistentShapeTest, PredictedSelectionsMatchGraph) {
  DV_SKIP_WITHOUT_GPU();
  const Shape& shape = GetParam();
  const OptWeights w = random_half_exact_weights(make_config(shape), 81 + shape.d);
  const int T = 8;
  for (int B : {1, 4}) {
    for (bool threshold : {false, true}) {
      const auto tokens = random_tokens(B, T, shape.vocab, 82 + B);
      CudaEngineOptions o;
      o.batch = B;
      o.max_len = T;
      CudaEngine eng(engine::upload_weights(w), o);
      engine::SparseSpec spec = predicted_spec(shape, 0.15, 300);
      spec.mlp.threshold = threshold;
      eng.set_sparse(spec);
      std::vector<std::vector<std::vector<int>>> gs, ps;
      const Runs r = both_paths(eng, tokens, [](int t) { return t < 2 ? StepMode::kDense : StepMode::kSparse; }, {},
                                &gs, &ps);
      const std::string what = shape.name() + " predictors B=" + std::to_string(B) + (threshold ? " threshold" : "");
      expect_paths_agree(r, what);
      // Both paths run the same predictor ops on the same inputs: the selections are equal, not just close.
      ASSERT_EQ(gs.size(), ps.size());
      for (size_t t = 0; t < gs.size(); ++t)
        for (size_t i = 0; i < gs[t].size(); ++i)
          EXPECT_EQ(gs[t][i], ps[t][i]) << what << " step " << t << " layer " << i / 2 << (i % 2 ? " heads" : " mlp");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, PersistentShapeTest, ::testing::ValuesIn(kShapes),
                         [](const auto& info) { return info.param.name(); });

// A head re-selected after lags 0 / 31 / 127 / 2047 (every layer's head 0; the other head otherwise): lag 127
// is one 128-column pass of the selected head, lag 2047 the forced catch-up, which the persistent path runs at
// the end of its step and the graph path on its least-priority stream. Logits at every step, and the catch-up
// counters (positions recomputed, forced, lost) equal on both paths.
TEST_F(PersistentEngine, CatchupAtLongLagsMatchesGraph) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{128, 2, 2, 520, 997, 0, true};
  OptConfig c = make_config(shape);
  c.max_position_embeddings = 2100;
  const OptWeights w = random_half_exact_weights(c, 131);
  for (int gap : {0, 31, 127, 2047}) {
    SCOPED_TRACE("gap " + std::to_string(gap));
    const int T = gap + 12, L = shape.layers;
    const auto tokens = random_tokens(1, T, shape.vocab, 132 + gap);
    CudaEngineOptions o;
    o.max_len = T;
    CudaEngine eng(engine::upload_weights(w), o);
    engine::SparseSpec spec;
    spec.mlp.source = spec.heads.source = SelectionSource::kFixed;
    spec.mlp.density = 0.2;
    spec.heads.density = 0.5;
    spec.kv_heads = engine::KvHeads::kSelected;
    eng.set_sparse(spec);
    ASSERT_GT(eng.sparse()->kv[0].max_forced, 0);
    auto lists = [&](int t) {
      for (int l = 0; l < L; ++l) {
        eng.set_fixed_selection(true, l, random_subset(shape.ffn, 104, 7 * t + l));
        eng.set_fixed_selection(false, l, t % (gap + 1) == 0 ? std::vector<int>{0} : std::vector<int>{1});
      }
    };
    engine::CatchupStats st[2];
    EngineRun runs[2];
    for (int p = 0; p < 2; ++p) {
      eng.set_decode_path(p == 0 ? DecodePath::kGraph : DecodePath::kPersistent);
      runs[p] = run_engine(eng, tokens, [](int) { return StepMode::kSparse; }, lists);
      st[p] = eng.sparse()->catchup_stats(0, T, eng.stream());
    }
    eng.set_decode_path(DecodePath::kGraph);
    expect_paths_agree({runs[0], runs[1]}, "gap " + std::to_string(gap));
    EXPECT_EQ(st[1].lost, 0);
    EXPECT_EQ(st[1].forced, st[0].forced);
    EXPECT_EQ(st[1].max_per_step, st[0].max_per_step);
    EXPECT_DOUBLE_EQ(st[1].mean_per_step, st[0].mean_per_step);
    EXPECT_EQ(st[1].forced > 0, gap == 2047) << "forced head-positions " << st[1].forced;
  }
}

// Predicted selections at every batch 1..8, the selected heads' K/V with catch-up (kSelected: four heads keep
// a bounded plan up to batch 32) and the plan's choice (kAuto: every head's K/V from batch 4, where the union of
// half the heads passes 90%): the two paths select the same indices and agree on the logits.
TEST_F(PersistentEngine, PredictedSelectionsAtEveryBatch) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape = kShapes[0];
  const OptWeights w = random_half_exact_weights(make_config(shape), 141);
  const int T = 7;
  for (int B = 1; B <= 8; ++B) {
    for (engine::KvHeads kv : {engine::KvHeads::kSelected, engine::KvHeads::kAuto}) {
      const auto tokens = random_tokens(B, T, shape.vocab, 142 + B);
      CudaEngineOptions o;
      o.batch = B;
      o.max_len = T;
      CudaEngine eng(engine::upload_weights(w), o);
      engine::SparseSpec spec = predicted_spec(shape, 0.1, 500 + B);
      spec.kv_heads = kv;
      eng.set_sparse(spec);
      std::vector<std::vector<std::vector<int>>> gs, ps;
      const Runs r = both_paths(eng, tokens, [](int t) { return t < 2 ? StepMode::kDense : StepMode::kSparse; }, {},
                                &gs, &ps);
      const std::string what = "B=" + std::to_string(B) + (kv == engine::KvHeads::kAuto ? " kv auto" : " kv selected");
      expect_paths_agree(r, what);
      EXPECT_EQ(gs, ps) << what;
    }
  }
}

// The step's op list: per pre-LN layer exactly the four layer ops (no layer norm op: the QKV and MLP ops
// normalize), post-LN two layer norms more; every op's units in one contiguous range per CTA, so a step has
// sum over ops of min(units, CTAs) instructions (recorded as a test property per shape).
TEST_F(PersistentEngine, FourOpsPerPreLnLayer) {
  DV_SKIP_WITHOUT_GPU();
  for (const Shape& shape : {kShapes[0], kShapes[1]}) {
    const OptWeights w = random_half_exact_weights(make_config(shape), 151);
    CudaEngineOptions o;
    o.max_len = 16;
    CudaEngine eng(engine::upload_weights(w), o);
    const engine::PersistentDecoder& dec = eng.persistent(StepMode::kDense);
    const int L = shape.layers;
    std::vector<int> per_layer(L, 0);
    size_t instructions = 0;
    for (const auto& op : dec.ops()) {
      if (op.layer >= 0) ++per_layer[op.layer];
      instructions += static_cast<size_t>(std::min(op.units, dec.schedule().num_ctas));
      if (shape.pre_ln) {
        EXPECT_TRUE(op.name != "attn_ln" && op.name != "mlp_ln") << op.name;
      }
    }
    for (int l = 0; l < L; ++l) EXPECT_EQ(per_layer[l], shape.pre_ln ? 4 : 6) << shape.name() << " layer " << l;
    EXPECT_EQ(dec.schedule().instructions.size(), instructions) << shape.name();
    RecordProperty("instructions_per_step_" + shape.name(), static_cast<int>(instructions));
  }
}

// The kernel writes the greedy next token where the next step's embedding reads it: steps enqueued without
// tokens continue greedily, as the graph path fed each step's host argmax does.
TEST_F(PersistentEngine, GreedyTokensChainOnTheDevice) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape = kShapes[0];
  const OptWeights w = random_half_exact_weights(make_config(shape), 91);
  const int B = 3, T = 10;
  CudaEngineOptions o;
  o.batch = B;
  o.max_len = T;
  CudaEngine eng(engine::upload_weights(w), o);
  const auto first = random_tokens(B, 1, shape.vocab, 92);
  std::vector<int32_t> ids(B);
  for (int b = 0; b < B; ++b) ids[b] = first[b][0];
  eng.set_decode_path(DecodePath::kPersistent);
  eng.reset();
  eng.step(ids, StepMode::kDense);
  std::vector<std::vector<float>> persistent{eng.logits()};
  for (int t = 1; t < T; ++t) {
    eng.enqueue_step(StepMode::kDense);  // no upload: the device's argmax is the input
    persistent.push_back(eng.logits());
  }
  eng.set_decode_path(DecodePath::kGraph);
  eng.reset();
  const int V = shape.vocab;
  for (int t = 0; t < T; ++t) {
    if (t > 0)
      for (int b = 0; b < B; ++b) {  // host argmax of the graph path's own previous logits (first maximum)
        const float* row = persistent[t - 1].data() + static_cast<size_t>(b) * V;
        ids[b] = static_cast<int32_t>(std::max_element(row, row + V) - row);
      }
    eng.step(ids, StepMode::kDense);
    EXPECT_LT(rel_error(persistent[t], eng.logits()), kFp16Tolerance) << "step " << t;
  }
}

// 3000 launches: counters only grow (tagged by step), across reset() and rewind(); long sequences use many
// attention splits (max_len 2048) and must still equal the graph path at every checked position.
TEST_F(PersistentEngine, ThousandsOfStepsAcrossResetAndRewind) {
  DV_SKIP_WITHOUT_GPU();
  OptConfig c = make_config(kShapes[0]);
  c.max_position_embeddings = 2048;
  const OptWeights w = random_half_exact_weights(c, 101);
  const int T = 1500;
  const auto tokens = random_tokens(1, T, c.vocab_size, 102);
  CudaEngineOptions o;
  o.max_len = 2048;
  CudaEngine eng(engine::upload_weights(w), o);
  auto run = [&](DecodePath path, int from, int to, std::vector<std::vector<float>>& out) {
    eng.set_decode_path(path);
    for (int t = from; t < to; ++t) {
      eng.step({tokens[0][t]}, StepMode::kDense);
      if (t % 100 == 99 || t + 1 == to) out.push_back(eng.logits());
    }
  };
  std::vector<std::vector<float>> graph, p1, p2, p3;
  eng.reset();
  run(DecodePath::kGraph, 0, T, graph);
  eng.reset();
  run(DecodePath::kPersistent, 0, T, p1);   // 1500 launches
  eng.rewind(700);
  run(DecodePath::kPersistent, 700, T, p2);  // 800 more, positions 700..1499
  eng.reset();
  run(DecodePath::kPersistent, 0, 700, p3);  // 700 more
  ASSERT_EQ(p1.size(), graph.size());
  for (size_t i = 0; i < graph.size(); ++i) EXPECT_LT(rel_error(p1[i], graph[i]), kFp16Tolerance) << "check " << i;
  // p2's checks are at positions 799, 899, ..., 1499: graph's from index 7 on.
  ASSERT_EQ(p2.size(), graph.size() - 7);
  for (size_t i = 0; i < p2.size(); ++i) EXPECT_LT(rel_error(p2[i], graph[i + 7]), kFp16Tolerance) << "rewound " << i;
  ASSERT_EQ(p3.size(), 7u);
  for (size_t i = 0; i < p3.size(); ++i) EXPECT_LT(rel_error(p3[i], graph[i]), kFp16Tolerance) << "reset " << i;
}

// A planted stuck wait: one dv::Error line naming the op, layer and counter, well within seconds, no hang;
// reset() recovers and the path runs correctly again.
TEST_F(PersistentEngine, WatchdogTurnsAStuckWaitIntoOneErrorLine) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape = kShapes[0];
  const OptWeights w = random_half_exact_weights(make_config(shape), 111);
  const auto tokens = random_tokens(1, 4, shape.vocab, 112);
  CudaEngineOptions o;
  o.max_len = 4;
  o.decode_path = DecodePath::kPersistent;
  CudaEngine eng(engine::upload_weights(w), o);
  engine::PersistentDecoder& dec = eng.persistent(StepMode::kDense);
  int mlp = -1;
  for (size_t i = 0; i < dec.ops().size(); ++i)
    if (dec.ops()[i].name == "mlp" && dec.ops()[i].layer == 1) mlp = static_cast<int>(i);
  ASSERT_GE(mlp, 0);
  dec.plant_stuck_wait(mlp);
  eng.reset();
  const auto t0 = std::chrono::steady_clock::now();
  std::string message;
  try {
    eng.step({tokens[0][0]}, StepMode::kDense);
    (void)eng.logits();
  } catch (const Error& e) {
    message = e.what();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(message.find("watchdog"), std::string::npos) << message;
  EXPECT_NE(message.find("mlp (op " + std::to_string(mlp) + ", layer 1)"), std::string::npos) << message;
  EXPECT_NE(message.find("out_proj (op"), std::string::npos) << message;  // the counter it waited for
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
  EXPECT_LT(seconds, 0.001 * dec.watchdog_ms() + 5.0);
  EXPECT_THROW(eng.step({tokens[0][1]}, StepMode::kDense), Error);  // stays stopped until reset

  eng.reset();  // recovers (and removes the plant)
  const EngineRun after = run_engine(eng, tokens, [](int) { return StepMode::kDense; });
  eng.set_decode_path(DecodePath::kGraph);
  const EngineRun graph = run_engine(eng, tokens, [](int) { return StepMode::kDense; });
  for (size_t t = 0; t < graph.logits.size(); ++t)
    EXPECT_LT(rel_error(after.logits[t], graph.logits[t]), kFp16Tolerance) << "step " << t;
}

TEST_F(PersistentEngine, RefusesTensorParallelismAndLargeBatches) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape = kShapes[0];
  const OptWeights w = random_half_exact_weights(make_config(shape), 121);
  CudaEngineOptions o;
  o.max_len = 4;
  o.decode_path = DecodePath::kPersistent;
  o.all_reduce = [](__half*, size_t, cudaStream_t) {};
  EXPECT_THROW(CudaEngine(engine::upload_weights(w), o), Error);
  o.all_reduce = {};
  o.batch = 9;
  CudaEngine eng(engine::upload_weights(w), o);
  eng.reset();
  eng.set_tokens(std::vector<int32_t>(9, 1));
  EXPECT_THROW(eng.enqueue_step(StepMode::kDense), Error);
}

}  // namespace
}  // namespace dv::test
