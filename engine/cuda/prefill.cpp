// prefill.cpp: the one-pass prefill (see prefill.h). Activations are LibTorch tensors from the caching
// allocator on the engine's main stream, sized for this call (rows * T tokens) and freed as the pass moves on.
#include "engine/cuda/prefill.h"

#include <algorithm>
#include <cmath>

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "engine/cuda/cublas_ops.h"
#include "engine/cuda/device_alloc.h"
#include "engine/cuda/engine_kernels.cuh"
#include "engine/cuda/model_dims.h"
#include "engine/cuda/model_ends.h"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/causal_softmax/causal_softmax.cuh"
#include "kernels/common/cuda_check.h"
#include "kernels/elementwise/elementwise.cuh"
#include "kernels/layer_norm/layer_norm.cuh"

namespace dv::engine {
namespace {

class PrefillRunner {
 public:
  PrefillRunner(const EngineContext& ctx, const GpuWeights& w, DecodeBuffers& b, const SparseState* sp,
                const std::vector<std::vector<int32_t>>& rows, PrefillOutputs* out)
      : ctx_(ctx), w_(w), b_(b), sp_(sp), c_(w.config), m_(model_dims(w)), s_(ctx.main()), tokens_(rows), out_(out) {
    rows_ = static_cast<int>(rows.size());
    T_ = static_cast<int>(rows[0].size());
    R_ = rows_ * T_;
  }

  void run() {
    // LibTorch's ops and allocations go to the engine's main stream, in order with our kernels and cuBLAS.
    c10::cuda::CUDAStreamGuard guard(c10::cuda::getStreamFromExternal(s_, static_cast<c10::DeviceIndex>(ctx_.device())));
    if (out_ != nullptr && out_->record_masks) {
      out_->mlp_masks.assign(m_.layers, at::Tensor());
      out_->head_masks.assign(m_.layers, at::Tensor());
    }
    if (out_ != nullptr && out_->want_stats) stats_ = at::zeros({6}, cuda_options(at::kDouble));
    if (out_ != nullptr && !out_->lengths.empty()) counted_ = counted_rows(out_->lengths);
    const bool pre = c_.do_layer_norm_before;
    at::Tensor x = embed();
    at::Tensor h = pre ? norm(x, {}, nullptr, nullptr, w_.layers[0].attn_ln_w, w_.layers[0].attn_ln_b) : x;
    for (int l = 0; l < m_.layers; ++l) {
      const GpuLayerWeights& lw = w_.layers[l];
      attn_in_ = x;
      const at::Tensor o = attention(l, pre ? h : x);
      mlp_in_ = act({R_, m_.d}, "prefill residual");
      if (pre) {
        h = norm(o, attn_in_, half_ptr(lw.out_b), &mlp_in_, lw.mlp_ln_w, lw.mlp_ln_b);
      } else {
        layer_norm_into(mlp_in_, o, attn_in_, half_ptr(lw.out_b), nullptr, lw.attn_ln_w, lw.attn_ln_b);
      }
      const at::Tensor m = mlp(l, pre ? h : mlp_in_);
      at::Tensor next = act({R_, m_.d}, "prefill residual");
      if (!pre) {
        layer_norm_into(next, m, mlp_in_, half_ptr(lw.fc2_b), nullptr, lw.mlp_ln_w, lw.mlp_ln_b);
      } else if (l + 1 < m_.layers) {
        h = norm(m, mlp_in_, half_ptr(lw.fc2_b), &next, w_.layers[l + 1].attn_ln_w, w_.layers[l + 1].attn_ln_b);
      } else if (w_.final_ln_w.defined()) {
        h = norm(m, mlp_in_, half_ptr(lw.fc2_b), &next, w_.final_ln_w, w_.final_ln_b);
      } else {
        BiasResidualArgs a;
        a.out = half_ptr(next);
        a.x = half_ptr(m);
        a.residual = half_ptr(mlp_in_);
        a.bias = half_ptr(lw.fc2_b);
        a.rows = R_;
        a.n = m_.d;
        launch_bias_residual(a, s_);
      }
      prev_attn_in_ = attn_in_;
      prev_mlp_in_ = mlp_in_;
      x = next;
    }
    attn_in_ = mlp_in_ = prev_attn_in_ = prev_mlp_in_ = at::Tensor();
    lm_head(pre && w_.final_ln_w.defined() ? h : x);
    if (stats_.defined()) {
      const at::Tensor s = stats_.cpu();
      const double* v = s.data_ptr<double>();
      out_->stats = SelectionStats{v[0], v[1], v[2], v[3], v[4], v[5]};
    }
  }

