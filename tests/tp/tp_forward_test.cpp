// tp_forward_test.cpp: the tensor-parallel reference forward (ranks' partial blocks, summed where the
// all-reduce goes) gives the unsharded model's logits at world sizes 1, 2 and 4, pre-LN and post-LN.
#include <cstdio>

#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include "engine/tp/tp_reference.h"
#include "engine/tp/tp_weights.h"
#include "tests/engine/tiny_model.h"

namespace dv {
namespace {

class TpForward : public ::testing::TestWithParam<std::tuple<int, bool>> {
 protected:
  // The tiny shapes gain nothing from threads, and on a loaded CI machine the thread pool's waits cost seconds.
  static void SetUpTestSuite() { at::set_num_threads(1); }
};

TEST_P(TpForward, MatchesTheUnshardedModel) {
  const auto [world, pre_ln] = GetParam();
  const OptModel model = test::tiny_model(pre_ln, 5);
  std::vector<OptWeights> ranks;
  for (int r = 0; r < world; ++r)
    ranks.push_back(slice_weights(model.weights(), tp_partition(model.config(), r, world)));
  // Two sequences of an odd length; ids drawn fresh from the vocabulary.
  const std::vector<int32_t> a = test::random_ids(37, 97, 3), b = test::random_ids(37, 97, 4);
  std::vector<int64_t> flat(a.begin(), a.end());
  flat.insert(flat.end(), b.begin(), b.end());
  const at::Tensor ids = at::tensor(flat, at::kLong).view({2, 37});
  const at::Tensor ref = model.forward(ids);
  const at::Tensor got = tp_reference_forward(ranks, ids);
  ASSERT_EQ(got.sizes(), ref.sizes());
  const double rel = (got - ref).abs().max().item<double>() / ref.abs().max().item<double>();
  std::printf("world %d %s: max |tp - ref| / max |ref| = %.2e\n", world, pre_ln ? "pre-LN" : "post-LN", rel);
  EXPECT_LT(rel, 1e-4) << "world " << world << (pre_ln ? " pre-LN" : " post-LN");
  // A wrong shard (rank 0's out_proj bias dropped) must show: the check can fail.
  if (world > 1) {
    ranks[0].layers[0].out_b = ranks[1].layers[0].out_b;
    const at::Tensor broken = tp_reference_forward(ranks, ids);
    EXPECT_GT((broken - ref).abs().max().item<double>() / ref.abs().max().item<double>(), 1e-3);
  }
}

INSTANTIATE_TEST_SUITE_P(WorldAndLn, TpForward, ::testing::Combine(::testing::Values(1, 2, 4), ::testing::Bool()));

}  // namespace
}  // namespace dv
