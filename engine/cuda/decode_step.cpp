// decode_step.cpp: the launch sequence of one decode step (see decode_step.h).
#include "engine/cuda/decode_step.h"

#include <vector>

#include "engine/cuda/cublas_ops.h"
#include "engine/cuda/engine_kernels.cuh"
#include "engine/cuda/layer_ops.h"
#include "engine/cuda/model_dims.h"
#include "engine/cuda/model_ends.h"
#include "engine/cuda/split_sum.h"
#include "engine/cuda/step_switches.h"
#include "engine/cuda/step_warmup.h"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/common/cuda_check.h"
#include "kernels/decode_attention/decode_attention.cuh"
#include "kernels/elementwise/elementwise.cuh"
#include "kernels/fused_mlp/fused_mlp.cuh"
#include "kernels/layer_norm/layer_norm.cuh"
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_mlp_up/sparse_mlp_up.cuh"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv::engine {
namespace {

class StepRecorder {
 public:
  StepRecorder(const EngineContext& ctx, const GpuWeights& w, DecodeBuffers& b, SparseState* sp,
               const BlockAllReduce& all_reduce)
      : ctx_(ctx), w_(w), b_(b), sp_(sp), all_reduce_(all_reduce), c_(w.config), m_(model_dims(w)), s_(ctx.main()),
        B_(b.batch), fused_(fused_mlp_enabled(b.batch)),
        pre_(c_.do_layer_norm_before),
        stream_((fused_ || residual_sparse_flow(sp != nullptr, pre_)) && !all_reduce), residual_stream_(stream_ && pre_),
        fuse_ln_(residual_stream_ && (!fused_ || kernels::fused_mlp_ln_fits(b.batch, m_.d))),
        dense_qkv_ops_(dense_qkv_ops(stream_)), down_units_(down_target_units(ctx.num_sms())),
        ln_partials_(residual_stream_ && !fused_ && sp != nullptr && ln_partials_enabled()),
        warm_(*b.warm_branch, ctx.num_sms()),
        joined_(sp != nullptr ? sp->tasks.size() : 0, false) {}

  void run() {
    if (stream_) {
      run_stream();
    } else {
      run_block_out();
    }
    if (side_used_) {
      DV_CUDA_CHECK(cudaEventRecord(sp_->join_event[0], ctx_.side()));
      DV_CUDA_CHECK(cudaStreamWaitEvent(s_, sp_->join_event[0], 0));
    }
    warm_.join(s_);
    if (catchup_used_) {  // the forced K/V catch-up must finish before the next step's QKV reads kv_valid
      DV_CUDA_CHECK(cudaEventRecord(sp_->catchup_join[0], sp_->catchup_stream.get()));
      DV_CUDA_CHECK(cudaStreamWaitEvent(s_, sp_->catchup_join[0], 0));
    }
    launch_advance_position(int_ptr(b_.pos), int_ptr(b_.positions), B_, s_);
  }

 private:
  // The residual-stream flow on one GPU: the fused MLP flow at batch <= 8 (the persistent kernel's ops, in its
  // order), or a sparse step on a pre-LN model (residual_sparse_flow): each block's last op adds its bias and
  // residual itself. Pre-LN, four kernels a layer: QKV (attention layer norm fused) -> attention -> W_o
  // (+ out_b + residual: mlp_in) -> fused MLP (MLP layer norm fused; + fc2_b + residual: attn_in(l + 1)), or five
  // with sparse up (MLP layer norm fused) + down (+ fc2_b + residual) instead of the fused MLP. Post-LN: W_o and the MLP write their sums to block_out and a layer norm follows each,
  // as the persistent plan does, so both paths round alike (the block_out flow rounds the bare product first).
  void run_stream() {
    embed();
    point(0);
    for (int l = 0; l < m_.layers; ++l) {
      const GpuLayerWeights& lw = w_.layers[l];
      attention(l, b_.attn_in(l));
      if (!pre_)
        layer_norm(half_ptr(b_.block_out), nullptr, nullptr, nullptr, b_.mlp_in(l), lw.attn_ln_w, lw.attn_ln_b);
      else if (!fuse_ln_)  // B * d too large for the fused MLP to stage its input: normalize it first
        layer_norm(b_.mlp_in(l), nullptr, nullptr, nullptr, half_ptr(b_.ln), lw.mlp_ln_w, lw.mlp_ln_b);
      point(2 * l + 1);
      mlp(l, fuse_ln_ || !pre_ ? b_.mlp_in(l) : half_ptr(b_.ln));
      if (!pre_)
        layer_norm(half_ptr(b_.block_out), nullptr, nullptr, nullptr, b_.attn_in(l + 1), lw.mlp_ln_w, lw.mlp_ln_b);
      if (l + 1 < m_.layers) point(2 * (l + 1));
    }
    if (pre_ && w_.final_ln_w.defined())
      layer_norm(b_.attn_in(m_.layers), nullptr, nullptr, nullptr, half_ptr(b_.final_x), w_.final_ln_w,
                 w_.final_ln_b);
    lm_head(w_.final_ln_w.defined() ? half_ptr(b_.final_x) : b_.attn_in(m_.layers));
  }

