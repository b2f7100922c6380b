// decode_step.cpp: the launch sequence of one decode step (see decode_step.h).
#include "engine/cuda/decode_step.h"

#include "engine/cuda/cublas_ops.h"
#include "engine/cuda/engine_kernels.cuh"
#include "engine/cuda/model_dims.h"
#include "engine/cuda/model_ends.h"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/common/cuda_check.h"
#include "kernels/decode_attention/decode_attention.cuh"
#include "kernels/elementwise/elementwise.cuh"
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
        B_(b.batch) {}

  void run() {
    const bool pre = c_.do_layer_norm_before;
    embed();
    point(0);
    if (pre) layer_norm(b_.attn_in(0), nullptr, nullptr, nullptr, half_ptr(b_.ln), w_.layers[0].attn_ln_w,
                        w_.layers[0].attn_ln_b);
    for (int l = 0; l < m_.layers; ++l) {
      const GpuLayerWeights& lw = w_.layers[l];
      attention(l, pre ? half_ptr(b_.ln) : b_.attn_in(l));
      reduce_block_out();
      if (pre) {
        layer_norm(half_ptr(b_.block_out), b_.attn_in(l), half_ptr(lw.out_b), b_.mlp_in(l), half_ptr(b_.ln),
                   lw.mlp_ln_w, lw.mlp_ln_b);
      } else {
        layer_norm(half_ptr(b_.block_out), b_.attn_in(l), half_ptr(lw.out_b), nullptr, b_.mlp_in(l), lw.attn_ln_w,
                   lw.attn_ln_b);
      }
      point(2 * l + 1);
      mlp(l, pre ? half_ptr(b_.ln) : b_.mlp_in(l));
      reduce_block_out();
      if (!pre) {
        layer_norm(half_ptr(b_.block_out), b_.mlp_in(l), half_ptr(lw.fc2_b), nullptr, b_.attn_in(l + 1), lw.mlp_ln_w,
                   lw.mlp_ln_b);
      } else if (l + 1 < m_.layers) {
        const GpuLayerWeights& next = w_.layers[l + 1];
        layer_norm(half_ptr(b_.block_out), b_.mlp_in(l), half_ptr(lw.fc2_b), b_.attn_in(l + 1), half_ptr(b_.ln),
                   next.attn_ln_w, next.attn_ln_b);
      } else if (w_.final_ln_w.defined()) {
        layer_norm(half_ptr(b_.block_out), b_.mlp_in(l), half_ptr(lw.fc2_b), b_.attn_in(m_.layers),
                   half_ptr(b_.final_x), w_.final_ln_w, w_.final_ln_b);
      } else {
        BiasResidualArgs a;
        a.out = b_.attn_in(m_.layers);
        a.x = half_ptr(b_.block_out);
        a.residual = b_.mlp_in(l);
        a.bias = half_ptr(lw.fc2_b);
        a.rows = B_;
        a.n = m_.d;
        launch_bias_residual(a, s_);
      }
      if (l + 1 < m_.layers) point(2 * (l + 1));
    }
    lm_head(pre && w_.final_ln_w.defined() ? half_ptr(b_.final_x) : b_.attn_in(m_.layers));
    if (side_used_) {
      DV_CUDA_CHECK(cudaEventRecord(sp_->join_event[0], ctx_.side()));
      DV_CUDA_CHECK(cudaStreamWaitEvent(s_, sp_->join_event[0], 0));
    }
    launch_advance_position(int_ptr(b_.pos), int_ptr(b_.positions), B_, s_);
  }

 private:
  void embed() { embed_tokens(ctx_, w_, m_, int_ptr(b_.tokens), int_ptr(b_.positions), B_, b_.emb, b_.attn_in(0), s_); }

  void layer_norm(const __half* x, const __half* residual, const __half* bias, __half* sum_out, __half* y,
                  const at::Tensor& gamma, const at::Tensor& beta) {
    LayerNormArgs a;
    a.y = y;
    a.sum_out = sum_out;
    a.x = x;
    a.residual = residual;
    a.bias = bias;
    a.gamma = half_ptr(gamma);
    a.beta = half_ptr(beta);
    a.rows = B_;
    a.d = m_.d;
    launch_layer_norm(a, s_);
  }

  void decode_attention(int l, const int* heads, const int* count, int cap, const AttentionScratch& scratch) {
    DecodeAttentionArgs a;
    a.out = half_ptr(b_.attn);
    a.partials = float_ptr(scratch.partials);
    a.tickets = int_ptr(scratch.tickets);
    a.q = half_ptr(b_.q);
    a.k_cache = b_.k(l);
    a.v_cache = b_.v(l);
    a.heads = heads;
    a.num_selected = count;
    a.pos = int_ptr(b_.pos);
    a.batch = B_;
    a.num_heads = m_.heads;
    a.head_dim = m_.head_dim;
    a.max_len = b_.max_len;
    a.max_heads = cap;
    a.max_splits = scratch.splits(cap);
    launch_decode_attention(a, s_);
  }

  // Writes the block's projection output (no bias, no residual) to block_out.
  void attention(int l, const __half* x) {
    const GpuLayerWeights& lw = w_.layers[l];
    if (sp_ == nullptr) {
      linear(ctx_.cublas(), half_ptr(b_.qkv), x, half_ptr(lw.w_qkv), B_, 3 * m_.attn, m_.d);
      KvAppendArgs a;
      a.q = half_ptr(b_.q);
      a.k_cache = b_.k(l);
      a.v_cache = b_.v(l);
      a.qkv = half_ptr(b_.qkv);
      a.b_qkv = half_ptr(lw.b_qkv);
      a.pos = int_ptr(b_.pos);
      a.batch = B_;
      a.num_heads = m_.heads;
      a.head_dim = m_.head_dim;
      a.max_len = b_.max_len;
      launch_kv_append(a, s_);
      decode_attention(l, int_ptr(b_.all_heads), int_ptr(b_.num_heads), m_.heads, b_.attention);
      linear_t(ctx_.cublas(), half_ptr(b_.block_out), half_ptr(b_.attn), half_ptr(lw.wo_t), B_, m_.d, m_.attn);
      return;
    }
    const LayerSelection& sel = sp_->heads[l];
    wait_for(sel);
    const int* heads = sel.dense ? int_ptr(b_.all_heads) : int_ptr(sel.idx);
    const int* count = sel.dense ? int_ptr(b_.num_heads) : int_ptr(sel.count);
    const int cap = sel.dense ? m_.heads : sel.capacity;
    SparseQkvArgs q;
    q.q = half_ptr(b_.q);
    q.k_cache = b_.k(l);
    q.v_cache = b_.v(l);
    q.x_hist = half_ptr(sp_->x_hist) + static_cast<size_t>(l) * B_ * b_.max_len * m_.d;
    q.kv_valid = int_ptr(sp_->kv_valid) + static_cast<size_t>(l) * m_.heads * sparse_qkv_valid_slots(m_.head_dim);
    q.x = x;
    q.w_qkv = half_ptr(lw.w_qkv);
    q.b_qkv = half_ptr(lw.b_qkv);
    q.heads = heads;
    q.num_selected = count;
    q.pos = int_ptr(b_.pos);
    q.batch = B_;
    q.num_heads = m_.heads;
    q.head_dim = m_.head_dim;
    q.max_len = b_.max_len;
    q.max_heads = cap;
    launch_sparse_qkv(q, s_);
    decode_attention(l, heads, count, cap, sp_->attention);
    if (sel.dense) {
      linear_t(ctx_.cublas(), half_ptr(b_.block_out), half_ptr(b_.attn), half_ptr(lw.wo_t), B_, m_.d, m_.attn);
      return;
    }
    GatherHeadsArgs g;
    g.out = half_ptr(sp_->heads_c);
    g.src = half_ptr(b_.attn);
    g.heads = heads;
    g.count = count;
    g.batch = B_;
    g.num_heads = m_.heads;
    g.head_dim = m_.head_dim;
    g.max_heads = cap;
    g.ld_out = m_.d;
    launch_gather_heads(g, s_);
    sparse_down(half_ptr(sp_->heads_c), m_.d, lw.wo_t, m_.attn, heads, count, cap, m_.head_dim);
  }

  void mlp(int l, const __half* x) {
    const GpuLayerWeights& lw = w_.layers[l];
    if (sp_ == nullptr || sp_->mlp[l].dense) {
      linear(ctx_.cublas(), half_ptr(b_.fc1_out), x, half_ptr(lw.fc1_w), B_, m_.ffn, m_.d);
      BiasReluArgs a;
      a.x = half_ptr(b_.fc1_out);
      a.bias = half_ptr(lw.fc1_b);
      a.rows = B_;
      a.n = m_.ffn;
      launch_bias_relu(a, s_);
      linear_t(ctx_.cublas(), half_ptr(b_.block_out), half_ptr(b_.fc1_out), half_ptr(lw.fc2_t), B_, m_.d, m_.ffn);
      return;
    }
    const LayerSelection& sel = sp_->mlp[l];
    wait_for(sel);
    kernels::SparseMlpUpArgs u;
    u.h = half_ptr(sp_->mlp_h);
    u.x = x;
    u.w1 = half_ptr(lw.fc1_w);
    u.b1 = half_ptr(lw.fc1_b);
    u.idx = int_ptr(sel.idx);
    u.k_dev = int_ptr(sel.count);
    u.B = B_;
    u.d = m_.d;
    u.ffn = m_.ffn;
    u.max_k = sel.capacity;
    u.ld_h = sp_->mlp_ld;
    kernels::launch_sparse_mlp_up(u, s_);
    sparse_down(half_ptr(sp_->mlp_h), sp_->mlp_ld, lw.fc2_t, m_.ffn, int_ptr(sel.idx), int_ptr(sel.count),
                sel.capacity, 1);
  }

  void sparse_down(const __half* h, int ld_h, const at::Tensor& w2t, int rows, const int* idx, const int* count,
                   int cap, int rows_per_index) {
    kernels::SparseMlpDownArgs a;
    a.out = half_ptr(b_.block_out);
    a.workspace = sp_->down_workspace.data_ptr();
    a.h = h;
    a.w2t = half_ptr(w2t);
    a.idx = idx;
    a.k_dev = count;
    a.B = B_;
    a.d = m_.d;
    a.ffn_rows = rows;
    a.max_k = cap;
    a.ld_h = ld_h;
    a.rows_per_index = rows_per_index;
    kernels::launch_sparse_mlp_down(a, s_);
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
      const LayerSelection& sel = task.mlp ? sp_->mlp[task.layer] : sp_->heads[task.layer];
      kernels::LowrankPredictorArgs a;
      a.idx = int_ptr(sel.idx);
      a.k_dev = int_ptr(sel.count);
      a.scores = float_ptr(sp_->pred_scores);
      a.z = half_ptr(sp_->pred_z);
      a.z_partials = float_ptr(sp_->pred_partials);
      a.workspace = sp_->pred_workspace.data_ptr();
      a.x = p % 2 == 0 ? b_.attn_in(p / 2) : b_.mlp_in(p / 2);
      if (task.int8) {
        a.wa_i8 = static_cast<const int8_t*>(task.wa.data_ptr());
        a.wb_i8 = static_cast<const int8_t*>(task.wb.data_ptr());
        a.wa_scale = float_ptr(task.wa_scale);
        a.wb_scale = float_ptr(task.wb_scale);
      } else {
        a.wa = half_ptr(task.wa);
        a.wb = half_ptr(task.wb);
      }
      a.B = B_;
      a.d = m_.d;
      a.r = task.rank;
      a.n = task.n;
      a.mode = task.threshold ? kernels::SelectMode::kThreshold : kernels::SelectMode::kTopK;
      a.top_k = task.top_k;
      a.threshold = task.probability;
      a.max_k = sel.capacity;
      a.batch_union = task.batch_union;
      a.dense_above = task.dense_above;
      kernels::launch_lowrank_predictor(a, ctx_.side());
      DV_CUDA_CHECK(cudaEventRecord(sp_->task_events[t], ctx_.side()));
    }
  }

  void wait_for(const LayerSelection& sel) {
    if (sel.task >= 0) DV_CUDA_CHECK(cudaStreamWaitEvent(s_, sp_->task_events[sel.task], 0));
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
  bool side_used_ = false;
};

}  // namespace

void record_decode_step(const EngineContext& ctx, const GpuWeights& weights, DecodeBuffers& buffers,
                        SparseState* sparse, const BlockAllReduce& all_reduce) {
  StepRecorder(ctx, weights, buffers, sparse, all_reduce).run();
}

}  // namespace dv::engine
