// tp_engine_test.cpp (gpu): the tensor-parallel engine against the plain CUDA engine on the same weights.
// World size 1 runs on one GPU through the whole TP path (NCCL communicator, the all-reduce hook, sharded weights
// and specs): its logits must equal the single-GPU engine's, dense and sparse (fixed lists, predictors),
// CUDA graphs on and off. World > 1 runs when a launcher set WORLD_SIZE (scripts/device/step_tp_multi.sh
// starts one copy per GPU): every rank compares its TP logits with a plain engine holding the whole model on
// its own GPU, and the ranks' logits with each other. Each sparse comparison also checks that the selection
// moved the logits far beyond the tolerance, so a TP path that ignored it could not pass.
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/tp/tp_engine.h"
#include "kernels/common/cuda_check.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::SelectionSource;
using engine::StepMode;

Shape tp_shape() {
  Shape s;
  s.d = 256;
  s.heads = 4;    // splits over 1, 2, 4 ranks
  s.ffn = 1056;   // ffn / 4 % 8 == 0
  s.layers = 3;
  s.vocab = 997;
  return s;
}

// Global fixed lists with the same count on every rank's slice (so no rank's list is empty).
engine::SparseSpec balanced_fixed_spec(const OptConfig& c, int world, uint64_t seed) {
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = SelectionSource::kFixed;
  const int f = static_cast<int>(c.ffn_dim) / world, h = static_cast<int>(c.num_attention_heads) / world;
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    std::vector<int> mlp, heads;
    for (int r = 0; r < world; ++r) {
      for (int i : random_subset(f, f / 5 + 3, seed + 100 * l + r)) mlp.push_back(r * f + i);
      for (int i : random_subset(h, (h + 1) / 2, seed + 100 * l + r + 50)) heads.push_back(r * h + i);
    }
    spec.mlp.lists.push_back(mlp);
    spec.heads.lists.push_back(heads);
  }
  return spec;
}

engine::SparseSpec predictor_spec(const OptConfig& c) {
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = SelectionSource::kPredictor;
  spec.mlp.density = 0.3;
  spec.heads.density = 0.5;
  const int L = static_cast<int>(c.num_hidden_layers), d = static_cast<int>(c.hidden_size);
  spec.mlp.predictors = random_predictors(L, d, 16, static_cast<int>(c.ffn_dim), 71);
  spec.heads.predictors = random_predictors(L, d, 16, static_cast<int>(c.num_attention_heads), 72);
  return spec;
}

struct Case {
  std::string name;
  bool sparse = false, predictors = false;
};

// Dense prompt of `prompt` steps, then the mode under test; logits of every step.
EngineRun run(engine::CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens, bool sparse, int prompt) {
  return run_engine(eng, tokens, [&](int t) { return sparse && t >= prompt ? StepMode::kSparse : StepMode::kDense; });
}

TpEngineOptions tp_options(int batch, int max_len, bool use_graph) {
  TpEngineOptions o;
  o.batch = batch;
  o.max_len = max_len;
  o.use_graph = use_graph;
  return o;
}

engine::CudaEngineOptions plain_options(int batch, int max_len, bool use_graph, int device) {
  engine::CudaEngineOptions o;
  o.batch = batch;
  o.max_len = max_len;
  o.use_graph = use_graph;
  o.device = device;
  return o;
}

// The TP engine on this rank's slice and a plain engine holding the whole model, on the rank's GPU.
struct EnginePair {
  EnginePair(const TpRankEnv& env, const OptConfig& c, const OptWeights& w, int batch, int max_len, bool use_graph)
      : tp(env, c, [&](const TpPlan& plan) { return rank_gpu_weights(w, plan); },
           tp_options(batch, max_len, use_graph)),
        plain(engine::upload_weights(w), plain_options(batch, max_len, use_graph, env.local_rank)) {}
  TpEngine tp;
  engine::CudaEngine plain;
};

