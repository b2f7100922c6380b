// test_predictor_engine.cpp: the sparse engine driven by low-rank predictors on the side stream. After every
// step the selections the engine used are read back; then (1) the reference model run with exactly those
// per-token masks must give the engine's logits, and (2) each selection must be what the predictor asks for,
// recomputed in fp32 on the reference's own residual-stream snapshots: the top-k (or the threshold set) of
// max-over-batch logits, up to a slack of 1% of the score range for near-ties (the engine computes in fp16).
// Every input kind (attn_input, mlp_input, prev_attn_input, prev_mlp_input) is covered, since each puts the
// side-stream task at a different point of the step.
#include <algorithm>
#include <cmath>
#include <set>

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

// Checks one selection against scores [n] (fp32 reference). Returns "" or what is wrong.
std::string check_selection(const std::vector<int>& sel, const at::Tensor& scores, bool threshold, int k,
                            float probability) {
  const int n = static_cast<int>(scores.numel());
  const float* s = scores.data_ptr<float>();
  const float lo = *std::min_element(s, s + n), hi = *std::max_element(s, s + n);
  const float slack = 1e-2f * (hi - lo) + 1e-6f;
  std::set<int> chosen(sel.begin(), sel.end());
  if (chosen.size() != sel.size()) return "repeated index";
  if (!std::is_sorted(sel.begin(), sel.end())) return "not ascending";
  if (threshold) {
    const float thr = static_cast<float>(std::log(probability / (1.0 - probability)));
    for (int i = 0; i < n; ++i) {
      const bool in = chosen.count(i) > 0;
      if (in && s[i] < thr - slack) return fmt::format("index {} selected with score {} < threshold {}", i, s[i], thr);
      if (!in && s[i] >= thr + slack) return fmt::format("index {} missed with score {} >= threshold {}", i, s[i], thr);
    }
    return "";
  }
  if (static_cast<int>(sel.size()) != k) return fmt::format("{} selected, expected top-{}", sel.size(), k);
  float min_in = INFINITY, max_out = -INFINITY;
  for (int i = 0; i < n; ++i) {
    if (chosen.count(i)) min_in = std::min(min_in, s[i]);
    else max_out = std::max(max_out, s[i]);
  }
  if (min_in < max_out - slack) return fmt::format("not a top-{}: min selected {} < max unselected {}", k, min_in, max_out);
  return "";
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
  // The matrices the engine multiplies by: as given, or scale * q of their int8 rows.
  auto effective = [&](const at::Tensor& w) {
    return pc.int8 ? engine::dequantize_rows_int8(engine::quantize_rows_int8(w)) : w;
  };
  engine::CudaEngineOptions o;
  o.batch = B;
  o.max_len = T;
  engine::CudaEngine eng(engine::upload_weights(w), o);
  eng.set_sparse(spec);
  StepSelections heads(T, std::vector<std::vector<int>>(L)), mlp(T, std::vector<std::vector<int>>(L));
  const EngineRun run = run_engine(eng, tokens, [](int) { return StepMode::kSparse; }, {}, [&](int t) {
    for (int l = 0; l < L; ++l) {
      mlp[t][l] = eng.selection(true, l);
      heads[t][l] = eng.selection(false, l);
    }
  });

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
    const at::Tensor sm = std::get<0>(at::matmul(at::matmul(xm, effective(spec.mlp.predictors[l].w1).t()),
                                                 effective(spec.mlp.predictors[l].w2).t()).max(0));  // [T, ffn]
    const at::Tensor sh = std::get<0>(at::matmul(at::matmul(xh, effective(spec.heads.predictors[l].w1).t()),
                                                 effective(spec.heads.predictors[l].w2).t()).max(0));  // [T, H]
    for (int t = 0; t < T; ++t) {
      const std::string em = check_selection(mlp[t][l], sm[t].contiguous(), pc.mlp_threshold, k_mlp, 0.5f);
      const std::string eh = check_selection(heads[t][l], sh[t].contiguous(), false, k_heads, 0.5f);
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
                      true}),
    [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace dv::test
