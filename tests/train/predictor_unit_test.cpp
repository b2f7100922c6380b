// predictor_unit_test.cpp: the predictor's pieces on fresh random inputs: forward, top-k and
// threshold masks, labels, the weighted BCE and input resolution.
#include <ATen/ATen.h>

#include <cmath>

#include <gtest/gtest.h>

#include "kernels/common/error.h"
#include "pipeline/train/lowrank_predictor.h"
#include "pipeline/train/predictor_input.h"
#include "pipeline/train/predictor_metrics.h"
#include "pipeline/train/selection.h"
#include "pipeline/train/weighted_bce.h"
#include "pipeline/store/bit_pack.h"

namespace dv {
namespace {

double max_rel_err(const at::Tensor& got, const at::Tensor& want) {
  return ((got.to(at::kDouble) - want.to(at::kDouble)).abs().max() / want.to(at::kDouble).abs().max().clamp_min(1e-30))
      .item<double>();
}

TEST(LowRankPredictor, LogitsAreTheTwoLinearMaps) {
  const LowRankPredictor p = LowRankPredictor::init(33, 7, 111, /*seed=*/at::randint(1 << 30, {1}).item<int64_t>());
  const at::Tensor x = at::randn({3, 5, 33});
  const at::Tensor want = at::matmul(at::matmul(x.to(at::kDouble), p.w1().to(at::kDouble).t()), p.w2().to(at::kDouble).t());
  EXPECT_EQ(p.logits(x).sizes(), (std::vector<int64_t>{3, 5, 111}));
  EXPECT_LT(max_rel_err(p.logits(x), want), 1e-4);
  // fp16 input is cast to the weights' dtype.
  EXPECT_LT(max_rel_err(p.logits(x.to(at::kHalf)), want), 1e-2);
  // nn.Linear's bound: |w1| <= 1/sqrt(d), |w2| <= 1/sqrt(rank).
  EXPECT_LE(p.w1().abs().max().item<double>(), 1 / std::sqrt(33.0));
  EXPECT_LE(p.w2().abs().max().item<double>(), 1 / std::sqrt(7.0));
  // Initialisation is a function of the seed alone.
  EXPECT_TRUE(at::equal(LowRankPredictor::init(33, 7, 111, 5).w2(), LowRankPredictor::init(33, 7, 111, 5).w2()));
  EXPECT_FALSE(at::equal(LowRankPredictor::init(33, 7, 111, 5).w2(), LowRankPredictor::init(33, 7, 111, 6).w2()));
  EXPECT_THROW(LowRankPredictor(at::zeros({4, 8}), at::zeros({9, 5})), Error);
  EXPECT_THROW(p.logits(at::zeros({2, 32})), Error);
}

TEST(Selection, TopkKeepsTheLargest) {
  const at::Tensor logits = at::randn({13, 111});
  for (int64_t k : {0, 1, 33, 110, 111}) {
    const at::Tensor mask = select_topk(logits, k);
    EXPECT_TRUE(at::equal(mask.sum(-1), at::full({13}, static_cast<float>(k))));
    if (k == 0 || k == 111) continue;
    // Every kept logit is >= every dropped one in its row.
    const at::Tensor kept_min = at::where(mask > 0, logits, at::full_like(logits, INFINITY)).amin(-1);
    const at::Tensor dropped_max = at::where(mask > 0, at::full_like(logits, -INFINITY), logits).amax(-1);
    EXPECT_TRUE(at::all(kept_min >= dropped_max).item<bool>()) << "k=" << k;
  }
  EXPECT_THROW(select_topk(logits, 112), Error);
}

TEST(Selection, ThresholdMatchesSigmoid) {
  const at::Tensor logits = at::randn({7, 33}) * 3;
  for (double p : {0.1, 0.5, 0.9}) {
    EXPECT_TRUE(at::equal(select_threshold(logits, p), (at::sigmoid(logits) >= p).to(at::kFloat))) << p;
  }
  // The one kept-count rule (kernels/common/sparsity_rule.h): ceil(density * n) in [1, n].
  EXPECT_EQ(kept_count(0.1, 1280), 128);
  EXPECT_EQ(kept_count(0.05, 12), 1);   // ceil(0.6)
  EXPECT_EQ(kept_count(0.3, 12), 4);    // ceil(3.6), as the eval stage counts
  EXPECT_EQ(kept_count(0.3, 10), 3);    // 0.3 * 10 rounds to 3.0000000000000004: still 3
  EXPECT_EQ(kept_count(0.001, 5), 1);
  EXPECT_EQ(kept_count(1.0, 5), 5);
  EXPECT_EQ(kept_count(0.5, 0), 0);
}

TEST(Labels, UnpackMatchesTheStoreCodec) {
  const int64_t n = 9, ffn = 101;
  const at::Tensor values = at::relu(at::randn({n, ffn}));
  at::Tensor bits = at::empty({n, (ffn + 7) / 8}, at::kByte);
  pack_active(values.data_ptr<float>(), n, ffn, bits.data_ptr<uint8_t>());
  EXPECT_TRUE(at::equal(unpack_active_labels(bits, ffn), (values > 0).to(at::kFloat)));
}

TEST(Labels, TopHeads) {
  EXPECT_EQ(att_label_count(0.3, 12), 3);  // int(3.6) as trainer_att.py
  EXPECT_EQ(att_label_count(0.3, 10), 3);
  EXPECT_EQ(att_label_count(0.3, 20), 6);
  EXPECT_EQ(att_label_count(0.05, 5), 1);  // never zero positives
  const at::Tensor norm = at::rand({17, 10});
  const at::Tensor y = top_head_labels(norm, 3);
  EXPECT_TRUE(at::equal(y.sum(-1), at::full({17}, 3.0f)));
  const at::Tensor third = std::get<0>(at::topk(norm, 3, -1)).select(-1, 2);
  EXPECT_TRUE(at::equal(y, (norm >= third.unsqueeze(-1)).to(at::kFloat)));
}

TEST(WeightedBce, PositivesWeighOneNegativesThePositiveRatePlusOffset) {
  const at::Tensor y = (at::rand({31, 67}) < 0.2).to(at::kFloat);
  const double rate = y.mean().item<double>();
  const at::Tensor w = bce_weights(y, 0.005);
  EXPECT_TRUE(at::allclose(w.masked_select(y > 0), at::ones({1})));
  EXPECT_NEAR(w.masked_select(y == 0).min().item<double>(), rate + 0.005, 1e-6);
  EXPECT_NEAR(w.masked_select(y == 0).max().item<double>(), rate + 0.005, 1e-6);

  // The loss is the reference's BCE on probabilities with those weights, averaged over elements.
  const at::Tensor z = at::randn({31, 67}).to(at::kDouble) * 2;
  const at::Tensor yd = y.to(at::kDouble);
  const at::Tensor prob = at::sigmoid(z);
  const double wn = rate + 0.005;
  const at::Tensor per = -(yd * at::log(prob) + (1 - yd) * wn * at::log(1 - prob));
  EXPECT_NEAR(weighted_bce_loss(z.to(at::kFloat), y, 0.005).item<double>(), per.mean().item<double>(), 1e-5);
  // trainer_att.py: no offset.
  EXPECT_NEAR(bce_weights(y, 0.0).masked_select(y == 0).max().item<double>(), rate, 1e-6);
}

TEST(PredictorInput, ResolvesLookaheadWithLayerZeroFallback) {
  EXPECT_EQ(resolve_input(PredictorInput::kMlpInput, 3), (InputSource{3, LayerField::kMlpInput}));
  EXPECT_EQ(resolve_input(PredictorInput::kAttnInput, 3), (InputSource{3, LayerField::kAttnInput}));
  EXPECT_EQ(resolve_input(PredictorInput::kPrevMlpInput, 3), (InputSource{2, LayerField::kMlpInput}));
  EXPECT_EQ(resolve_input(PredictorInput::kPrevAttnInput, 3), (InputSource{2, LayerField::kAttnInput}));
  EXPECT_EQ(resolve_input(PredictorInput::kPrevMlpInput, 0), (InputSource{0, LayerField::kAttnInput}));
  EXPECT_EQ(resolve_input(PredictorInput::kPrevAttnInput, 0), (InputSource{0, LayerField::kAttnInput}));
  for (const char* name : {"mlp_input", "attn_input", "prev_mlp_input", "prev_attn_input"}) {
    EXPECT_STREQ(predictor_input_name(parse_predictor_input(name, "test")), name);
  }
  EXPECT_THROW(parse_predictor_input("mlp", "test"), Error);

  MaskQuery q;
  q.layer = 2;
  q.attn_input = at::full({1, 1, 1}, 1.0f);
  q.prev_attn_input = at::full({1, 1, 1}, 2.0f);
  q.prev_mlp_input = at::full({1, 1, 1}, 3.0f);
  EXPECT_EQ(predictor_input_tensor(PredictorInput::kPrevAttnInput, q).item<float>(), 2.0f);
  EXPECT_EQ(predictor_input_tensor(PredictorInput::kPrevMlpInput, q).item<float>(), 3.0f);
  EXPECT_THROW(predictor_input_tensor(PredictorInput::kMlpInput, q), Error);  // a head query has no mlp_input
  q.layer = 0;
  EXPECT_EQ(predictor_input_tensor(PredictorInput::kPrevAttnInput, q).item<float>(), 1.0f);
}

// The top-k metrics against a direct count, and n_out filled by the accumulator itself: measure's
// kept_fraction (k / n_out) printed inf while only train set n_out.
TEST(MetricsAccumulator, TopkRecallMassAndOutputCount) {
  const int64_t rows = 29, n = 13;
  const at::Tensor logits = at::randn({rows, n});
  const at::Tensor mass = at::rand({rows, n});
  const at::Tensor labels = top_head_labels(mass, 3);
  MetricsAccumulator acc(n, {0.5});
  acc.add(logits, labels, mass, weighted_bce_loss(logits, labels, 0.0));
  PredictorMetrics m;
  acc.fill(&m);
  EXPECT_EQ(m.n_out, n);
  ASSERT_EQ(m.topk.size(), 1u);
  const int64_t k = m.topk[0].k;
  ASSERT_GT(k, 0);
  const at::Tensor kept = at::zeros({rows, n}).scatter_(1, std::get<1>(at::topk(logits, k, -1)), 1.0);
  const at::Tensor best = at::zeros({rows, n}).scatter_(1, std::get<1>(at::topk(mass, k, -1)), 1.0);
  EXPECT_NEAR(m.topk[0].recall, ((kept * labels).sum() / labels.sum()).item<double>(), 1e-6);
  EXPECT_NEAR(m.topk[0].mass_recall, ((kept * mass).sum() / mass.sum()).item<double>(), 1e-5);
  EXPECT_NEAR(m.topk[0].oracle_mass_recall, ((best * mass).sum() / mass.sum()).item<double>(), 1e-5);
}

}  // namespace
}  // namespace dv