 private:
  at::Tensor act(at::IntArrayRef sizes, const char* what, at::ScalarType dtype = at::kHalf) {
    return device_empty(sizes, dtype, what, rows_);
  }

  at::Tensor embed() {
    std::vector<int32_t> flat, pos;
    flat.reserve(R_);
    pos.reserve(R_);
    for (const auto& r : tokens_) {
      flat.insert(flat.end(), r.begin(), r.end());
      for (int t = 0; t < T_; ++t) pos.push_back(t);
    }
    const at::Tensor ids = at::from_blob(flat.data(), {R_}, at::kInt).to(at::kCUDA);
    const at::Tensor positions = at::from_blob(pos.data(), {R_}, at::kInt).to(at::kCUDA);
    at::Tensor x = act({R_, m_.d}, "prefill residual");
    const at::Tensor emb = w_.project_in.defined() ? act({R_, m_.embed}, "prefill embedding") : at::Tensor();
    embed_tokens(ctx_, w_, m_, int_ptr(ids), int_ptr(positions), R_, emb, half_ptr(x), s_);
    return x;
  }

  void layer_norm_into(at::Tensor& y, const at::Tensor& x, const at::Tensor& residual, const __half* bias,
                       at::Tensor* sum_out, const at::Tensor& gamma, const at::Tensor& beta) {
    LayerNormArgs a;
    a.y = half_ptr(y);
    a.sum_out = sum_out != nullptr ? half_ptr(*sum_out) : nullptr;
    a.x = half_ptr(x);
    a.residual = residual.defined() ? half_ptr(residual) : nullptr;
    a.bias = bias;
    a.gamma = half_ptr(gamma);
    a.beta = half_ptr(beta);
    a.rows = R_;
    a.d = m_.d;
    launch_layer_norm(a, s_);
  }

  // LN(x + residual + bias) into a new tensor; the sum goes to *sum_out when given.
  at::Tensor norm(const at::Tensor& x, const at::Tensor& residual, const __half* bias, at::Tensor* sum_out,
                  const at::Tensor& gamma, const at::Tensor& beta) {
    at::Tensor y = act({R_, m_.d}, "prefill layer norm");
    layer_norm_into(y, x, residual, bias, sum_out, gamma, beta);
    return y;
  }

  // The residual-stream snapshot a predictor reads (points as in SparseState: 2l attention input, 2l+1 MLP).
  const at::Tensor& snapshot(int point, int layer) const {
    const int q = point / 2;
    DV_CHECK(q == layer || q == layer - 1, "prefill: predictor input point {} is not available at layer {}", point,
             layer);
    const at::Tensor& t = point % 2 == 0 ? (q == layer ? attn_in_ : prev_attn_in_) : (q == layer ? mlp_in_ : prev_mlp_in_);
    DV_CHECK(t.defined(), "prefill: predictor input point {} is not available at layer {}", point, layer);
    return t;
  }

