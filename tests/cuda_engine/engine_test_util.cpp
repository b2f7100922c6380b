// engine_test_util.cpp: see engine_test_util.h.
#include "tests/cuda_engine/engine_test_util.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/format.h>

namespace dv::test {

std::string Shape::name() const {
  return fmt::format("d{}_h{}_l{}_f{}_v{}_e{}_{}", d, heads, layers, ffn, vocab, embed > 0 ? embed : d,
                     pre_ln ? "preln" : "postln");
}

OptConfig make_config(const Shape& s) {
  OptConfig c;
  c.name = "test-" + s.name();
  c.vocab_size = s.vocab;
  c.hidden_size = s.d;
  c.ffn_dim = s.ffn;
  c.num_hidden_layers = s.layers;
  c.num_attention_heads = s.heads;
  c.word_embed_proj_dim = s.embed > 0 ? s.embed : s.d;
  c.max_position_embeddings = 64;
  c.do_layer_norm_before = s.pre_ln;
  c.validate(c.name);
  return c;
}

OptWeights random_half_exact_weights(const OptConfig& c, uint64_t seed, double scale) {
  OptWeights w = random_opt_weights(c, at::kFloat, at::Device(at::kCPU), seed);
  auto r = [](at::Tensor& t) {
    if (t.defined()) t = t.to(at::kHalf).to(at::kFloat);
  };
  auto rs = [&](at::Tensor& t) {
    t = t * scale;
    r(t);
  };
  r(w.embed_tokens);
  r(w.embed_positions);
  r(w.project_in);
  r(w.project_out);
  r(w.final_ln_w);
  r(w.final_ln_b);
  w.lm_head = w.embed_tokens;
  for (auto& L : w.layers) {
    for (at::Tensor* t : {&L.q_w, &L.k_w, &L.v_w, &L.out_w, &L.fc1_w, &L.fc2_w}) rs(*t);
    for (at::Tensor* t : {&L.q_b, &L.k_b, &L.v_b, &L.out_b, &L.fc1_b, &L.fc2_b, &L.attn_ln_w, &L.attn_ln_b,
                          &L.mlp_ln_w, &L.mlp_ln_b})
      r(*t);
  }
  return w;
}

std::vector<std::vector<int32_t>> random_tokens(int batch, int steps, int vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> dist(0, vocab - 1);
  std::vector<std::vector<int32_t>> t(batch, std::vector<int32_t>(steps));
  for (auto& row : t)
    for (auto& x : row) x = dist(rng);
  return t;
}

namespace {

// [B, T, n] {0,1} mask from selections [T][L][k] at `layer`, or undefined when dense.
at::Tensor mask_for(const StepSelections& sel, int layer, int64_t B, int64_t T, int64_t n) {
  if (sel.empty()) return {};
  at::Tensor m = at::zeros({B, T, n}, at::kFloat);
  for (int64_t t = 0; t < T; ++t)
    for (int i : sel[t][layer]) m.select(1, t).select(1, i).fill_(1.0);
  return m;
}

}  // namespace

at::Tensor reference_logits(const OptModel& model, const std::vector<std::vector<int32_t>>& tokens,
                            const StepSelections& heads, const StepSelections& mlp,
                            const std::function<void(const LayerActivations&)>& on_layer) {
  const int64_t B = static_cast<int64_t>(tokens.size()), T = static_cast<int64_t>(tokens[0].size());
  at::Tensor ids = at::empty({B, T}, at::kLong);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < T; ++t) ids[b][t] = static_cast<int64_t>(tokens[b][t]);
  const OptConfig& c = model.config();
  ForwardHooks hooks;
  hooks.head_mask = [&](const MaskQuery& q) { return mask_for(heads, q.layer, B, T, c.num_attention_heads); };
  hooks.mlp_mask = [&](const MaskQuery& q) { return mask_for(mlp, q.layer, B, T, c.ffn_dim); };
  if (on_layer) hooks.on_layer = on_layer;
  return model.forward(ids, nullptr, &hooks);
}

EngineRun run_engine(engine::CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens,
                     const std::function<engine::StepMode(int)>& mode, const std::function<void(int)>& before_step,
                     const std::function<void(int)>& after_step) {
  const int B = static_cast<int>(tokens.size()), T = static_cast<int>(tokens[0].size());
  EngineRun run;
  eng.reset();
  for (int t = 0; t < T; ++t) {
    if (before_step) before_step(t);
    std::vector<int32_t> ids(B);
    for (int b = 0; b < B; ++b) ids[b] = tokens[b][t];
    eng.step(ids, mode(t));
    run.logits.push_back(eng.logits());
    if (after_step) after_step(t);
  }
  return run;
}