void compare_ranks_to_plain(const TpRankEnv& env, bool use_graph) {
  const OptConfig c = make_config(tp_shape());
  const OptWeights w = random_half_exact_weights(c, 123);
  const int B = 2, T = 10, prompt = 4;
  const auto tokens = random_tokens(B, T, static_cast<int>(c.vocab_size), 5);
  EnginePair e(env, c, w, B, T, use_graph);
  TpEngine& tp = e.tp;
  engine::CudaEngine& plain = e.plain;
  const EngineRun plain_dense = run(plain, tokens, false, prompt);
  for (const Case& k : {Case{"dense"}, Case{"sparse-fixed", true}, Case{"sparse-predictor", true, true}}) {
    SCOPED_TRACE(k.name + (use_graph ? " graphs on" : " graphs off") + " world " + std::to_string(env.world));
    if (k.sparse) {
      // Fixed lists at world 1 come sharded (renumbered) too; predictors at world > 1 select per rank, which
      // differs from a whole-model top-k by design: compared at world 1 only.
      if (k.predictors && env.world > 1) continue;
      const engine::SparseSpec spec = k.predictors ? predictor_spec(c) : balanced_fixed_spec(c, env.world, 9);
      tp.engine().reset();
      plain.reset();
      tp.set_sparse(spec);
      plain.set_sparse(spec);
    }
    const EngineRun got = run(tp.engine(), tokens, k.sparse, prompt);
    const EngineRun want = run(plain, tokens, k.sparse, prompt);
    double worst = 0, moved = 0;
    for (int t = 0; t < T; ++t) {
      worst = std::max(worst, rel_error(got.logits[t], want.logits[t]));
      moved = std::max(moved, rel_error(want.logits[t], plain_dense.logits[t]));
    }
    EXPECT_LT(worst, kFp16Tolerance) << "TP logits vs the plain engine";
    if (k.sparse) {
      EXPECT_GT(moved, 3 * kFp16Tolerance) << "the selection must change the logits";
    }
    EXPECT_LT(tp.logits_spread(), 1e-6) << "every rank must hold the same logits";
  }
}

// Sparse with predictors at any world size: every rank picks its own top-k; the union of the ranks' picks (an
// fp32 sum all-reduce of 0/1 masks) is handed to the plain engine as that step's fixed lists, so both engines
// run the same units and must give the same logits.
void compare_predictor_selections(const TpRankEnv& env, bool use_graph) {
  SCOPED_TRACE(std::string("predictor selections, graphs ") + (use_graph ? "on" : "off"));
  const OptConfig c = make_config(tp_shape());
  const OptWeights w = random_half_exact_weights(c, 321);
  const int B = 1, T = 9, prompt = 3, L = static_cast<int>(c.num_hidden_layers);
  const auto tokens = random_tokens(B, T, static_cast<int>(c.vocab_size), 6);
  EnginePair e(env, c, w, B, T, use_graph);
  TpEngine& tp = e.tp;
  engine::CudaEngine& plain = e.plain;
  const engine::SparseSpec spec = predictor_spec(c);
  tp.set_sparse(spec);
  const int64_t lf = tp.plan().local_ffn, lh = tp.plan().local_heads;
  const int kf = engine::kept_count(spec.mlp.density, static_cast<int>(lf)) * env.world;
  const int kh = engine::kept_count(spec.heads.density, static_cast<int>(lh)) * env.world;
  engine::SparseSpec fixed;
  fixed.mlp.source = fixed.heads.source = SelectionSource::kFixed;
  for (int l = 0; l < L; ++l) {
    fixed.mlp.lists.push_back(random_subset(static_cast<int>(c.ffn_dim), kf, 1 + l));
    fixed.heads.lists.push_back(random_subset(static_cast<int>(c.num_attention_heads), kh, 2 + l));
  }
  plain.set_sparse(fixed);
  // The whole-model list of the units the ranks selected in the last step.
  auto union_of_ranks = [&](bool mlp, int l) {
    const int64_t n = mlp ? c.ffn_dim : c.num_attention_heads, local = mlp ? lf : lh;
    std::vector<float> mask(n, 0.f);
    for (int i : tp.engine().selection(mlp, l)) mask[tp.rank() * local + i] = 1.f;
    at::Tensor m = at::tensor(mask).to(at::Device(at::kCUDA, env.local_rank));
    tp.comm().all_reduce_sum_f32(m.data_ptr<float>(), mask.size(), tp.engine().stream());
    DV_CUDA_CHECK(cudaStreamSynchronize(tp.engine().stream()));
    const at::Tensor h = m.cpu();
    std::vector<int> list;
    for (int64_t i = 0; i < n; ++i)
      if (h[i].item<float>() > 0.5f) list.push_back(static_cast<int>(i));
    return list;
  };
  tp.engine().reset();
  plain.reset();
  double worst = 0;
  for (int t = 0; t < T; ++t) {
    const StepMode mode = t < prompt ? StepMode::kDense : StepMode::kSparse;
    const std::vector<int32_t> ids = {tokens[0][t]};
    tp.engine().step(ids, mode);
    if (mode == StepMode::kSparse)
      for (int l = 0; l < L; ++l) {
        const std::vector<int> m = union_of_ranks(true, l), h = union_of_ranks(false, l);
        ASSERT_EQ(static_cast<int>(m.size()), kf) << "layer " << l;
        ASSERT_EQ(static_cast<int>(h.size()), kh) << "layer " << l;
        plain.set_fixed_selection(true, l, m);
        plain.set_fixed_selection(false, l, h);
      }
    plain.step(ids, mode);
    worst = std::max(worst, rel_error(tp.engine().logits(), plain.logits()));
  }
  EXPECT_LT(worst, kFp16Tolerance) << "TP with per-rank predictor selections vs the plain engine on their union";
  EXPECT_LT(tp.logits_spread(), 1e-6);
}