  // Post-LN, tensor parallelism, batch > 8: each block's projection writes block_out, and a layer_norm kernel
  // adds bias and residual (the sum over ranks first) and normalizes.
  void run_block_out() {
    const bool pre = c_.do_layer_norm_before;
    embed();
    point(0);
    if (pre) layer_norm(b_.attn_in(0), nullptr, nullptr, nullptr, half_ptr(b_.ln), w_.layers[0].attn_ln_w,
                        w_.layers[0].attn_ln_b);
    for (int l = 0; l < m_.layers; ++l) {
      const GpuLayerWeights& lw = w_.layers[l];
      attention(l, pre ? half_ptr(b_.ln) : b_.attn_in(l));
      reduce_block_out();
      const kernels::L2Warmup up_warm = mlp_warmup(l);
      if (pre) {
        layer_norm(half_ptr(b_.block_out), b_.attn_in(l), half_ptr(lw.out_b), b_.mlp_in(l), half_ptr(b_.ln),
                   lw.mlp_ln_w, lw.mlp_ln_b, warm_.for_op(up_warm, s_));
      } else {
        layer_norm(half_ptr(b_.block_out), b_.attn_in(l), half_ptr(lw.out_b), nullptr, b_.mlp_in(l), lw.attn_ln_w,
                   lw.attn_ln_b, warm_.for_op(up_warm, s_));
      }
      point(2 * l + 1);
      mlp(l, pre ? half_ptr(b_.ln) : b_.mlp_in(l));
      reduce_block_out();
      const kernels::L2Warmup qkv_warm = l + 1 < m_.layers ? next_qkv_warmup(l + 1) : kernels::L2Warmup{};
      if (!pre) {
        layer_norm(half_ptr(b_.block_out), b_.mlp_in(l), half_ptr(lw.fc2_b), nullptr, b_.attn_in(l + 1), lw.mlp_ln_w,
                   lw.mlp_ln_b, warm_.for_op(qkv_warm, s_));
      } else if (l + 1 < m_.layers) {
        const GpuLayerWeights& next = w_.layers[l + 1];
        layer_norm(half_ptr(b_.block_out), b_.mlp_in(l), half_ptr(lw.fc2_b), b_.attn_in(l + 1), half_ptr(b_.ln),
                   next.attn_ln_w, next.attn_ln_b, warm_.for_op(qkv_warm, s_));
      } else if (w_.final_ln_w.defined()) {
        layer_norm(half_ptr(b_.block_out), b_.mlp_in(l), half_ptr(lw.fc2_b), b_.attn_in(m_.layers),
                   half_ptr(b_.final_x), w_.final_ln_w, w_.final_ln_b);
      } else {
        residual_sum(b_.attn_in(m_.layers), b_.mlp_in(l), half_ptr(lw.fc2_b));
      }
      if (l + 1 < m_.layers) point(2 * (l + 1));
    }
    lm_head(pre && w_.final_ln_w.defined() ? half_ptr(b_.final_x) : b_.attn_in(m_.layers));
  }

