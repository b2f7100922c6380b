// test_prefill_engine.cpp: the one-pass prefill against the engine's own token-by-token decode and the
// reference model. Prefill log-probs and last-token logits equal T decode steps (dense, and sparse with fixed
// lists, which the decode step applies too); decoding after a prefill (dense or sparse) equals decoding every
// token; oracle prefill keeps exactly k units per token; and an oracle spec refuses decode steps. Shapes
// include odd token counts, post-LN with a projection, head_dim 80 and 128, and batch > 1.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/device_alloc.h"
#include "engine/cuda/gpu_weights.h"
#include "kernels/common/error.h"
#include "tests/cuda_engine/engine_test_util.h"

namespace dv::test {
namespace {

using engine::CudaEngine;
using engine::CudaEngineOptions;
using engine::PrefillOutputs;
using engine::SelectionSource;
using engine::StepMode;

struct PrefillCase {
  Shape shape;
  int batch, steps;
};
void PrintTo(const PrefillCase& c, std::ostream* os) { *os << c.shape.name() << "_b" << c.batch << "_t" << c.steps; }

class PrefillTest : public ::testing::TestWithParam<PrefillCase> {};

// log p(tokens[b][t + 1]) from step t's logits of a token-by-token run: [B][T - 1].
std::vector<std::vector<float>> decode_logprobs(const EngineRun& run, const std::vector<std::vector<int32_t>>& tokens,
                                                int vocab) {
  const int B = static_cast<int>(tokens.size()), T = static_cast<int>(tokens[0].size());
  std::vector<std::vector<float>> out(B);
  for (int b = 0; b < B; ++b)
    for (int t = 0; t + 1 < T; ++t) {
      const float* row = run.logits[t].data() + static_cast<size_t>(b) * vocab;
      double mx = -INFINITY, sum = 0;
      for (int i = 0; i < vocab; ++i) mx = std::max(mx, static_cast<double>(row[i]));
      for (int i = 0; i < vocab; ++i) sum += std::exp(row[i] - mx);
      out[b].push_back(static_cast<float>(row[tokens[b][t + 1]] - mx - std::log(sum)));
    }
  return out;
}

std::vector<float> flat(const std::vector<std::vector<float>>& v) {
  std::vector<float> out;
  for (const auto& r : v) out.insert(out.end(), r.begin(), r.end());
  return out;
}

std::vector<float> flat(const at::Tensor& t) {
  const at::Tensor c = t.contiguous().to(at::kFloat);
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

engine::SparseSpec fixed_spec(double mlp_density, double head_density, uint64_t seed) {
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = SelectionSource::kFixed;
  spec.mlp.density = mlp_density;
  spec.heads.density = head_density;
  spec.mlp.seed = seed;
  spec.heads.seed = seed + 1;
  return spec;
}

// The first n tokens of every row.
std::vector<std::vector<int32_t>> head_rows(const std::vector<std::vector<int32_t>>& tokens, int n) {
  std::vector<std::vector<int32_t>> out;
  for (const auto& r : tokens) out.emplace_back(r.begin(), r.begin() + n);
  return out;
}

// Decode steps for positions [from, T) after a prefill; each step's logits against want.logits[t].
void expect_decode_continues(CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens, int from,
                             StepMode mode, const EngineRun& want) {
  for (int t = from; t < static_cast<int>(tokens[0].size()); ++t) {
    std::vector<int32_t> ids;
    for (const auto& r : tokens) ids.push_back(r[t]);
    eng.step(ids, mode);
    EXPECT_LT(rel_error(eng.logits(), want.logits[t]), kFp16Tolerance) << "step " << t;
  }
}

// One case's weights (fp16-exact), tokens and an engine of the case's batch holding max_len positions.
struct CaseRig {
  OptWeights w;
  std::vector<std::vector<int32_t>> tokens;
  std::unique_ptr<CudaEngine> eng;
};
CaseRig make_rig(const PrefillCase& p, uint64_t seed, int max_len) {
  CaseRig s;
  s.w = random_half_exact_weights(make_config(p.shape), seed + p.shape.d);
  s.tokens = random_tokens(p.batch, p.steps, p.shape.vocab, seed + 1 + p.batch);
  CudaEngineOptions o;
  o.batch = p.batch;
  o.max_len = max_len;
  s.eng = std::make_unique<CudaEngine>(engine::upload_weights(s.w), o);
  return s;
}

PrefillOutputs prefill_logprobs(CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens, StepMode mode) {
  PrefillOutputs out;
  out.want_logprobs = true;
  out.record_masks = true;
  eng.prefill(tokens, mode, &out);
  return out;
}

TEST_P(PrefillTest, DenseEqualsDecodeAndReference) {
  DV_SKIP_WITHOUT_GPU();
  const PrefillCase& p = GetParam();
  CaseRig su = make_rig(p, 51, p.steps + 3);
  const auto& w = su.w;
  const auto& tokens = su.tokens;
  CudaEngine& eng = *su.eng;
  const EngineRun decode = run_engine(eng, tokens, [](int) { return StepMode::kDense; });
  const PrefillOutputs out = prefill_logprobs(eng, tokens, StepMode::kDense);
  EXPECT_EQ(eng.position(), p.steps);
  EXPECT_LT(rel_error(flat(out.logprobs), flat(decode_logprobs(decode, tokens, p.shape.vocab))), kFp16Tolerance);
  EXPECT_LT(rel_error(eng.logits(), decode.logits.back()), kFp16Tolerance) << "last-token logits";
  // And the reference, so that "equal" cannot mean "equally wrong".
  const at::Tensor ref = reference_logits(OptModel(w), tokens, {}, {});
  EXPECT_LT(step_rel_error(eng.logits(), ref, p.steps - 1), kFp16Tolerance);
  at::Tensor ids = at::empty({p.batch, p.steps}, at::kLong);
  for (int b = 0; b < p.batch; ++b)
    for (int t = 0; t < p.steps; ++t) ids[b][t] = tokens[b][t];
  const at::Tensor ref_lp = at::log_softmax(ref.slice(1, 0, p.steps - 1), -1)
                                .gather(-1, ids.slice(1, 1, p.steps).unsqueeze(-1))
                                .squeeze(-1);
  EXPECT_LT(rel_error(flat(out.logprobs), flat(ref_lp)), kFp16Tolerance) << "log-probs vs reference";
}

TEST_P(PrefillTest, DecodeAfterPrefillEqualsAllDecode) {
  DV_SKIP_WITHOUT_GPU();
  const PrefillCase& p = GetParam();
  CaseRig su = make_rig(p, 61, p.steps);
  const auto& tokens = su.tokens;
  CudaEngine& eng = *su.eng;
  const int prefix = p.steps / 2 + 1;
  eng.set_sparse(fixed_spec(0.3, 0.5, 63));
  for (const StepMode mode : {StepMode::kDense, StepMode::kSparse}) {
    SCOPED_TRACE(mode == StepMode::kDense ? "dense decode" : "sparse decode");
    // Reference run: the prefix dense one token at a time, then `mode`.
    const EngineRun all = run_engine(eng, tokens, [&](int t) { return t < prefix ? StepMode::kDense : mode; });
    eng.prefill(head_rows(tokens, prefix), StepMode::kDense);
    EXPECT_LT(rel_error(eng.logits(), all.logits[prefix - 1]), kFp16Tolerance) << "prefill's last logits";
    expect_decode_continues(eng, tokens, prefix, mode, all);
  }
}

// Fixed lists select the same units at every position: the sparse prefill must equal T sparse decode steps,
// and sparse decoding after a sparse prefill must continue as after sparse decode steps.
TEST_P(PrefillTest, SparseFixedEqualsSparseDecode) {
  DV_SKIP_WITHOUT_GPU();
  const PrefillCase& p = GetParam();
  CaseRig su = make_rig(p, 71, p.steps);
  const auto& tokens = su.tokens;
  CudaEngine& eng = *su.eng;
  eng.set_sparse(fixed_spec(0.25, 0.5, 73));
  const EngineRun decode = run_engine(eng, tokens, [](int) { return StepMode::kSparse; });
  const EngineRun dense = run_engine(eng, tokens, [](int) { return StepMode::kDense; });
  const PrefillOutputs out = prefill_logprobs(eng, tokens, StepMode::kSparse);
  const std::vector<float> want = flat(decode_logprobs(decode, tokens, p.shape.vocab));
  EXPECT_LT(rel_error(flat(out.logprobs), want), kFp16Tolerance);
  EXPECT_LT(rel_error(eng.logits(), decode.logits.back()), kFp16Tolerance);
  // The masks must matter: the sparse result is far from the dense one.
  EXPECT_GT(rel_error(eng.logits(), dense.logits.back()), 5 * kFp16Tolerance);
  // Every recorded mask keeps the list: k units per token.
  for (int l = 0; l < p.shape.layers; ++l) {
    ASSERT_TRUE(out.mlp_masks.at(l).defined());
    EXPECT_EQ(out.mlp_masks[l].sum().item<int64_t>(),
              static_cast<int64_t>(p.batch) * p.steps * engine::kept_count(0.25, p.shape.ffn));
  }
  // Sparse decode continuing a sparse prefill of the first half.
  const int prefix = p.steps / 2 + 1;
  eng.prefill(head_rows(tokens, prefix), StepMode::kSparse);
  expect_decode_continues(eng, tokens, prefix, StepMode::kSparse, decode);
}

TEST_P(PrefillTest, OracleKeepsKPerTokenAndRefusesDecode) {
  DV_SKIP_WITHOUT_GPU();
  const PrefillCase& p = GetParam();
  CaseRig su = make_rig(p, 81, p.steps + 1);
  const auto& tokens = su.tokens;
  CudaEngine& eng = *su.eng;
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = SelectionSource::kOracle;
  spec.mlp.density = 0.2;
  spec.heads.layer_density = {0.5};  // layer 0 at half the heads, later layers at spec.heads.density = 1
  spec.dense_layer = {false, true};  // layer 1 dense whatever the sources
  eng.set_sparse(spec);
  const PrefillOutputs out = prefill_logprobs(eng, tokens, StepMode::kSparse);
  const int64_t positions = static_cast<int64_t>(p.batch) * p.steps;
  for (int l = 0; l < p.shape.layers; ++l) {
    SCOPED_TRACE("layer " + std::to_string(l));
    if (l == 1) {
      EXPECT_FALSE(out.mlp_masks[l].defined());
      EXPECT_FALSE(out.head_masks[l].defined());
      continue;
    }
    const at::Tensor per_token = out.mlp_masks[l].sum(-1);
    EXPECT_TRUE(per_token.eq(engine::kept_count(0.2, p.shape.ffn)).all().item<bool>());
    if (l == 0) {
      EXPECT_EQ(out.head_masks[l].sum().item<int64_t>(), positions * engine::kept_count(0.5, p.shape.heads));
    }
  }
  EXPECT_THROW(eng.step(std::vector<int32_t>(p.batch, 1), StepMode::kSparse), Error);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, PrefillTest,
    ::testing::Values(PrefillCase{Shape{128, 2, 3, 520, 997, 0, true}, 1, 9},    // hd 64, odd vocab
                      PrefillCase{Shape{192, 3, 2, 776, 1001, 96, false}, 2, 13},  // post-LN + projection
                      PrefillCase{Shape{160, 2, 2, 648, 1000, 0, true}, 3, 7},    // hd 80, batch 3
                      PrefillCase{Shape{256, 2, 2, 1024, 512, 128, true}, 2, 33}));  // hd 128, projection

TEST(PrefillErrors, RejectsBadRows) {
  DV_SKIP_WITHOUT_GPU();
  const OptConfig c = make_config(Shape{});
  CudaEngineOptions o;
  o.batch = 2;
  o.max_len = 8;
  CudaEngine eng(engine::upload_weights(random_half_exact_weights(c, 5)), o);
  EXPECT_THROW(eng.prefill({{1, 2, 3}, {1, 2}}, StepMode::kDense), Error);            // ragged
  EXPECT_THROW(eng.prefill({std::vector<int32_t>(9, 1)}, StepMode::kDense), Error);   // past the cache
  EXPECT_THROW(eng.prefill({{1}, {2}, {3}}, StepMode::kDense), Error);                // more rows than the batch
  EXPECT_THROW(eng.prefill({{1, 99999}}, StepMode::kDense), Error);                   // token outside the vocab
  EXPECT_THROW(eng.prefill({{1, 2}}, StepMode::kSparse), Error);                      // sparse before set_sparse
  eng.prefill({{1, 2, 3}}, StepMode::kDense);  // one row of two: scoring is fine, decoding is not
  EXPECT_THROW(eng.step({4, 4}, StepMode::kDense), Error);
}

}  // namespace
}  // namespace dv::test

namespace dv::test {
namespace {

// More than any GPU holds: one dv::Error line naming the buffer, its shape, the batch and the bytes.
TEST(DeviceAlloc, OutOfMemoryIsOneLine) {
  DV_SKIP_WITHOUT_GPU();
  try {
    (void)engine::device_zeros({int64_t{1} << 40, 4}, at::kHalf, "test buffer", 7);
    ADD_FAILURE() << "an 8 TiB allocation succeeded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("CUDA out of memory: test buffer [1099511627776, 4] (batch 7)"), std::string::npos) << what;
    EXPECT_NE(what.find("GiB free of"), std::string::npos) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace dv::test