TEST(TpEngine, WorldOneMatchesThePlainEngine) {
  DV_SKIP_WITHOUT_GPU();
  if (std::getenv("WORLD_SIZE") != nullptr && std::string(std::getenv("WORLD_SIZE")) != "1")
    GTEST_SKIP() << "launched as a rank of a larger world (see RanksMatchOneGpu)";
  TpRankEnv env;  // one rank, no id file
  for (bool graph : {true, false}) {
    compare_ranks_to_plain(env, graph);
    compare_predictor_selections(env, graph);
  }
}

TEST(TpEngine, WithoutTheAllReduceWorldOneIsUnchanged) {
  // At world 1 the all-reduce is an identity: switching it off (recapture) must not change the logits; the
  // bench's "all-reduce share" compares these two step times.
  DV_SKIP_WITHOUT_GPU();
  if (std::getenv("WORLD_SIZE") != nullptr && std::string(std::getenv("WORLD_SIZE")) != "1") GTEST_SKIP();
  const OptConfig c = make_config(tp_shape());
  const OptWeights w = random_half_exact_weights(c, 7);
  const auto tokens = random_tokens(1, 6, static_cast<int>(c.vocab_size), 8);
  TpEngine tp(TpRankEnv{}, c, [&](const TpPlan& plan) { return rank_gpu_weights(w, plan); },
              tp_options(1, 6, true));
  const EngineRun on = run(tp.engine(), tokens, false, 0);
  tp.set_all_reduce(false);
  const EngineRun off = run(tp.engine(), tokens, false, 0);
  for (int t = 0; t < 6; ++t) EXPECT_LT(rel_error(off.logits[t], on.logits[t]), 1e-6) << "step " << t;
}

TEST(TpEngine, RanksMatchOneGpu) {
  DV_SKIP_WITHOUT_GPU();
  const char* ws = std::getenv("WORLD_SIZE");
  if (ws == nullptr || std::string(ws) == "1") GTEST_SKIP() << "needs WORLD_SIZE > 1 (step_tp_multi.sh)";
  const TpRankEnv env = tp_rank_from_env();
  int gpus = 0;
  ASSERT_EQ(cudaGetDeviceCount(&gpus), cudaSuccess);
  if (gpus < env.world) GTEST_SKIP() << gpus << " GPUs for a world of " << env.world;
  for (bool graph : {true, false}) {
    TpRankEnv e = env;
    e.id_file += graph ? ".graph" : ".eager";  // a fresh id per communicator
    compare_ranks_to_plain(e, graph);
    e.id_file += ".predictors";
    compare_predictor_selections(e, graph);
  }
}

}  // namespace
}  // namespace dv::test

namespace dv::test {
namespace {

// CPU only (runs without a GPU): a whole-model spec cut to each rank.
TEST(TpSparseSpec, EachRankGetsItsRowsAndItsListEntries) {
  OptConfig c = make_config(tp_shape());
  c.num_hidden_layers = 1;
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = SelectionSource::kPredictor;
  spec.mlp.predictors = random_predictors(1, static_cast<int>(c.hidden_size), 8, static_cast<int>(c.ffn_dim), 3);
  spec.heads.source = SelectionSource::kFixed;
  spec.heads.lists = {{0, 2, 3}};  // heads 0 and 2, 3: rank 0 holds 0-1, rank 1 holds 2-3 (world 2)
  const int64_t f = c.ffn_dim / 2;
  for (int r = 0; r < 2; ++r) {
    const engine::SparseSpec s = shard_sparse_spec(spec, tp_partition(c, r, 2));
    const at::Tensor& w2 = s.mlp.predictors[0].w2;
    ASSERT_EQ(w2.size(0), f);
    EXPECT_TRUE(at::equal(w2, spec.mlp.predictors[0].w2.narrow(0, r * f, f))) << "rank " << r;
    EXPECT_TRUE(at::equal(s.mlp.predictors[0].w1, spec.mlp.predictors[0].w1));  // w1 is replicated
    EXPECT_EQ(s.heads.lists[0], r == 0 ? std::vector<int>{0} : std::vector<int>({0, 1})) << "rank " << r;
  }
  // World 1: the spec unchanged (the world-1 engine tests rely on it).
  const engine::SparseSpec one = shard_sparse_spec(spec, tp_partition(c, 0, 1));
  EXPECT_TRUE(at::equal(one.mlp.predictors[0].w2, spec.mlp.predictors[0].w2));
  EXPECT_EQ(one.heads.lists, spec.heads.lists);
}

}  // namespace
}  // namespace dv::test