  void embed() { embed_tokens(ctx_, w_, m_, int_ptr(b_.tokens), int_ptr(b_.positions), B_, b_.emb, b_.attn_in(0), s_); }

  // out = block_out + residual + bias, rounded once to fp16 (a block's projection finishing the residual stream).
  void residual_sum(__half* out, const __half* residual, const __half* bias) {
    launch_bias_residual(BiasResidualArgs{out, half_ptr(b_.block_out), residual, bias, B_, m_.d}, s_);
  }

  // y = LN(x + residual + bias) (sum_out: the sum); warm_next: the next op's weights for the norm's warm units
  // (DEJAVU_L2_WARMUP=units; StepWarmup::for_op gives the op nothing in the other modes).
  void layer_norm(const __half* x, const __half* residual, const __half* bias, __half* sum_out, __half* y,
                  const at::Tensor& gamma, const at::Tensor& beta, const kernels::L2Warmup& warm_next = {}) {
    launch_layer_norm(LayerNormArgs{y, sum_out, x, residual, bias, half_ptr(gamma), half_ptr(beta), B_, m_.d},
                      warm_next, ctx_.num_sms(), s_);
  }

  // Writes the selected heads' outputs compact in selection order to attn ([B, m_.attn]).
  // With the L2 warm-up, W_o's weights at `heads` are prefetched while attention runs (it reads ~1 MB).
  void decode_attention(int l, const DeviceList& heads, const AttentionScratch& scratch) {
    const kernels::L2Warmup warm = warm_.for_op(out_proj_warmup(w_, l, heads, warm_.budget()), s_);
    launch_decode_attention(layer_attention_args(w_, b_, l, half_ptr(b_.q), heads, half_ptr(b_.attn),
                                                 float_ptr(scratch.partials), int_ptr(scratch.tickets),
                                                 scratch.splits(heads.cap)),
                            warm, ctx_.num_sms(), s_);
  }

  // The warm-up of layer l's MLP up projection, for the layer norm before it (block_out flow): fc1 at the layer's
  // neurons, their predictor joined here instead of at the up projection. None with fused_mlp (fc1 and fc2
  // interleaved) or a predictor of the MLP input this norm writes.
  kernels::L2Warmup mlp_warmup(int l) {
    if (warm_.budget() == 0 || fused_) return {};
    if (sp_ == nullptr || sp_->mlp[l].dense) return mlp_up_warmup(w_, l, DeviceList{}, warm_.budget());
    const LayerSelection& sel = sp_->mlp[l];
    if (!join_before(sel, 2 * l + 1)) return {};
    return mlp_up_warmup(w_, l, {int_ptr(sel.idx), int_ptr(sel.count), sel.capacity}, warm_.budget());
  }

  // ... of layer l's QKV, for the layer norm before it: w_qkv at the layer's heads (joined here; none when the
  // head predictor reads the attention input this norm writes).
  kernels::L2Warmup next_qkv_warmup(int l) {
    if (warm_.budget() == 0 || (sp_ != nullptr && !join_before(sp_->heads[l], 2 * l))) return {};
    return qkv_warmup(w_, sp_, l, layer_heads(b_, sp_, l), warm_.budget());
  }

  // The attention block on x: the residual stream attn_in(l) with stream_ (pre-LN: the QKV op normalizes it),
  // else its normalized input. Writes attn_in(l) + out_b + W_o product with stream_ (to mlp_in(l), post-LN to
  // block_out for the layer norm), else the bare W_o product to block_out.
  void attention(int l, const __half* x) {
    if (sp_ == nullptr) {
      const DeviceList all = layer_heads(b_, nullptr, l);
      if (dense_qkv_ops_) {
        launch_sparse_qkv(layer_qkv_args(w_, b_, nullptr, l, x, all, residual_stream_, half_ptr(b_.q)), s_);
      } else {
        if (residual_stream_) {  // cuBLAS reads a normalized input
          const GpuLayerWeights& lw = w_.layers[l];
          layer_norm(x, nullptr, nullptr, nullptr, half_ptr(b_.ln), lw.attn_ln_w, lw.attn_ln_b);
          x = half_ptr(b_.ln);
        }
        dense_qkv(l, x);
      }
      decode_attention(l, all, b_.attention);
      out_proj(l, all, true);
      return;
    }
    const LayerSelection& sel = sp_->heads[l];
    join(sel);
    const DeviceList heads = layer_heads(b_, sp_, l);
    qkv(l, x, heads);
    decode_attention(l, heads, sp_->attention);
    out_proj(l, heads, sel.dense);
  }

