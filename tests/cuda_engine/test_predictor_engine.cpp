// test_predictor_engine.cpp: the sparse engine driven by low-rank predictors on the side stream. After every
// step the selections the engine used are read back; then (1) the reference model run with exactly those
// per-token masks must give the engine's logits, and (2) each selection must be what the predictor asks for,
// recomputed in fp32 on the reference's own residual-stream snapshots: the union of every batch row's own top-k
// (per-row union), the top-k of max-over-batch logits (max union), or the threshold set, up to a slack of 1% of
// the score range for near-ties (the engine computes in fp16). Past the crossover the selection is every
// neuron, and the step's logits are the dense step's.
// Every input kind (attn_input, mlp_input, prev_attn_input, prev_mlp_input) is covered, since each puts the
// side-stream task at a different point of the step.
#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/models/int8_rows.h"
#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::PredictorInputKind;
using engine::StepMode;

struct PredictorCase {
  PredictorInputKind mlp_input, head_input;
  int batch = 2;
  bool mlp_threshold = false;
  std::string name;
  bool int8 = false;  // int8 predictor weights: the selections are checked against the dequantized weights
  kernels::BatchUnion batch_union = kernels::BatchUnion::kPerRow;
};

void PrintTo(const PredictorCase& c, std::ostream* os) { *os << c.name; }

std::vector<engine::LowRankWeights> make_predictors(int layers, int d, int rank, int n, uint64_t seed) {
  std::vector<engine::LowRankWeights> p(layers);
  for (int l = 0; l < layers; ++l) {
    at::manual_seed(seed + l);
    p[l].w1 = (at::randn({rank, d}) / std::sqrt(static_cast<double>(d))).to(at::kHalf).to(at::kFloat);
    p[l].w2 = (at::randn({n, rank}) / std::sqrt(static_cast<double>(rank))).to(at::kHalf).to(at::kFloat);
  }
  return p;
}

at::Tensor snapshot(PredictorInputKind kind, int l, const std::vector<at::Tensor>& attn_in,
                    const std::vector<at::Tensor>& mlp_in) {
  switch (kind) {
    case PredictorInputKind::kAttnInput: return attn_in[l];
    case PredictorInputKind::kMlpInput: return mlp_in[l];
    case PredictorInputKind::kPrevAttnInput: return l > 0 ? attn_in[l - 1] : attn_in[0];
    case PredictorInputKind::kPrevMlpInput: return l > 0 ? mlp_in[l - 1] : attn_in[0];
  }
  return {};
}

// Checks one selection against the rows' scores (each [n], fp32 reference): threshold set of row 0 (the max
// over rows), or the union of every row's top-k. Returns "" or what is wrong.
std::string check_selection(const std::vector<int>& sel, const std::vector<at::Tensor>& rows, bool threshold, int k,
                            float probability) {
  const int n = static_cast<int>(rows[0].numel());
  std::set<int> chosen(sel.begin(), sel.end());
  if (chosen.size() != sel.size()) return "repeated index";
  if (!std::is_sorted(sel.begin(), sel.end())) return "not ascending";
  // Per row: the selection bound (threshold, or the k-th largest score) and a slack of 1% of the score range.
  std::vector<float> bound, slack;
  for (const at::Tensor& r : rows) {
    const float* s = r.data_ptr<float>();
    const float lo = *std::min_element(s, s + n), hi = *std::max_element(s, s + n);
    slack.push_back(1e-2f * (hi - lo) + 1e-6f);
    if (threshold) {
      bound.push_back(static_cast<float>(std::log(probability / (1.0 - probability))));
    } else {
      std::vector<float> v(s, s + n);
      std::nth_element(v.begin(), v.begin() + (k - 1), v.end(), std::greater<float>());
      bound.push_back(v[static_cast<size_t>(k - 1)]);
    }
  }
  for (int i = 0; i < n; ++i) {
    bool may = false, must = false;  // within slack of some row's bound; clearly past it
    for (size_t b = 0; b < rows.size(); ++b) {
      const float v = rows[b].data_ptr<float>()[i];
      may = may || v >= bound[b] - slack[b];
      must = must || (threshold ? v >= bound[b] + slack[b] : v > bound[b] + slack[b]);
    }
    const bool in = chosen.count(i) > 0;
    if (in && !may) return fmt::format("index {} selected, below every row's bound", i);
    if (!in && must) return fmt::format("index {} missed, above a row's bound", i);
  }
  if (!threshold && rows.size() == 1 && static_cast<int>(sel.size()) != k)
    return fmt::format("{} selected, expected top-{}", sel.size(), k);
  return "";
}

