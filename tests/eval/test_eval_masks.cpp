// test_eval_masks.cpp: the eval stage's masks on a small random model: all-ones masks equal dense,
// top-k masks keep exactly k units per token, oracle at full density equals dense, masking
// changes the result when it should, and layers listed as dense are left whole.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include <c10/core/InferenceMode.h>

#include "engine/models/perplexity.h"
#include "kernels/common/error.h"
#include "pipeline/eval/eval_stage.h"
#include "pipeline/scoring/sparsity_masks.h"
#include "pipeline/train/selection.h"
#include "tests/engine/tiny_model.h"

namespace {

using dv::test::random_ids;
using dv::test::tiny_model;

// Windows of 40 tokens, no progress bar: the scoring options of every test here.
dv::PerplexityOptions short_windows() {
  dv::PerplexityOptions o;
  o.seq_len = 40;
  o.show_progress = false;
  return o;
}

dv::EvalSweep sweep_of(std::vector<std::string> modes, std::vector<std::string> targets, std::vector<double> mlp,
                       std::vector<double> heads) {
  dv::EvalSweep s;
  s.modes = std::move(modes);
  s.targets = std::move(targets);
  s.mlp_densities = std::move(mlp);
  s.head_densities = std::move(heads);
  return s;
}

// The pre-LN tiny model and its dense perplexity on 80 random tokens: what the sweep tests compare with.
struct DenseBaseline {
  dv::OptModel model;
  std::vector<int32_t> ids;
  dv::PerplexityOptions options;
  double perplexity = 0;
};

DenseBaseline dense_baseline(uint64_t ids_seed) {
  DenseBaseline b{tiny_model(true), random_ids(80, 97, ids_seed), short_windows()};
  b.perplexity = dv::compute_perplexity(b.model, b.ids, b.options).perplexity;
  return b;
}

TEST(EvalMasks, AllOnesMasksEqualDense) {
  c10::InferenceMode guard;
  for (bool pre_ln : {true, false}) {
    dv::OptModel m = tiny_model(pre_ln);
    const auto ids = random_ids(150, 97, 1);
    const dv::PerplexityOptions o = short_windows();
    const double dense = dv::compute_perplexity(m, ids, o).perplexity;
    dv::ForwardHooks ones;
    ones.mlp_mask = [](const dv::MaskQuery& q) { return at::ones_like(q.dense_scores); };
    ones.head_mask = [](const dv::MaskQuery& q) { return at::ones_like(q.dense_scores); };
    EXPECT_NEAR(dv::compute_perplexity(m, ids, o, &ones).perplexity, dense, 1e-9 * dense);
    // Oracle masks at density 1 are all-ones too.
    dv::SparsityPlan full;
    full.mlp_density = 1.0;
    full.head_density = 1.0;
    dv::SelectionStats stats;
    dv::ForwardHooks h = dv::make_mask_hooks(full, &stats);
    EXPECT_NEAR(dv::compute_perplexity(m, ids, o, &h).perplexity, dense, 1e-9 * dense);
  }
}

TEST(EvalMasks, TopkMaskKeepsExactlyK) {
  for (int64_t n : {1, 7, 33, 200}) {
    const at::Tensor scores = at::randn({3, 5, n});
    for (double density : {0.01, 0.1, 0.5, 0.99, 1.0}) {
      const int64_t k = dv::kept_count(density, n);
      const at::Tensor m = dv::select_topk(scores, k);
      EXPECT_TRUE(at::equal(m.sum(-1), at::full({3, 5}, static_cast<double>(k), at::kFloat)))
          << "n=" << n << " density=" << density;
      if (k > 0 && k < n) {
        // Every kept score is >= every dropped score.
        const at::Tensor kept_min = at::where(m > 0, scores, at::full_like(scores, 1e9)).amin(-1);
        const at::Tensor dropped_max = at::where(m > 0, at::full_like(scores, -1e9), scores).amax(-1);
        EXPECT_TRUE(at::all(kept_min >= dropped_max).item<bool>());
      }
    }
  }
}

TEST(EvalMasks, OracleSparsityRecordsWhatItKeeps) {
  c10::InferenceMode guard;
  const DenseBaseline baseline = dense_baseline(2);
  const auto& [m, ids, o, dense] = baseline;
  const dv::EvalSweep sweep = sweep_of({"dense", "oracle"}, {"mlp", "heads"}, {0.9, 0.1}, {0.5});
  const auto points = dv::run_eval_sweep(m, ids, o, sweep, {});
  ASSERT_EQ(points.size(), 4u);
  EXPECT_DOUBLE_EQ(points[0].ppl.perplexity, dense);
  // Keeping 90% of the neurons keeps more activation mass than keeping 10%.
  EXPECT_GT(points[1].kept.mlp_mass_recall(), points[2].kept.mlp_mass_recall());
  EXPECT_LT(points[2].kept.mlp_active_recall(), 1.0);
  EXPECT_NE(points[2].ppl.perplexity, dense);
  EXPECT_GT(points[3].kept.head_mass_recall(), 0.5);  // top half of heads by norm keep over half the mass
  EXPECT_LT(points[3].kept.head_mass_recall(), 1.0);
}

TEST(EvalMasks, SelectionsMaskMatchesTheLists) {
  const uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  for (const int64_t n : {1, 4, 37, 1024}) {
    const int64_t T = 1 + static_cast<int64_t>(rng() % 20), layers = 3;
    // Selections for all but (sometimes) the last positions, which then keep every unit.
    const int64_t steps = T - static_cast<int64_t>(rng() % 3 == 0 ? std::min<int64_t>(T, 2) : 0);
    std::vector<std::vector<std::vector<int>>> sel(steps, std::vector<std::vector<int>>(layers));
    for (auto& step : sel)
      for (auto& list : step)
        for (int i = 0; i < n; ++i)
          if (rng() % 3 == 0) list.push_back(i);
    for (int layer = 0; layer < layers; ++layer) {
      const at::Tensor m = dv::selections_mask(sel, layer, T, n);
      ASSERT_EQ(m.sizes(), (at::IntArrayRef{1, T, n}));
      for (int64_t t = 0; t < T; ++t) {
        std::vector<float> want(n, t < steps ? 0.0f : 1.0f);
        if (t < steps)
          for (int i : sel[t][layer]) want[i] = 1.0f;
        const at::Tensor row = m[0][t].contiguous();
        ASSERT_TRUE(std::equal(want.begin(), want.end(), row.data_ptr<float>())) << "n=" << n << " t=" << t;
      }
    }
  }
  std::vector<std::vector<std::vector<int>>> bad = {{{0, 5}}};
  EXPECT_THROW(dv::selections_mask(bad, 0, 1, 5), dv::Error);
}

TEST(EvalMasks, DenseLayerFlagsCountFromEitherEnd) {
  EXPECT_EQ(dv::dense_layer_flags({0, -1}, 4, "x"), (std::vector<bool>{true, false, false, true}));
  EXPECT_EQ(dv::dense_layer_flags({}, 3, "x"), (std::vector<bool>(3, false)));
  EXPECT_EQ(dv::dense_layer_flags({-3, 2}, 3, "x"), (std::vector<bool>{true, false, true}));
  for (int64_t bad : {3, -4}) {
    try {
      dv::dense_layer_flags({bad}, 3, "eval: dense_layers");
      ADD_FAILURE() << bad << " accepted";
    } catch (const dv::Error& e) {
      EXPECT_NE(std::string(e.what()).find("eval: dense_layers: layer " + std::to_string(bad)), std::string::npos)
          << e.what();
    }
  }
}

TEST(EvalMasks, DenseLayersAreLeftWhole) {
  c10::InferenceMode guard;
  const DenseBaseline baseline = dense_baseline(3);
  const auto& [m, ids, o, dense] = baseline;
  dv::EvalSweep sweep = sweep_of({"oracle"}, {"both"}, {0.1}, {0.25});
  const double all_sparse = dv::run_eval_sweep(m, ids, o, sweep, {})[0].ppl.perplexity;
  sweep.dense_layers = {1};
  const dv::EvalPoint one_dense = dv::run_eval_sweep(m, ids, o, sweep, {})[0];
  sweep.dense_layers = {0, 1, -1};
  const dv::EvalPoint every_dense = dv::run_eval_sweep(m, ids, o, sweep, {})[0];
  EXPECT_NEAR(every_dense.ppl.perplexity, dense, 1e-9 * dense);  // every layer listed: the dense model
  EXPECT_DOUBLE_EQ(every_dense.kept.mlp_mass_recall(), 1.0);
  EXPECT_DOUBLE_EQ(every_dense.kept.head_mass_recall(), 1.0);
  EXPECT_NE(one_dense.ppl.perplexity, all_sparse);
  EXPECT_NE(one_dense.ppl.perplexity, dense);
  // One layer of three kept whole: between a third and all of the mass recalled.
  EXPECT_GT(one_dense.kept.mlp_mass_recall(), 1.0 / 3);
  EXPECT_LT(one_dense.kept.mlp_mass_recall(), 1.0);
  sweep.dense_layers = {3};
  EXPECT_THROW(dv::run_eval_sweep(m, ids, o, sweep, {}), dv::Error);
}

}  // namespace