  // W_o over the compact attention output of `heads`. stream_: sparse_mlp_down over the heads' W_o^T rows (every
  // head when dense) adds out_b and the residual, finishing mlp_in(l) (post-LN: the sum in block_out, normalized
  // next); otherwise cuBLAS (dense) or
  // sparse_mlp_down into block_out.
  void out_proj(int l, const DeviceList& heads, bool dense) {
    if (stream_) {
      kernels::SparseMlpDownArgs a = layer_out_proj_args(w_, b_, l, half_ptr(b_.attn), heads,
                                                         pre_ ? b_.mlp_in(l) : half_ptr(b_.block_out),
                                                         b_.attn_in(l), b_.out_proj_workspace.data_ptr());
      a.target_units = down_units_;
      a.row_partials = mlp_in_partials(l);
      launch_sparse_mlp_down(a, s_);
    } else if (dense) {
      linear_t(ctx_.cublas(), half_ptr(b_.block_out), half_ptr(b_.attn), half_ptr(w_.layers[l].wo_t), B_, m_.d,
               m_.attn);
    } else {
      kernels::SparseMlpDownArgs a = layer_out_proj_args(w_, b_, l, half_ptr(b_.attn), heads, half_ptr(b_.block_out),
                                                         nullptr, sp_->down_workspace.data_ptr());
      a.target_units = down_units_;
      launch_sparse_mlp_down(a, s_);
    }
  }

  // Dense QKV through cuBLAS: one GEMM into qkv, then the bias, q and the K/V cache rows at pos (kv_append).
  void dense_qkv(int l, const __half* x) {
    const GpuLayerWeights& lw = w_.layers[l];
    linear(ctx_.cublas(), half_ptr(b_.qkv), x, half_ptr(lw.w_qkv), B_, 3 * m_.attn, m_.d);
    launch_kv_append(layer_kv_append_args(w_, b_, l), s_);
  }

  // The selected heads' q and K/V (K/V of every head with all_kv), then the forced catch-up of heads lagging
  // too far, forked onto the low-priority catch-up stream (joined at the end of the step).
  void qkv(int l, const __half* x, const DeviceList& heads) {
    SparseQkvArgs q = layer_qkv_args(w_, b_, sp_, l, x, heads, residual_stream_, half_ptr(b_.q));
    if (const float* p = attn_in_partials(l)) {
      q.ln_row_partials = p;
      q.ln_partial_blocks = sp_->ln_partial_blocks;
    }
    launch_sparse_qkv(q, s_);
    if (q.max_forced == 0) return;
    cudaStream_t cs = sp_->catchup_stream.get();
    DV_CUDA_CHECK(cudaEventRecord(sp_->catchup_fork[l], s_));
    DV_CUDA_CHECK(cudaStreamWaitEvent(cs, sp_->catchup_fork[l], 0));
    launch_kv_catchup(kv_catchup_args(q), cs);
    catchup_used_ = true;
  }