// Row scores for the check: each batch row's [T, n] logits (per-row union) or their max over rows.
std::vector<at::Tensor> step_rows(const at::Tensor& logits, int t, bool per_row) {  // logits [B, T, n]
  if (!per_row) return {std::get<0>(logits.max(0))[t].contiguous()};
  std::vector<at::Tensor> rows;
  for (int64_t b = 0; b < logits.size(0); ++b) rows.push_back(logits[b][t].contiguous());
  return rows;
}

// The engine's LibTorch quantizer and the kernels' C++ reference give the same int8 rows and scales, bit for
// bit (host only; includes an all-zero row).
TEST(Int8Rows, LibTorchQuantizerMatchesKernelReference) {
  at::manual_seed(7);
  at::Tensor w = at::randn({45, 77}) * 0.3;
  w[3].zero_();
  const engine::Int8Rows got = engine::quantize_rows_int8(w);
  std::vector<int8_t> q(static_cast<size_t>(w.numel()));
  std::vector<float> scale(static_cast<size_t>(w.size(0)));
  kernels::quantize_rows_int8_ref(w.contiguous().data_ptr<float>(), 45, 77, q.data(), scale.data());
  ASSERT_EQ(got.q.scalar_type(), at::kChar);
  for (int64_t i = 0; i < 45; ++i) {
    EXPECT_EQ(got.scale[i].item<float>(), scale[static_cast<size_t>(i)]) << "row " << i;
    for (int64_t j = 0; j < 77; ++j)
      ASSERT_EQ(got.q[i][j].item<int8_t>(), q[static_cast<size_t>(i * 77 + j)]) << i << "," << j;
  }
  const at::Tensor back = engine::dequantize_rows_int8(got);
  EXPECT_LE((back - w).abs().max().item<float>(), 0.5f * got.scale.max().item<float>() * 1.0001f);
}

class PredictorEngineTest : public ::testing::TestWithParam<PredictorCase> {};