FixedSparseCase fixed_sparse_case(const Shape& shape, int steps, double mlp_density, int k_heads, int dense_layer,
                                  uint64_t seed) {
  const int L = shape.layers, k_mlp = engine::kept_count(mlp_density, shape.ffn);
  const uint64_t base = seed * 1000003;
  FixedSparseCase c;
  c.dense_layer = dense_layer;
  c.heads.assign(steps, std::vector<std::vector<int>>(L));
  c.mlp.assign(steps, std::vector<std::vector<int>>(L));
  for (int t = 0; t < steps; ++t)
    for (int l = 0; l < L; ++l) {
      const bool dense = l == dense_layer;
      c.mlp[t][l] = dense ? random_subset(shape.ffn, shape.ffn, 0) : random_subset(shape.ffn, k_mlp, base + 7919 * t + l);
      c.heads[t][l] = dense ? random_subset(shape.heads, shape.heads, 0)
                            : random_subset(shape.heads, k_heads, base + 104729 * t + 31 * l + 1);
    }
  c.spec.mlp.source = c.spec.heads.source = engine::SelectionSource::kFixed;
  c.spec.mlp.density = mlp_density;
  c.spec.heads.density = static_cast<double>(k_heads) / shape.heads;
  c.spec.dense_layer.assign(L, false);
  if (dense_layer >= 0 && dense_layer < L) c.spec.dense_layer[dense_layer] = true;
  return c;
}

EngineRun run_fixed_sparse(engine::CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens,
                           const FixedSparseCase& c) {
  eng.set_sparse(c.spec);
  const int L = static_cast<int>(c.spec.dense_layer.size());
  return run_engine(eng, tokens, [](int) { return engine::StepMode::kSparse; }, [&](int t) {
    for (int l = 0; l < L; ++l) {
      if (l == c.dense_layer) continue;
      eng.set_fixed_selection(true, l, c.mlp[t][l]);
      eng.set_fixed_selection(false, l, c.heads[t][l]);
    }
  });
}

double rel_error(const std::vector<float>& got, const std::vector<float>& ref) {
  if (got.size() != ref.size()) return NAN;
  double num = 0, den = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(got[i])) return NAN;
    const double diff = static_cast<double>(got[i]) - ref[i];
    num += diff * diff;
    den += static_cast<double>(ref[i]) * ref[i];
  }
  return std::sqrt(num / std::max(den, 1e-30));
}

double step_rel_error(const std::vector<float>& got, const at::Tensor& ref, int t) {
  at::Tensor r = ref.select(1, t).contiguous().to(at::kFloat);  // [B, V]
  std::vector<float> rv(r.data_ptr<float>(), r.data_ptr<float>() + r.numel());
  return rel_error(got, rv);
}

double max_rel_error(const EngineRun& run, const at::Tensor& ref, std::string* detail) {
  double worst = 0;
  for (size_t t = 0; t < run.logits.size(); ++t) {
    const double e = step_rel_error(run.logits[t], ref, static_cast<int>(t));
    if (detail != nullptr) *detail += fmt::format(" t{}:{:.2e}", t, e);
    if (std::isnan(e) || std::isnan(worst)) {
      worst = NAN;  // a non-finite logit fails whatever came before
    } else {
      worst = std::max(worst, e);
    }
  }
  return worst;
}

std::vector<engine::LowRankWeights> random_predictors(int layers, int d, int rank, int n, uint64_t seed) {
  std::vector<engine::LowRankWeights> p(layers);
  for (int l = 0; l < layers; ++l) {
    at::manual_seed(seed + l);
    p[l].w1 = at::randn({rank, d}) / std::sqrt(static_cast<double>(d));
    p[l].w2 = at::randn({n, rank}) / std::sqrt(static_cast<double>(rank));
  }
  return p;
}

engine::SparseSpec random_predictor_spec(const Shape& shape, double mlp_density, double head_density, int mlp_rank,
                                         int head_rank, uint64_t mlp_seed, uint64_t head_seed) {
  engine::SparseSpec spec;
  spec.mlp.source = spec.heads.source = engine::SelectionSource::kPredictor;
  spec.mlp.density = mlp_density;
  spec.heads.density = head_density;
  spec.mlp.predictors = random_predictors(shape.layers, shape.d, mlp_rank, shape.ffn, mlp_seed);
  spec.heads.predictors = random_predictors(shape.layers, shape.d, head_rank, shape.heads, head_seed);
  return spec;
}

EngineRun run_recording_selections(engine::CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens,
                                   const std::function<engine::StepMode(int)>& mode, StepSelections* mlp,
                                   StepSelections* heads) {
  const int T = static_cast<int>(tokens.front().size()), L = static_cast<int>(eng.config().num_hidden_layers);
  mlp->assign(T, std::vector<std::vector<int>>(L));
  heads->assign(T, std::vector<std::vector<int>>(L));
  return run_engine(eng, tokens, mode, {}, [&](int t) {
    for (int l = 0; l < L; ++l) {
      (*mlp)[t][l] = eng.selection(true, l);
      (*heads)[t][l] = eng.selection(false, l);
    }
  });
}

}  // namespace dv::test