  // {0,1} float mask [R, n] of the units each token keeps; dense_scores: [R, n] fp32 (oracle).
  at::Tensor select(bool mlp_block, int layer, const LayerSelection& sel, const at::Tensor& dense_scores, int n) {
    const auto f32 = cuda_options(at::kFloat);
    switch (sel.source) {
      case SelectionSource::kFixed: {
        const std::vector<int> list = sp_->read(mlp_block, layer, s_);
        at::Tensor one = at::zeros({n}, f32);
        if (!list.empty())
          one.index_fill_(0, at::tensor(std::vector<int64_t>(list.begin(), list.end())).to(at::kCUDA), 1.0);
        return one.unsqueeze(0).expand({R_, n}).contiguous();
      }
      case SelectionSource::kOracle: return topk_mask(dense_scores, sel.capacity);
      case SelectionSource::kPredictor: {
        const PredictorTask& task = sp_->tasks.at(sel.task);
        const at::Tensor& x = snapshot(task.input_point, layer);
        at::Tensor z = act({R_, task.rank}, "prefill predictor hidden");
        linear(ctx_.cublas(), half_ptr(z), half_ptr(x), half_ptr(task.wa), R_, task.rank, m_.d);
        at::Tensor logits = act({R_, n}, "prefill predictor logits", at::kFloat);
        linear_f32_out(ctx_.cublas(), float_ptr(logits), half_ptr(z), half_ptr(task.wb), R_, n, task.rank);
        if (task.threshold) {
          // sigmoid(logit) >= p  <=>  logit >= log(p / (1 - p))
          const double cut = dv::threshold_logit(task.probability);
          return logits.ge(cut).to(at::kFloat);
        }
        return topk_mask(logits, task.top_k);
      }
      case SelectionSource::kDense: break;
    }
    return at::ones({R_, n}, f32);
  }

  at::Tensor topk_mask(const at::Tensor& scores, int k) {
    const int n = static_cast<int>(scores.size(1));
    if (k >= n) return at::ones_like(scores);
    const at::Tensor idx = std::get<1>(scores.topk(k, -1, /*largest=*/true, /*sorted=*/false));
    return at::zeros_like(scores).scatter_(1, idx, 1.0);
  }

  void record(bool mlp_block, int layer, const at::Tensor& mask, int n) {
    if (out_ == nullptr || !out_->record_masks) return;
    (mlp_block ? out_->mlp_masks : out_->head_masks)[layer] = mask.gt(0.5).view({rows_, T_, n}).cpu();
  }

  // [R, 1] fp32 {0,1} on the device: 1 for the real tokens of each row (the first lengths[r] of its T).
  at::Tensor counted_rows(const std::vector<int>& lengths) const {
    DV_CHECK(static_cast<int>(lengths.size()) == rows_, "prefill: {} lengths for {} rows", lengths.size(), rows_);
    std::vector<float> w(static_cast<size_t>(R_), 0.0f);
    for (int r = 0; r < rows_; ++r) std::fill_n(w.begin() + r * T_, std::clamp(lengths[r], 0, T_), 1.0f);
    return at::from_blob(w.data(), {R_, 1}, at::kFloat).to(at::kCUDA);
  }

  // Adds what `mask` kept of `values` [R, n] (fp32) to the stats; mlp: also the active counts. Padding
  // (counted_) weighs 0.
  void count(bool mlp_block, const at::Tensor& dense_values, const at::Tensor& mask) {
    if (!stats_.defined()) return;
    const at::Tensor values = counted_.defined() ? dense_values * counted_ : dense_values;
    if (mlp_block) {
      const at::Tensor active = values.gt(0).to(at::kFloat);
      const at::Tensor sums = at::stack({active.sum(), (active * mask).sum(), values.sum(), (values * mask).sum()});
      stats_.slice(0, 0, 4).add_(sums.to(at::kDouble));
    } else {
      stats_.slice(0, 4, 6).add_(at::stack({values.sum(), (values * mask).sum()}).to(at::kDouble));
    }
  }

  // A block is "sparse" for the stats when its spec had a source, even where a layer runs dense.
  bool block_sparse(const std::vector<LayerSelection>& sels) const {
    for (const auto& s : sels)
      if (s.source != SelectionSource::kDense) return true;
    return false;
  }

