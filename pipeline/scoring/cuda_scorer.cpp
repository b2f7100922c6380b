// cuda_scorer.cpp: windows through the engine's prefill under a plan (engine_spec.h), and the masked-reference
// check.
#include "pipeline/scoring/cuda_scorer.h"

#include <algorithm>
#include <cmath>

#include <c10/core/InferenceMode.h>

#include "engine/cuda/gpu_weights.h"
#include "pipeline/scoring/engine_spec.h"
#include "kernels/common/error.h"

namespace dv {

CudaScorer::CudaScorer(const OptWeights& weights, const PredictorSet* predictors, int64_t max_window, int batch) {
  DV_CHECK(engine::cuda_device_available(), "--engine cuda: no CUDA GPU is visible on this machine");
  DV_CHECK(max_window >= 2 && max_window <= weights.config.max_position_embeddings,
           "--seq-len {} outside [2, {}] (max_position_embeddings)", max_window,
           weights.config.max_position_embeddings);
  engine::CudaEngineOptions o;
  o.batch = batch;
  o.max_len = static_cast<int>(max_window);
  engine_ = std::make_unique<engine::CudaEngine>(engine::upload_weights(weights), o);
  if (predictors != nullptr) predictors_ = predictor_spec(*predictors);
}

void CudaScorer::set_plan(const ScoringPlan& plan) {
  engine_->reset();
  stats_ = SelectionStats{};
  const engine::SparseSpec spec = engine_spec(plan, predictors_ ? &*predictors_ : nullptr);
  sparse_ = spec.mlp.source != engine::SelectionSource::kDense || spec.heads.source != engine::SelectionSource::kDense;
  if (sparse_)
    engine_->set_sparse(spec);
  else
    engine_->clear_sparse();
}

WindowScores CudaScorer::score(const std::vector<std::vector<int32_t>>& windows, const ScoreOptions& options) {
  c10::InferenceMode inference_mode;
  const bool with_next = !options.next.empty();
  WindowScores out = sized_scores(windows, options);
  size_t i = 0;
  while (i < windows.size()) {
    // Up to `batch` windows per prefill: of one length, or with pad of any, right-padded to the longest.
    const size_t j = next_run(windows, i, static_cast<size_t>(engine_->batch()), options);
    size_t T = 0;
    for (size_t w = i; w < j; ++w) T = std::max(T, windows[w].size());
    if (T < (with_next ? 1u : 2u)) {
      i = j;
      continue;
    }
    std::vector<std::vector<int32_t>> rows(windows.begin() + i, windows.begin() + j);
    last_ = engine::PrefillOutputs{};
    if (with_next) last_.next.assign(options.next.begin() + static_cast<std::ptrdiff_t>(i),
                                     options.next.begin() + static_cast<std::ptrdiff_t>(j));
    for (auto& r : rows) {
      last_.lengths.push_back(static_cast<int>(r.size()));
      r.resize(T, 1);  // right padding (OPT's pad id); causal attention keeps it from every real position
    }
    const bool padded =
        std::any_of(last_.lengths.begin(), last_.lengths.end(), [&](int n) { return n < static_cast<int>(T); });
    if (!padded) last_.lengths.clear();  // every token counts
    last_.want_logprobs = true;
    last_.want_greedy = options.greedy;
    last_.want_stats = sparse_;
    last_.record_masks = recording_ && sparse_;
    engine_->prefill(rows, sparse_ ? engine::StepMode::kSparse : engine::StepMode::kDense, &last_);
    const int64_t T1 = last_.logprobs.size(1);
    for (size_t w = i; w < j; ++w) {
      const int64_t n = static_cast<int64_t>(windows[w].size()) - (with_next ? 0 : 1);
      if (n <= 0) continue;
      const float* row = last_.logprobs.data_ptr<float>() + static_cast<int64_t>(w - i) * T1;
      out.logprobs[w].assign(row, row + n);
      if (options.greedy) {
        const uint8_t* g = last_.greedy.data_ptr<uint8_t>() + static_cast<int64_t>(w - i) * T1;
        out.greedy[w].assign(g, g + n);
      }
    }
    const engine::SelectionStats& s = last_.stats;
    stats_.mlp_active += s.mlp_active;
    stats_.mlp_active_kept += s.mlp_active_kept;
    stats_.mlp_mass += s.mlp_mass;
    stats_.mlp_mass_kept += s.mlp_mass_kept;
    stats_.head_mass += s.head_mass;
    stats_.head_mass_kept += s.head_mass_kept;
    i = j;
  }
  return out;
}

std::unique_ptr<CudaScorer> make_cuda_scorer(const OptModel& model, const ScorerRequest& r) {
  const int64_t window = r.max_window > 0 ? r.max_window : std::min<int64_t>(model.config().max_position_embeddings, 2048);
  if (r.predictors.empty()) return std::make_unique<CudaScorer>(model.weights(), nullptr, window, static_cast<int>(r.batch));
  const PredictorSet set = load_predictors(r.predictors, model.config());
  for (int64_t l = 0; l < model.config().num_hidden_layers; ++l)
    DV_CHECK(set.has_layer(l), "{}: no predictor for layer {} (train every layer to evaluate predicted sparsity)",
             r.predictors, l);
  return std::make_unique<CudaScorer>(model.weights(), &set, window, static_cast<int>(r.batch));
}

nlohmann::json compare_with_reference(CudaScorer& scorer, const OptModel& reference, const std::vector<int32_t>& ids,
                                      int64_t seq_len) {
  c10::InferenceMode inference_mode;
  scorer.set_recording(true);
  double nll_gpu = 0, nll_ref = 0;
  int64_t n = 0, windows = 0;
  const int64_t total = static_cast<int64_t>(ids.size());
  for (int64_t start = 0; start + 1 < total; start += seq_len) {
    const int64_t end = std::min(total, start + seq_len), T = end - start;
    const std::vector<int32_t> window(ids.begin() + start, ids.begin() + end);
    // Kept by name: a range-for over logprobs(...)[0] would read a temporary destroyed before the loop.
    const std::vector<std::vector<float>> lp = scorer.logprobs({window});
    for (const float v : lp[0]) nll_gpu -= v;
    const engine::PrefillOutputs& rec = scorer.last_prefill();
    ForwardHooks hooks;
    auto mask_of = [](const std::vector<at::Tensor>& masks, const MaskQuery& q) {
      const bool kept = q.layer < static_cast<int>(masks.size()) && masks[q.layer].defined();
      return kept ? masks[q.layer].to(q.dense_scores.device()) : at::Tensor();  // undefined: the layer ran dense
    };
    hooks.head_mask = [&](const MaskQuery& q) { return mask_of(rec.head_masks, q); };
    hooks.mlp_mask = [&](const MaskQuery& q) { return mask_of(rec.mlp_masks, q); };
    at::Tensor x = at::empty({1, T}, at::kLong);
    for (int64_t t = 0; t < T; ++t) x.data_ptr<int64_t>()[t] = window[t];
    nll_ref += window_nll_sum(reference.forward(x, nullptr, &hooks), x);
    n += T - 1;
    ++windows;
  }
  scorer.set_recording(false);
  const double tokens = static_cast<double>(std::max<int64_t>(n, 1));
  const double ppl_gpu = std::exp(nll_gpu / tokens), ppl_ref = std::exp(nll_ref / tokens);
  return {{"perplexity", ppl_gpu},
          {"tokens", n},
          {"windows", windows},
          {"reference_perplexity", ppl_ref},
          {"reference", "the reference model masked with the engine's selections"},
          {"relative_difference", std::abs(ppl_gpu - ppl_ref) / ppl_ref},
          {"mean_abs_nll_difference_per_token", std::abs(nll_gpu - nll_ref) / tokens}};
}

}  // namespace dv
