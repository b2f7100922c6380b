// tp_partition_test.cpp: every weight's rank slices tile the full tensor (in order, without gaps), the rank
// loader reads the same slices from a checkpoint, and indivisible shapes are refused.
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <gtest/gtest.h>

#include "engine/io/safetensors.h"
#include "engine/tp/tp_weights.h"
#include "kernels/common/error.h"
#include "tests/engine/tiny_model.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

std::vector<OptWeights> shard(const OptWeights& full, int world) {
  std::vector<OptWeights> ranks;
  for (int r = 0; r < world; ++r) ranks.push_back(slice_weights(full, tp_partition(full.config, r, world)));
  return ranks;
}

class TpPartition : public ::testing::TestWithParam<std::tuple<int, bool>> {};

TEST_P(TpPartition, SlicesTileEveryWeight) {
  const auto [world, pre_ln] = GetParam();
  const OptModel model = test::tiny_model(pre_ln);
  const OptWeights& full = model.weights();
  const std::vector<OptWeights> ranks = shard(full, world);
  const TpPlan plan0 = tp_partition(full.config, 0, world);
  EXPECT_EQ(plan0.local_heads * world, full.config.num_attention_heads);
  EXPECT_EQ(plan0.tensors.size(), Checkpoint::expected_tensors(full.config).size());
  int split = 0;
  for (const auto& [name, s0] : plan0.tensors) {
    std::vector<at::Tensor> parts;
    int64_t next = 0;
    for (int r = 0; r < world; ++r) {
      const TpPlan plan = tp_partition(full.config, r, world);
      const TensorSlice& s = plan.at(name);
      const at::Tensor part = opt_weight_by_name(ranks[r], name);
      ASSERT_EQ(part.sizes().vec(), s.slice_shape()) << name << " rank " << r;
      if (s.shard != TpShard::kReplicated) {
        EXPECT_EQ(s.start, next) << name << " rank " << r;  // ranks' ranges follow one another
        next += s.length;
        parts.push_back(part);
      } else {
        EXPECT_TRUE(at::equal(part, opt_weight_by_name(full, name))) << name << " replicated, rank " << r;
      }
    }
    if (s0.shard == TpShard::kReplicated) continue;
    ++split;
    EXPECT_EQ(next, s0.shape[s0.dim]) << name;
    EXPECT_EQ(s0.needs_copy(), s0.shard == TpShard::kRow && world > 1) << name;
    EXPECT_TRUE(at::equal(at::cat(parts, s0.dim), opt_weight_by_name(full, name))) << name;
  }
  EXPECT_EQ(split, 12 * full.config.num_hidden_layers);  // q/k/v/out/fc1/fc2, weight and bias
}

INSTANTIATE_TEST_SUITE_P(WorldAndLn, TpPartition,
                         ::testing::Combine(::testing::Values(1, 2, 4), ::testing::Bool()));

TEST(TpPartitionErrors, RefusesIndivisibleShapesAndBadRanks) {
  OptConfig c = test::tiny_model(true).config();  // 4 heads, ffn 200
  auto message = [&](int rank, int world) {
    try {
      tp_partition(c, rank, world);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message(0, 3).find("num_attention_heads 4 is not divisible by world size 3"), std::string::npos)
      << message(0, 3);
  EXPECT_NE(message(2, 2).find("rank 2 is outside world size 2"), std::string::npos) << message(2, 2);
  EXPECT_NE(message(0, 0).find("world size 0"), std::string::npos) << message(0, 0);
  c.ffn_dim = 202;
  EXPECT_NE(message(1, 4).find("ffn_dim 202 is not divisible by world size 4"), std::string::npos) << message(1, 4);
  EXPECT_NO_THROW(tp_partition(c, 1, 2));
}

// The same slices come out of a checkpoint written from the weights (fp32, tied and untied LM head).
TEST(TpLoader, ReadsTheRankSliceOfACheckpoint) {
  for (const bool pre_ln : {true, false}) {
    const OptModel model = test::tiny_model(pre_ln, 11);
    const OptWeights& full = model.weights();
    const fs::path dir =
        fs::temp_directory_path() / ("dv_tp_ckpt_" + std::to_string(::getpid()) + (pre_ln ? "_pre" : "_post"));
    fs::create_directories(dir);
    std::ofstream(dir / "config.json") << full.config.to_json();
    std::vector<at::Tensor> keep;
    std::vector<TensorToWrite> out;
    for (const auto& [name, shape] : Checkpoint::expected_tensors(full.config)) {
      keep.push_back(opt_weight_by_name(full, name).contiguous());
      out.push_back({"model.decoder." + name, DType::kF32, shape, keep.back().data_ptr(), keep.back().nbytes()});
    }
    write_safetensors((dir / "model.safetensors").string(), out);
    const Checkpoint ckpt(dir.string());
    for (const int world : {1, 2, 4}) {
      for (int r = 0; r < world; ++r) {
        const TpPlan plan = tp_partition(full.config, r, world);
        const OptWeights loaded = load_rank_weights(ckpt, r, world, at::kFloat, at::kCPU);
        const OptWeights sliced = slice_weights(full, plan);
        for (const auto& [name, s] : plan.tensors)
          EXPECT_TRUE(at::equal(opt_weight_by_name(loaded, name), opt_weight_by_name(sliced, name)))
              << name << " rank " << r << "/" << world;
        EXPECT_TRUE(at::equal(loaded.lm_head, full.lm_head));
        // The GPU engine's form: whole row-parallel biases on every rank (added after the all-reduce).
        OptWeights whole = loaded;
        load_whole_row_biases(ckpt, whole, at::kFloat, at::kCPU);
        for (size_t l = 0; l < whole.layers.size(); ++l) {
          EXPECT_TRUE(at::equal(whole.layers[l].out_b, full.layers[l].out_b)) << "layer " << l << " rank " << r;
          EXPECT_TRUE(at::equal(whole.layers[l].fc2_b, full.layers[l].fc2_b)) << "layer " << l << " rank " << r;
        }
      }
    }
    // Not fs::remove_all: the pip LibTorch exports a remove_all that crashes (see tests/train/planted_store.cpp).
    for (const char* f : {"config.json", "model.safetensors"}) fs::remove(dir / f);
    fs::remove(dir);
  }
}

}  // namespace
}  // namespace dv