  // Returns the out-projection's output (no bias, no residual) [R, d].
  at::Tensor attention(int l, const at::Tensor& x) {
    const GpuLayerWeights& lw = w_.layers[l];
    at::Tensor qkv = act({R_, 3 * m_.d}, "prefill QKV");
    linear(ctx_.cublas(), half_ptr(qkv), half_ptr(x), half_ptr(lw.w_qkv), R_, 3 * m_.d, m_.d);
    at::Tensor q = act({rows_, m_.heads, T_, m_.head_dim}, "prefill queries");
    PrefillQkvArgs a;
    a.q = half_ptr(q);
    a.k_cache = b_.k(l);
    a.v_cache = b_.v(l);
    a.qkv = half_ptr(qkv);
    a.b_qkv = half_ptr(lw.b_qkv);
    a.rows = rows_;
    a.tokens = T_;
    a.num_heads = m_.heads;
    a.head_dim = m_.head_dim;
    a.max_len = b_.max_len;
    launch_prefill_qkv(a, s_);
    qkv = at::Tensor();
    if (!scores_.defined()) {
      scores_ = act({m_.heads, T_, T_}, "prefill attention scores", at::kFloat);
      probs_ = act({m_.heads, T_, T_}, "prefill attention probabilities");
    }
    at::Tensor attn = act({R_, m_.d}, "prefill attention output");
    const long long head_stride = static_cast<long long>(b_.max_len) * m_.head_dim;
    for (int r = 0; r < rows_; ++r) {
      const size_t cache_off = static_cast<size_t>(r) * m_.heads * b_.max_len * m_.head_dim;
      const __half* q_row = half_ptr(q) + static_cast<size_t>(r) * m_.heads * T_ * m_.head_dim;
      attention_scores(ctx_.cublas(), float_ptr(scores_), q_row, b_.k(l) + cache_off, m_.heads, T_, m_.head_dim,
                       head_stride);
      CausalSoftmaxArgs sm;
      sm.probs = half_ptr(probs_);
      sm.scores = float_ptr(scores_);
      sm.rows = m_.heads * T_;
      sm.q_len = sm.k_len = sm.ld = T_;
      sm.scale = 1.f / std::sqrt(static_cast<float>(m_.head_dim));
      launch_causal_softmax(sm, s_);
      attention_values(ctx_.cublas(), half_ptr(attn) + static_cast<size_t>(r) * T_ * m_.d, m_.d, half_ptr(probs_),
                       b_.v(l) + cache_off, m_.heads, T_, m_.head_dim, head_stride);
    }
    if (sp_ != nullptr && block_sparse(sp_->heads)) {
      const LayerSelection& sel = sp_->heads[l];
      const at::Tensor heads = attn.view({R_, m_.heads, m_.head_dim});
      const at::Tensor norms = at::linalg_vector_norm(heads.to(at::kFloat), 2, {-1});
      const at::Tensor mask =
          sel.dense ? at::ones({R_, m_.heads}, cuda_options(at::kFloat)) : select(false, l, sel, norms, m_.heads);
      count(false, norms, mask);
      if (!sel.dense) {
        record(false, l, mask, m_.heads);
        heads.mul_(mask.to(at::kHalf).unsqueeze(-1));
      }
    }
    at::Tensor o = act({R_, m_.d}, "prefill block output");
    linear_t(ctx_.cublas(), half_ptr(o), half_ptr(attn), half_ptr(lw.wo_t), R_, m_.d, m_.d);
    return o;
  }

  // Returns fc2's output (no bias, no residual) [R, d].
  at::Tensor mlp(int l, const at::Tensor& x) {
    const GpuLayerWeights& lw = w_.layers[l];
    at::Tensor fc1 = act({R_, m_.ffn}, "prefill fc1 activations");
    linear(ctx_.cublas(), half_ptr(fc1), half_ptr(x), half_ptr(lw.fc1_w), R_, m_.ffn, m_.d);
    BiasReluArgs a;
    a.x = half_ptr(fc1);
    a.bias = half_ptr(lw.fc1_b);
    a.rows = R_;
    a.n = m_.ffn;
    launch_bias_relu(a, s_);
    if (sp_ != nullptr && block_sparse(sp_->mlp)) {
      const LayerSelection& sel = sp_->mlp[l];
      const at::Tensor values = fc1.to(at::kFloat);
      const at::Tensor mask =
          sel.dense ? at::ones({R_, m_.ffn}, cuda_options(at::kFloat)) : select(true, l, sel, values, m_.ffn);
      count(true, values, mask);
      if (!sel.dense) {
        record(true, l, mask, m_.ffn);
        fc1.mul_(mask.to(at::kHalf));
      }
    }
    at::Tensor o = act({R_, m_.d}, "prefill block output");
    linear_t(ctx_.cublas(), half_ptr(o), half_ptr(fc1), half_ptr(lw.fc2_t), R_, m_.d, m_.ffn);
    return o;
  }