TEST_P(PredictorEngineTest, SelectionsAreThePredictorsAndLogitsMatchMaskedReference) {
  DV_SKIP_WITHOUT_GPU();
  const PredictorCase& pc = GetParam();
  const Shape shape{256, 4, 3, 1032, 997, 0, true};
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 61);
  const OptModel model(w);
  const int B = pc.batch, T = 10, L = shape.layers;
  const auto tokens = random_tokens(B, T, shape.vocab, 62 + B);

  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = engine::SelectionSource::kPredictor;
  spec.mlp.input = pc.mlp_input;
  spec.heads.input = pc.head_input;
  spec.mlp.density = 0.15;
  spec.heads.density = 0.5;
  spec.mlp.threshold = pc.mlp_threshold;
  spec.mlp.probability = 0.5f;
  spec.mlp.predictors = make_predictors(L, shape.d, 64, shape.ffn, 100);
  spec.heads.predictors = make_predictors(L, shape.d, 32, shape.heads, 200);
  spec.mlp.int8_weights = spec.heads.int8_weights = pc.int8;
  spec.mlp.batch_union = spec.heads.batch_union = pc.batch_union;
  // The matrices the engine multiplies by: as given, or scale * q of their int8 rows.
  auto effective = [&](const at::Tensor& w) {
    return pc.int8 ? engine::dequantize_rows_int8(engine::quantize_rows_int8(w)) : w;
  };
  engine::CudaEngineOptions o;
  o.batch = B;
  o.max_len = T;
  engine::CudaEngine eng(engine::upload_weights(w), o);
  eng.set_sparse(spec);
  StepSelections heads, mlp;
  const EngineRun run = run_recording_selections(eng, tokens, [](int) { return StepMode::kSparse; }, &mlp, &heads);

  std::vector<at::Tensor> attn_in(L), mlp_in(L);
  const at::Tensor ref = reference_logits(model, tokens, heads, mlp, [&](const LayerActivations& a) {
    attn_in[a.layer] = a.attn_input;
    mlp_in[a.layer] = a.mlp_input;
  });
  std::string detail;
  EXPECT_LT(max_rel_error(run, ref, &detail), kFp16Tolerance) << pc.name << " per step:" << detail;

  const int k_mlp = engine::kept_count(spec.mlp.density, shape.ffn), k_heads = engine::kept_count(0.5, shape.heads);
  for (int l = 0; l < L; ++l) {
    const at::Tensor xm = snapshot(pc.mlp_input, l, attn_in, mlp_in);   // [B, T, d]
    const at::Tensor xh = snapshot(pc.head_input, l, attn_in, mlp_in);
    const at::Tensor sm = at::matmul(at::matmul(xm, effective(spec.mlp.predictors[l].w1).t()),
                                     effective(spec.mlp.predictors[l].w2).t());  // [B, T, ffn]
    const at::Tensor sh = at::matmul(at::matmul(xh, effective(spec.heads.predictors[l].w1).t()),
                                     effective(spec.heads.predictors[l].w2).t());  // [B, T, H]
    const bool per_row = pc.batch_union == kernels::BatchUnion::kPerRow;
    for (int t = 0; t < T; ++t) {
      const std::string em =
          check_selection(mlp[t][l], step_rows(sm, t, per_row && !pc.mlp_threshold), pc.mlp_threshold, k_mlp, 0.5f);
      const std::string eh = check_selection(heads[t][l], step_rows(sh, t, per_row), false, k_heads, 0.5f);
      EXPECT_EQ(em, "") << pc.name << " MLP layer " << l << " step " << t;
      EXPECT_EQ(eh, "") << pc.name << " heads layer " << l << " step " << t;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(
    InputKinds, PredictorEngineTest,
    ::testing::Values(
        PredictorCase{PredictorInputKind::kAttnInput, PredictorInputKind::kPrevAttnInput, 2, false, "lookahead"},
        PredictorCase{PredictorInputKind::kMlpInput, PredictorInputKind::kAttnInput, 2, false, "same_block"},
        PredictorCase{PredictorInputKind::kPrevMlpInput, PredictorInputKind::kPrevMlpInput, 3, false, "prev_mlp"},
        PredictorCase{PredictorInputKind::kAttnInput, PredictorInputKind::kPrevAttnInput, 1, true, "threshold"},
        PredictorCase{PredictorInputKind::kAttnInput, PredictorInputKind::kPrevAttnInput, 2, false, "lookahead_int8",
                      true},
        PredictorCase{PredictorInputKind::kAttnInput, PredictorInputKind::kPrevAttnInput, 1, true, "threshold_int8",
                      true},
        PredictorCase{PredictorInputKind::kAttnInput, PredictorInputKind::kPrevAttnInput, 3, false, "max_union", false,
                      kernels::BatchUnion::kMaxLogit},
        PredictorCase{PredictorInputKind::kAttnInput, PredictorInputKind::kPrevAttnInput, 5, false, "per_row_b5"},
        PredictorCase{PredictorInputKind::kAttnInput, PredictorInputKind::kPrevAttnInput, 4, true, "threshold_b4"}),
    [](const auto& info) { return info.param.name; });

// A predicted selection past the crossover is every neuron: with heads dense and the MLP crossover below
// any top-k, the sparse step must select all n neurons in every layer and give the dense step's logits.
TEST(PredictorEngineCrossover, PastTheCrossoverTheLayerRunsDense) {
  DV_SKIP_WITHOUT_GPU();
  const Shape shape{256, 4, 3, 1032, 997, 0, true};
  const OptConfig c = make_config(shape);
  const OptWeights w = random_half_exact_weights(c, 71);
  const int B = 4, T = 6, L = shape.layers;
  const auto tokens = random_tokens(B, T, shape.vocab, 72);
  engine::CudaEngineOptions o;
  o.batch = B;
  o.max_len = T;
  engine::CudaEngine dense(engine::upload_weights(w), o);
  const EngineRun want = run_engine(dense, tokens, [](int) { return StepMode::kDense; });

  engine::SparseSpec spec;
  spec.mlp.source = engine::SelectionSource::kPredictor;
  spec.mlp.input = PredictorInputKind::kAttnInput;
  spec.mlp.density = 0.1;
  spec.mlp.predictors = make_predictors(L, shape.d, 64, shape.ffn, 300);
  spec.mlp.dense_crossover = 0.05;  // any union of 4 rows' top-10% (>= 104 of 1032) passes 51
  engine::CudaEngine eng(engine::upload_weights(w), o);
  eng.set_sparse(spec);
  std::vector<std::string> wrong;
  const EngineRun run = run_engine(eng, tokens, [](int) { return StepMode::kSparse; }, {}, [&](int t) {
    for (int l = 0; l < L; ++l) {
      const std::vector<int> sel = eng.selection(true, l);
      bool all = static_cast<int>(sel.size()) == shape.ffn;
      for (size_t i = 0; all && i < sel.size(); ++i) all = sel[i] == static_cast<int>(i);
      if (!all) wrong.push_back(fmt::format("step {} layer {}: {} indices", t, l, sel.size()));
    }
  });
  EXPECT_TRUE(wrong.empty()) << wrong.front();
  for (int t = 0; t < T; ++t) EXPECT_LT(rel_error(run.logits[t], want.logits[t]), kFp16Tolerance) << "step " << t;
}

}  // namespace
}  // namespace dv::test