  // The MLP block on x (pre-LN with fuse_ln_: the residual stream mlp_in(l), normalized inside the op; else its
  // normalized input). With stream_ it writes mlp_in(l) + fc2_b + fc2 product: pre-LN the new residual stream
  // attn_in(l + 1), post-LN to block_out for the layer norm; otherwise the bare fc2 product into block_out
  // (the block_out flow, a tensor-parallel rank's partial sum).
  void mlp(int l, const __half* x) {
    const GpuLayerWeights& lw = w_.layers[l];
    const bool dense = sp_ == nullptr || sp_->mlp[l].dense;
    DeviceList neurons;
    if (!dense) {
      const LayerSelection& sel = sp_->mlp[l];
      join(sel);
      neurons = {int_ptr(sel.idx), int_ptr(sel.count), sel.capacity};
    }
    if (fused_) {
      kernels::launch_fused_mlp(
          layer_mlp_args(w_, b_, l, x, neurons, fuse_ln_,
                         residual_stream_ ? b_.attn_in(l + 1) : half_ptr(b_.block_out),
                         stream_ ? b_.mlp_in(l) : nullptr, b_.mlp_workspace.data_ptr(), ctx_.num_sms()),
          s_);
      return;
    }
    // The residual-stream flow without fused_mlp (a sparse step on a pre-LN model): x is the residual stream
    // mlp_in(l); the up projection normalizes it and the down projection writes attn_in(l + 1).
    const bool residual_in = residual_stream_ && fuse_ln_;
    if (dense) {
      if (residual_in) {  // a layer past the crossover: cuBLAS reads a normalized input
        layer_norm(x, nullptr, nullptr, nullptr, half_ptr(b_.ln), lw.mlp_ln_w, lw.mlp_ln_b);
        x = half_ptr(b_.ln);
      }
      linear(ctx_.cublas(), half_ptr(b_.fc1_out), x, half_ptr(lw.fc1_w), B_, m_.ffn, m_.d);
      BiasReluArgs a;
      a.x = half_ptr(b_.fc1_out);
      a.bias = half_ptr(lw.fc1_b);
      a.rows = B_;
      a.n = m_.ffn;
      launch_bias_relu(a, s_);
      linear_t(ctx_.cublas(), half_ptr(b_.block_out), half_ptr(b_.fc1_out), half_ptr(lw.fc2_t), B_, m_.d, m_.ffn);
      if (residual_in) residual_sum(b_.attn_in(l + 1), b_.mlp_in(l), half_ptr(lw.fc2_b));
      return;
    }
    kernels::SparseMlpUpArgs u = layer_mlp_up_args(w_, b_, *sp_, l, x, neurons);
    if (warm_.down()) {
      u.warm_next = warm_.for_op(mlp_down_warmup(w_, l, neurons, warm_.budget()), s_);
      u.warm_sms = ctx_.num_sms();
    }
    if (residual_in) {
      u.ln_gamma = half_ptr(lw.mlp_ln_w);
      u.ln_beta = half_ptr(lw.mlp_ln_b);
      u.ln_row_partials = mlp_in_partials(l);
      u.ln_partial_blocks = sp_->ln_partial_blocks;
    }
    kernels::launch_sparse_mlp_up(u, s_);
    kernels::SparseMlpDownArgs a =
        layer_mlp_down_args(w_, b_, *sp_, l, neurons, residual_in ? b_.attn_in(l + 1) : half_ptr(b_.block_out),
                            residual_in ? b_.mlp_in(l) : nullptr);
    a.target_units = down_units_;
    if (residual_in && l + 1 < m_.layers) a.row_partials = attn_in_partials(l + 1);
    kernels::launch_sparse_mlp_down(a, s_);
  }

  // ln_partials_: the row partials of mlp_in(l), which W_o writes when layer l's MLP is sparse (the up
  // projection normalizes it; a dense MLP runs a layer_norm kernel), else nullptr.
  float* mlp_in_partials(int l) const {
    if (!ln_partials_ || sp_->mlp[l].dense) return nullptr;
    return float_ptr(sp_->ln_partials);
  }
  // ... of attn_in(l), which layer l - 1's sparse MLP down writes; nullptr for layer 0 (the embedding writes
  // attn_in(0)) and after a dense MLP (cuBLAS + bias_residual): the QKV op then reads the row itself.
  float* attn_in_partials(int l) const {
    if (!ln_partials_ || l == 0 || sp_->mlp[l - 1].dense) return nullptr;
    return float_ptr(sp_->ln_partials) + 2 * static_cast<size_t>(sp_->ln_partial_blocks) * B_;
  }