  // Logits of every position (one sequence at a time, for the log-probs) or of the last positions only.
  void lm_head(const at::Tensor& x) {
    auto head = [&](const at::Tensor& in, float* logits, int n) {
      const at::Tensor projected = w_.project_out.defined() ? act({n, m_.embed}, "prefill head input") : at::Tensor();
      lm_head_logits(ctx_, w_, m_, half_ptr(in), n, projected, logits);
    };
    const at::Tensor seq = x.view({rows_, T_, m_.d});
    if (out_ == nullptr || !out_->want_logprobs) {
      const at::Tensor last = seq.select(1, T_ - 1).contiguous();
      head(last, float_ptr(b_.logits), rows_);
      return;
    }
    // Per row on the device, then one copy each to the host: [rows, cols] log-probs and greedy flags.
    const bool with_next = !out_->next.empty();
    DV_CHECK(!with_next || static_cast<int>(out_->next.size()) == rows_, "prefill: {} next tokens for {} rows",
             out_->next.size(), rows_);
    const int cols = with_next ? T_ : T_ - 1;
    at::Tensor lp = at::empty({rows_, std::max(cols, 0)}, cuda_options(at::kFloat));
    at::Tensor hit = at::empty({rows_, std::max(cols, 0)}, cuda_options(at::kByte));
    at::Tensor logits = act({T_, m_.vocab}, "prefill logits", at::kFloat);
    for (int r = 0; r < rows_; ++r) {
      head(seq.select(0, r).contiguous(), float_ptr(logits), T_);
      b_.logits.select(0, r).copy_(logits.select(0, T_ - 1));
      if (cols < 1) continue;
      std::vector<int64_t> next(tokens_[r].begin() + 1, tokens_[r].end());
      if (with_next) {
        next.push_back(1);  // scored past the row's end (padding) when it is shorter than T
        const int len = out_->lengths.empty() ? T_ : std::clamp(out_->lengths[r], 1, T_);
        next[len - 1] = out_->next[r];
      }
      const at::Tensor target = at::tensor(next).to(at::kCUDA);
      const at::Tensor rows = logits.slice(0, 0, cols);
      lp.select(0, r).copy_(at::log_softmax(rows, -1).gather(1, target.unsqueeze(1)).squeeze(1));
      if (out_->want_greedy) hit.select(0, r).copy_(rows.argmax(-1).eq(target));
    }
    out_->logprobs = lp.cpu();
    if (out_->want_greedy) out_->greedy = hit.cpu();
  }

  const EngineContext& ctx_;
  const GpuWeights& w_;
  DecodeBuffers& b_;
  const SparseState* sp_;
  const OptConfig& c_;
  const ModelDims m_;
  cudaStream_t s_;
  const std::vector<std::vector<int32_t>>& tokens_;
  PrefillOutputs* out_;
  int rows_ = 0, T_ = 0, R_ = 0;  // sequences, tokens each, rows * T token rows of every GEMM
  at::Tensor attn_in_, mlp_in_, prev_attn_in_, prev_mlp_in_;  // residual snapshots the predictors read
  at::Tensor scores_, probs_;                                   // attention scratch, reused by every layer
  at::Tensor stats_;                                            // fp64 [6] device sums of SelectionStats
  at::Tensor counted_;  // [R, 1] fp32: the tokens the stats count (undefined: all; PrefillOutputs::lengths)
};

}  // namespace

void run_prefill(const EngineContext& ctx, const GpuWeights& weights, DecodeBuffers& buffers, const SparseState* sparse,
                 const std::vector<std::vector<int32_t>>& rows, PrefillOutputs* out) {
  DV_CHECK(!rows.empty() && static_cast<int>(rows.size()) <= buffers.batch,
           "prefill: {} rows for an engine of batch {}", rows.size(), buffers.batch);
  const size_t T = rows[0].size();
  for (const auto& r : rows)
    DV_CHECK(r.size() == T, "prefill: rows of different lengths ({} and {})", T, r.size());
  DV_CHECK(T >= 1 && static_cast<int>(T) <= buffers.max_len, "prefill: {} tokens outside [1, {}] (the KV cache)", T,
           buffers.max_len);
  PrefillRunner(ctx, weights, buffers, sparse, rows, out).run();
}

}  // namespace dv::engine
