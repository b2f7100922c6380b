// decode_step.cpp: the launch sequence of one decode step (see decode_step.h).
#include "engine/cuda/decode_step.h"

#include "engine/cuda/cublas_ops.h"
#include "engine/cuda/engine_kernels.cuh"
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
      : ctx_(ctx), w_(w), b_(b), sp_(sp), all_reduce_(all_reduce), c_(w.config), s_(ctx.main()) {
    B_ = b.batch;
    d_ = static_cast<int>(c_.hidden_size);
    H_ = w.heads();  // a tensor-parallel rank: its own heads and neurons
    hd_ = static_cast<int>(c_.head_dim());
    a_ = H_ * hd_;
    ffn_ = w.ffn();
    e_ = static_cast<int>(c_.word_embed_proj_dim);
    L_ = w.num_layers();
  }

  void run() {
    const bool pre = c_.do_layer_norm_before;
    embed();
    point(0);
    if (pre) layer_norm(b_.attn_in(0), nullptr, nullptr, nullptr, half_ptr(b_.ln), w_.layers[0].attn_ln_w,
                        w_.layers[0].attn_ln_b);
    for (int l = 0; l < L_; ++l) {
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
      } else if (l + 1 < L_) {
        const GpuLayerWeights& next = w_.layers[l + 1];
        layer_norm(half_ptr(b_.block_out), b_.mlp_in(l), half_ptr(lw.fc2_b), b_.attn_in(l + 1), half_ptr(b_.ln),
                   next.attn_ln_w, next.attn_ln_b);
      } else if (w_.final_ln_w.defined()) {
        layer_norm(half_ptr(b_.block_out), b_.mlp_in(l), half_ptr(lw.fc2_b), b_.attn_in(L_), half_ptr(b_.final_x),
                   w_.final_ln_w, w_.final_ln_b);
      } else {
        BiasResidualArgs a;
        a.out = b_.attn_in(L_);
        a.x = half_ptr(b_.block_out);
        a.residual = b_.mlp_in(l);
        a.bias = half_ptr(lw.fc2_b);
        a.rows = B_;
        a.n = d_;
        launch_bias_residual(a, s_);
      }
      if (l + 1 < L_) point(2 * (l + 1));
    }
    lm_head(pre && w_.final_ln_w.defined() ? half_ptr(b_.final_x) : b_.attn_in(L_));
    if (side_used_) {
      DV_CUDA_CHECK(cudaEventRecord(sp_->join_event[0], ctx_.side()));
      DV_CUDA_CHECK(cudaStreamWaitEvent(s_, sp_->join_event[0], 0));
    }
    launch_advance_position(int_ptr(b_.pos), int_ptr(b_.positions), B_, s_);
  }

 private:
  void embed() {
    EmbeddingArgs a;
    a.tokens = int_ptr(b_.tokens);
    a.positions = int_ptr(b_.positions);
    a.word_embed = half_ptr(w_.embed_tokens);
    a.rows = B_;
    a.vocab = static_cast<int>(c_.vocab_size);
    a.d = e_;
    a.max_positions = static_cast<int>(c_.max_position_embeddings);
    if (!w_.project_in.defined()) {
      a.out = b_.attn_in(0);
      a.pos_embed = half_ptr(w_.embed_positions);
      launch_embedding(a, s_);
      return;
    }
    a.out = half_ptr(b_.emb);
    launch_embedding(a, s_);
    linear(ctx_.cublas(), b_.attn_in(0), half_ptr(b_.emb), half_ptr(w_.project_in), B_, d_, e_);
    PositionAddArgs p;
    p.x = b_.attn_in(0);
    p.positions = int_ptr(b_.positions);
    p.pos_embed = half_ptr(w_.embed_positions);
    p.rows = B_;
    p.d = d_;
    p.max_positions = static_cast<int>(c_.max_position_embeddings);
    launch_position_add(p, s_);
  }

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
    a.d = d_;
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
    a.num_heads = H_;
    a.head_dim = hd_;
    a.max_len = b_.max_len;
    a.max_heads = cap;
    a.max_splits = scratch.splits(cap);
    launch_decode_attention(a, s_);
  }

  // Writes the block's projection output (no bias, no residual) to block_out.
  void attention(int l, const __half* x) {
    const GpuLayerWeights& lw = w_.layers[l];
    if (sp_ == nullptr) {
      linear(ctx_.cublas(), half_ptr(b_.qkv), x, half_ptr(lw.w_qkv), B_, 3 * a_, d_);
      KvAppendArgs a;
      a.q = half_ptr(b_.q);
      a.k_cache = b_.k(l);
      a.v_cache = b_.v(l);
      a.qkv = half_ptr(b_.qkv);
      a.b_qkv = half_ptr(lw.b_qkv);
      a.pos = int_ptr(b_.pos);
      a.batch = B_;
      a.num_heads = H_;
      a.head_dim = hd_;
      a.max_len = b_.max_len;
      launch_kv_append(a, s_);
      decode_attention(l, int_ptr(b_.all_heads), int_ptr(b_.num_heads), H_, b_.attention);
      linear_t(ctx_.cublas(), half_ptr(b_.block_out), half_ptr(b_.attn), half_ptr(lw.wo_t), B_, d_, a_);
      return;
    }
    const LayerSelection& sel = sp_->heads[l];
    wait_for(sel);
    const int* heads = sel.dense ? int_ptr(b_.all_heads) : int_ptr(sel.idx);
    const int* count = sel.dense ? int_ptr(b_.num_heads) : int_ptr(sel.count);
    const int cap = sel.dense ? H_ : sel.capacity;
    SparseQkvArgs q;
    q.q = half_ptr(b_.q);
    q.k_cache = b_.k(l);
    q.v_cache = b_.v(l);
    q.x_hist = half_ptr(sp_->x_hist) + static_cast<size_t>(l) * B_ * b_.max_len * d_;
    q.kv_valid = int_ptr(sp_->kv_valid) + static_cast<size_t>(l) * H_ * sparse_qkv_valid_slots(hd_);
    q.x = x;
    q.w_qkv = half_ptr(lw.w_qkv);
    q.b_qkv = half_ptr(lw.b_qkv);
    q.heads = heads;
    q.num_selected = count;
    q.pos = int_ptr(b_.pos);
    q.batch = B_;
    q.num_heads = H_;
    q.head_dim = hd_;
    q.max_len = b_.max_len;
    q.max_heads = cap;
    launch_sparse_qkv(q, s_);
    decode_attention(l, heads, count, cap, sp_->attention);
    if (sel.dense) {
      linear_t(ctx_.cublas(), half_ptr(b_.block_out), half_ptr(b_.attn), half_ptr(lw.wo_t), B_, d_, a_);
      return;
    }
    GatherHeadsArgs g;
    g.out = half_ptr(sp_->heads_c);
    g.src = half_ptr(b_.attn);
    g.heads = heads;
    g.count = count;
    g.batch = B_;
    g.num_heads = H_;
    g.head_dim = hd_;
    g.max_heads = cap;
    g.ld_out = d_;
    launch_gather_heads(g, s_);
    sparse_down(half_ptr(sp_->heads_c), d_, lw.wo_t, a_, heads, count, cap, hd_);
  }

  void mlp(int l, const __half* x) {
    const GpuLayerWeights& lw = w_.layers[l];
    if (sp_ == nullptr || sp_->mlp[l].dense) {
      linear(ctx_.cublas(), half_ptr(b_.fc1_out), x, half_ptr(lw.fc1_w), B_, ffn_, d_);
      BiasReluArgs a;
      a.x = half_ptr(b_.fc1_out);
      a.bias = half_ptr(lw.fc1_b);
      a.rows = B_;
      a.n = ffn_;
      launch_bias_relu(a, s_);
      linear_t(ctx_.cublas(), half_ptr(b_.block_out), half_ptr(b_.fc1_out), half_ptr(lw.fc2_t), B_, d_, ffn_);
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
    u.d = d_;
    u.ffn = ffn_;
    u.max_k = sel.capacity;
    u.ld_h = sp_->mlp_ld;
    kernels::launch_sparse_mlp_up(u, s_);
    sparse_down(half_ptr(sp_->mlp_h), sp_->mlp_ld, lw.fc2_t, ffn_, int_ptr(sel.idx), int_ptr(sel.count),
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
    a.d = d_;
    a.ffn_rows = rows;
    a.max_k = cap;
    a.ld_h = ld_h;
    a.rows_per_index = rows_per_index;
    kernels::launch_sparse_mlp_down(a, s_);
  }

  void lm_head(const __half* x) {
    const __half* in = x;
    if (w_.project_out.defined()) {
      linear(ctx_.cublas(), half_ptr(b_.head_in), x, half_ptr(w_.project_out), B_, e_, d_);
      in = half_ptr(b_.head_in);
    }
    linear_f32_out(ctx_.cublas(), float_ptr(b_.logits), in, half_ptr(w_.lm_head), B_, static_cast<int>(c_.vocab_size),
                   e_);
  }

  // Tensor parallelism: block_out holds this rank's partial sum of the block's projection; the sum over ranks
  // follows, before the bias, residual and layer norm every rank then applies alike.
  void reduce_block_out() {
    if (all_reduce_) all_reduce_(half_ptr(b_.block_out), static_cast<size_t>(B_) * d_, s_);
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
      a.d = d_;
      a.r = task.rank;
      a.n = task.n;
      a.mode = task.threshold ? kernels::SelectMode::kThreshold : kernels::SelectMode::kTopK;
      a.top_k = task.top_k;
      a.threshold = task.probability;
      a.max_k = sel.capacity;
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
  cudaStream_t s_;
  int B_ = 0, d_ = 0, H_ = 0, hd_ = 0, a_ = 0, ffn_ = 0, e_ = 0, L_ = 0;  // a_: attention width H_ * hd_
  bool side_used_ = false;
};

}  // namespace

void record_decode_step(const EngineContext& ctx, const GpuWeights& weights, DecodeBuffers& buffers,
                        SparseState* sparse, const BlockAllReduce& all_reduce) {
  StepRecorder(ctx, weights, buffers, sparse, all_reduce).run();
}

}  // namespace dv::engine