  void lm_head(const __half* x) { lm_head_logits(ctx_, w_, m_, x, B_, b_.head_in, float_ptr(b_.logits)); }

  // Tensor parallelism: block_out holds this rank's partial sum of the block's projection; the sum over ranks
  // follows, before the bias, residual and layer norm every rank then applies alike.
  void reduce_block_out() {
    if (all_reduce_) all_reduce_(half_ptr(b_.block_out), static_cast<size_t>(B_) * m_.d, s_);
  }

  // Snapshot `p` now exists on the main stream: start the side-stream predictors that read it.
  void point(int p) {
    if (sp_ == nullptr) return;
    bool forked = false;
    for (size_t t = 0; t < sp_->tasks.size(); ++t) {
      const PredictorTask& task = sp_->tasks[t];
      if (task.input_point != p) continue;
      if (!forked) {
        DV_CUDA_CHECK(cudaEventRecord(sp_->point_events[p], s_));
        DV_CUDA_CHECK(cudaStreamWaitEvent(ctx_.side(), sp_->point_events[p], 0));
        forked = side_used_ = true;
      }
      const kernels::LowrankPredictorArgs a =
          sp_->predictor_args(static_cast<int>(t), p % 2 == 0 ? b_.attn_in(p / 2) : b_.mlp_in(p / 2));
      kernels::launch_lowrank_predictor(a, ctx_.side());
      DV_CUDA_CHECK(cudaEventRecord(sp_->task_events[t], ctx_.side()));
    }
  }

  // Joins `sel` now if it exists before snapshot `point` does (no predictor, or one of an earlier snapshot: a
  // predictor of the snapshot a layer norm writes is forked after that norm); false if not.
  bool join_before(const LayerSelection& sel, int point) {
    if (sel.task >= 0 && sp_->tasks[sel.task].input_point >= point) return false;
    join(sel);
    return true;
  }

  // The main stream waits for the predictor task that makes `sel`, once a step: a second wait would add an edge,
  // and a kernel captured with two dependencies loses PDL (pdl.cuh).
  void join(const LayerSelection& sel) {
    if (sel.task < 0 || joined_[sel.task]) return;
    DV_CUDA_CHECK(cudaStreamWaitEvent(s_, sp_->task_events[sel.task], 0));
    joined_[sel.task] = true;
  }

  const EngineContext& ctx_;
  const GpuWeights& w_;
  DecodeBuffers& b_;
  SparseState* sp_;
  const BlockAllReduce& all_reduce_;
  const OptConfig& c_;
  const ModelDims m_;
  cudaStream_t s_;
  int B_ = 0;  // batch rows, one token each
  const bool fused_;    // MLP blocks (dense and sparse) through fused_mlp, else cuBLAS / sparse up + down
  const bool pre_;      // pre-LN (OPT but opt-350m)
  const bool stream_;   // the residual-stream flow: W_o and the MLP add bias and residual (one GPU; the fused
                        // MLP flow at batch <= 8, or a sparse step on a pre-LN model)
  const bool residual_stream_;  // ... pre-LN: the QKV op normalizes the residual stream the blocks write
  const bool fuse_ln_;  // ... and normalizes its input itself (x fits its shared memory)
  const bool dense_qkv_ops_;  // the dense step's QKV through sparse_qkv (else cuBLAS + kv_append)
  const int down_units_;      // sparse_mlp_down's plan target: one wave (2 x SMs), or DEJAVU_DOWN_UNITS
  const bool ln_partials_;    // the residual flow's fused layer norms read their producer's row partials
  StepWarmup warm_;              // the L2 warm-up's mode, budget and branch
  std::vector<bool> joined_;     // [predictor task]: the main stream has waited for it this step
  bool side_used_ = false;
  bool catchup_used_ = false;
};

}  // namespace

void record_decode_step(const EngineContext& ctx, const GpuWeights& weights, DecodeBuffers& buffers,
                        SparseState* sparse, const BlockAllReduce& all_reduce) {
  StepRecorder(ctx, weights, buffers, sparse, all_reduce).run();
}

}  // namespace dv::engine
