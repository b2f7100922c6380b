// test_eval_masks.cpp: the eval stage's masks on a small random model: all-ones masks equal dense,
// top-k masks keep exactly k units per token, oracle at full density equals dense, and masking
// changes the result when it should.
#include <gtest/gtest.h>

#include <random>

#include <c10/core/InferenceMode.h>

#include "engine/models/perplexity.h"
#include "pipeline/stages/eval_stage.h"
#include "pipeline/stages/sparsity_masks.h"

namespace {

dv::OptModel tiny_model(bool pre_ln) {
  dv::OptConfig c;
  c.vocab_size = 97;
  c.hidden_size = 64;
  c.ffn_dim = 200;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 4;
  c.word_embed_proj_dim = pre_ln ? 64 : 48;
  c.max_position_embeddings = 64;
  c.do_layer_norm_before = pre_ln;
  return dv::OptModel(dv::random_opt_weights(c, at::kFloat, at::kCPU, 7));
}

std::vector<int32_t> random_ids(int n, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> ids(n);
  for (auto& t : ids) t = static_cast<int32_t>(rng() % vocab);
  return ids;
}

TEST(EvalMasks, AllOnesMasksEqualDense) {
  c10::InferenceMode guard;
  for (bool pre_ln : {true, false}) {
    dv::OptModel m = tiny_model(pre_ln);
    const auto ids = random_ids(150, 97, 1);
    dv::PerplexityOptions o;
    o.seq_len = 40;
    o.show_progress = false;
    const double dense = dv::compute_perplexity(m, ids, o).perplexity;
    dv::ForwardHooks ones;
    ones.mlp_mask = [](const dv::MaskQuery& q) { return at::ones_like(q.dense_scores); };
    ones.head_mask = [](const dv::MaskQuery& q) { return at::ones_like(q.dense_scores); };
    EXPECT_NEAR(dv::compute_perplexity(m, ids, o, &ones).perplexity, dense, 1e-9 * dense);
    // Oracle masks at density 1 are all-ones too.
    dv::SparsityPlan full;
    full.mlp_density = 1.0;
    full.head_density = 1.0;
    dv::MaskStats stats;
    dv::ForwardHooks h = dv::make_mask_hooks(full, &stats);
    EXPECT_NEAR(dv::compute_perplexity(m, ids, o, &h).perplexity, dense, 1e-9 * dense);
  }
}

TEST(EvalMasks, TopkMaskKeepsExactlyK) {
  for (int64_t n : {1, 7, 33, 200}) {
    const at::Tensor scores = at::randn({3, 5, n});
    for (double density : {0.01, 0.1, 0.5, 0.99, 1.0}) {
      const at::Tensor m = dv::topk_mask(scores, density);
      const int64_t k = dv::kept_count(n, density);
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
  dv::OptModel m = tiny_model(true);
  const auto ids = random_ids(80, 97, 2);
  dv::PerplexityOptions o;
  o.seq_len = 40;
  o.show_progress = false;
  const double dense = dv::compute_perplexity(m, ids, o).perplexity;
  dv::EvalSweep sweep;
  sweep.modes = {"dense", "oracle"};
  sweep.targets = {"mlp", "heads"};
  sweep.mlp_densities = {0.9, 0.1};
  sweep.head_densities = {0.5};
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

}  // namespace
