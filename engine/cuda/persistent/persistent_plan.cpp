// persistent_plan.cpp: the decode step as persistent-kernel ops (see persistent_plan.h).
#include "engine/cuda/persistent/persistent_plan.h"

#include <algorithm>
#include <map>

#include "engine/cuda/device_alloc.h"
#include "engine/cuda/layer_ops.h"
#include "engine/cuda/model_dims.h"
#include "engine/cuda/split_sum.h"
#include "engine/cuda/step_switches.h"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/common/error.h"
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/lowrank_predictor/predictor_plan.cuh"

namespace dv::engine {

using kernels::DecodeOpKind;
using kernels::DecodeOpParams;

namespace {

class PlanBuilder {
 public:
  PlanBuilder(const GpuWeights& w, const DecodeBuffers& b, const SparseState* sp, PersistentBuffers& pb, int ctas)
      : w_(w), b_(b), sp_(sp), pb_(pb), m_(model_dims(w)), B_(b.batch), ctas_(ctas),
        predictor_ops_(sp != nullptr ? sp->tasks.size() : 0) {}

  PersistentPlan build() {
    DV_CHECK(B_ >= 1 && B_ <= 8, "persistent decode path: batch {} (it runs batches of 1..8; use --decode-path graph)",
             B_);
    DV_CHECK(!w_.sharded(), "persistent decode path: tensor-parallel weights run on the graph path");
    if (sp_ != nullptr)
      for (const PredictorTask& t : sp_->tasks)
        DV_CHECK(!t.int8, "persistent decode path: int8 predictor weights are not supported (use --decode-path graph)");
    const bool pre = w_.config.do_layer_norm_before;
    const bool mlp_ln = pre && !pb_.split_mlp && kernels::fused_mlp_ln_fits(B_, m_.d);
    const int L = m_.layers;
    embed();
    point(0);
    for (int l = 0; l < L; ++l) {
      const GpuLayerWeights& lw = w_.layers[l];
      attention(l, pre ? b_.mlp_in(l) : normed(2 * l));
      if (!pre) layer_norm("attn_ln", l, normed(2 * l), lw.attn_ln_w, lw.attn_ln_b, b_.mlp_in(l));
      point(2 * l + 1);
      const __half* x_mlp = b_.mlp_in(l);
      const bool fold_ln = pre && pb_.split_mlp && fold_mlp_ln_ && sp_ != nullptr && !sp_->mlp[l].dense;
      if (pre && !mlp_ln && !fold_ln)
        x_mlp = layer_norm("mlp_ln", l, x_mlp, lw.mlp_ln_w, lw.mlp_ln_b, normed(2 * l + 1));
      mlp(l, x_mlp, mlp_ln || fold_ln, pre ? b_.attn_in(l + 1) : normed(2 * l + 1));
      if (!pre) layer_norm("mlp_ln", l, normed(2 * l + 1), lw.mlp_ln_w, lw.mlp_ln_b, b_.attn_in(l + 1));
      if (l + 1 < L) point(2 * (l + 1));
    }
    DV_CHECK(pending_scores_.empty(), "persistent plan: predictor scores without a consumer");
    lm_head(pre);
    for (int l = 0; l < L; ++l) kv_catchup(l);
    return std::move(plan_);
  }

 private:
  __half* normed(int i) const { return half_ptr(pb_.normed) + static_cast<size_t>(i) * B_ * m_.d; }
  __half* per_layer(const at::Tensor& t, int l) const { return half_ptr(t) + static_cast<size_t>(l) * (t.numel() / m_.layers); }
  void* workspace(int l, int which) const {
    return static_cast<char*>(pb_.workspace.data_ptr()) + (2 * static_cast<size_t>(l) + which) * pb_.workspace_stride;
  }

  int add(DecodeOpKind kind, const DecodeOpParams& p, const std::string& name, int layer,
          const std::vector<const void*>& index_reads, const std::vector<const void*>& reads,
          const std::vector<const void*>& writes) {
    kernels::ScheduleOp op;
    op.name = name;
    op.layer = layer;
    op.kind = static_cast<int>(kind);
    op.units = kernels::decode_op_units(kind, p);
    auto deps_of = [&](const std::vector<const void*>& ptrs, std::vector<int>& out) {
      for (const void* ptr : ptrs) {
        if (ptr == nullptr) continue;  // an absent input (no selection, no history)
        const auto it = producer_.find(ptr);
        if (it != producer_.end() && std::find(out.begin(), out.end(), it->second) == out.end())
          out.push_back(it->second);
      }
    };
    deps_of(index_reads, op.index_deps);
    deps_of(reads, op.input_deps);
    const int index = static_cast<int>(plan_.ops.size());
    for (const void* ptr : writes)
      if (ptr != nullptr) producer_[ptr] = index;
    plan_.ops.push_back(std::move(op));
    plan_.params.push_back(p);
    return index;
  }

  // Each op struct is filled as a whole object (its default member initializers run) and then becomes a
  // DecodeOpParams; see decode_op.cuh.
  void embed() {
    kernels::EmbedOp e;
    e.tokens = int_ptr(b_.tokens);
    e.positions = int_ptr(b_.positions);
    e.word_embed = half_ptr(w_.embed_tokens);
    e.B = B_;
    e.vocab = m_.vocab;
    e.d = m_.embed;
    e.max_positions = m_.max_positions;
    if (!w_.project_in.defined()) {
      e.out = b_.attn_in(0);
      e.pos_embed = half_ptr(w_.embed_positions);
      add(DecodeOpKind::kEmbed, e, "embed", -1, {}, {}, {e.out});
      return;
    }
    e.out = half_ptr(b_.emb);
    add(DecodeOpKind::kEmbed, e, "embed", -1, {}, {}, {e.out});
    kernels::RowGemvOp r = row_gemv(half_ptr(w_.project_in), half_ptr(b_.emb), m_.embed, m_.d);
    r.out = b_.attn_in(0);
    r.ld_out = m_.d;
    r.pos_embed = half_ptr(w_.embed_positions);
    r.positions = int_ptr(b_.positions);
    add(DecodeOpKind::kRowGemv, r, "project_in", -1, {}, {r.x}, {r.out});
  }

  // No bias, no ReLU, no position add: the projections and the LM head.
  kernels::RowGemvOp row_gemv(const __half* w, const __half* x, int K, int rows) const {
    kernels::RowGemvOp r;
    r.w = w;
    r.x = x;
    r.K = K;
    r.ldx = K;
    r.B = B_;
    r.max_rows = rows;
    return r;
  }

  const __half* layer_norm(const char* name, int l, const __half* x, const at::Tensor& gamma, const at::Tensor& beta,
                           __half* y) {
    kernels::LayerNormOp n;  // eps: OPT's 1e-5
    n.y = y;
    n.x = x;
    n.gamma = half_ptr(gamma);
    n.beta = half_ptr(beta);
    n.B = B_;
    n.d = m_.d;
    add(DecodeOpKind::kLayerNorm, n, name, l, {}, {x}, {y});
    flush_scores();
    return y;
  }

  // The selection of a block in this step (its select op emitted before the first consumer); every head or
  // neuron (idx null for the MLP) when the block is dense.
  DeviceList selection(bool mlp_block, int l) {
    if (sp_ != nullptr) {
      const LayerSelection& sel = mlp_block ? sp_->mlp[l] : sp_->heads[l];
      if (!sel.dense) {
        if (sel.task >= 0) select(sel.task);
        return {int_ptr(sel.idx), int_ptr(sel.count), sel.capacity};
      }
    }
    return mlp_block ? DeviceList{} : layer_heads(b_, nullptr, l);
  }

  // The attention block of layer l on the residual stream attn_in(l) (pre-LN: the QKV op normalizes it), out =
  // attn_in(l) + out_b + W_o product.
  void attention(int l, __half* out) {
    const bool pre = w_.config.do_layer_norm_before;
    const DeviceList heads = selection(false, l);
    kernels::SparseQkvOp qkv;
    // The sparse state's tiled w_qkv where it has one, unless DEJAVU_PERSISTENT_QKV=rowmajor.
    qkv.a = layer_qkv_args(w_, b_, sp_, l, b_.attn_in(l), heads, pre, per_layer(pb_.q, l));
    if (qkv.a.tiled_weights && !tiled_qkv_) {
      qkv.a.w_qkv = half_ptr(w_.layers[l].w_qkv);
      qkv.a.tiled_weights = false;
    }
    const SparseQkvArgs& q = qkv.a;
    add(q.tiled_weights ? DecodeOpKind::kQkvTiled : DecodeOpKind::kQkv,
        q.tiled_weights ? DecodeOpParams(kernels::SparseQkvTiledOp{qkv}) : DecodeOpParams(qkv), "qkv", l,
        {heads.idx, heads.count}, {q.x}, {q.q, q.k_cache, q.v_cache, q.x_hist, q.forced});
    flush_scores();
    if (q.max_forced > 0) catchup_[l] = kv_catchup_args(q);

    kernels::DecodeAttentionOp a;
    a.a = layer_attention_args(
        w_, b_, l, q.q, heads, per_layer(pb_.attn, l), float_ptr(pb_.partials) + l * pb_.partials_stride,
        int_ptr(pb_.tickets) + static_cast<size_t>(l) * B_ * m_.heads,
        decode_attention_max_splits(B_, heads.cap, b_.max_len, ctas_));
    const DecodeAttentionArgs& at = a.a;
    add(DecodeOpKind::kAttention, a, "attention", l, {heads.idx, heads.count}, {at.q, at.k_cache, at.v_cache},
        {at.out});

    kernels::PersistentOutProj o;
    o.a = layer_out_proj_args(w_, b_, l, at.out, heads, out, b_.attn_in(l), workspace(l, 0));
    const kernels::SparseMlpDownPlan plan = kernels::plan_sparse_mlp_down(
        B_, m_.d, heads.cap, m_.head_dim, out_target_);
    o.col_blocks = plan.col_blocks;
    o.splits = plan.splits;
    o.a.prefetch_unit = down_prefetch_;
    add(DecodeOpKind::kOutProj, o, "out_proj", l, {heads.idx, heads.count}, {at.out, b_.attn_in(l)}, {out});
    flush_scores();
  }

  // The MLP block of layer l on x (fuse_ln: the residual stream, normalized inside the op), out = mlp_in(l) +
  // fc2_b + fc2 product.
  void mlp(int l, const __half* x, bool fuse_ln, __half* out) {
    const DeviceList neurons = selection(true, l);
    if (pb_.split_mlp && neurons.idx != nullptr) return split_mlp(l, x, neurons, fuse_ln, out);
    kernels::PersistentMlp p;
    const int sms = persistent_mlp_sms(ctas_);
    p.a = layer_mlp_args(w_, b_, l, x, neurons, fuse_ln, out, b_.mlp_in(l), workspace(l, 1), sms);
    const kernels::FusedMlpPlan plan = kernels::plan_fused_mlp(B_, m_.d, p.a.max_k, sms);
    p.units = plan.units;
    p.stage_x = plan.stage_x;
    add(DecodeOpKind::kMlp, p, "mlp", l, {neurons.idx, neurons.count}, {x, b_.mlp_in(l)}, {out});
    flush_scores();
  }

  // The sparse MLP block as two ops on the normalized x (fold_ln: on the residual stream x, the layer norm
  // folded into the up projection, RowGemvLnOp): fc1's rows at the selection (bias, ReLU) into the compact
  // activations, then sparse_mlp_down from them, out = mlp_in(l) + fc2_b + the product.
  void split_mlp(int l, const __half* x, const DeviceList& neurons, bool fold_ln, __half* out) {
    __half* h = per_layer(pb_.mlp_h, l);
    kernels::RowGemvOp up = row_gemv(half_ptr(w_.layers[l].fc1_w), x, m_.d, neurons.cap);
    up.idx = neurons.idx;
    up.count = neurons.count;
    up.bias = half_ptr(w_.layers[l].fc1_b);
    up.relu = true;
    up.out = h;
    up.ld_out = m_.ffn;
    up.compact = true;
    if (fold_ln) {
      kernels::RowGemvLnOp up_ln;
      static_cast<kernels::RowGemvOp&>(up_ln) = up;
      up_ln.ln_gamma = half_ptr(w_.layers[l].mlp_ln_w);
      up_ln.ln_beta = half_ptr(w_.layers[l].mlp_ln_b);
      add(DecodeOpKind::kRowGemvLn, up_ln, "mlp_up", l, {neurons.idx, neurons.count}, {x}, {h});
      flush_scores();  // where the layer norm op would have flushed them
    } else {
      add(DecodeOpKind::kRowGemv, up, "mlp_up", l, {neurons.idx, neurons.count}, {x}, {h});
    }
    kernels::PersistentOutProj down;
    down.a = layer_mlp_down_args(w_, B_, l, neurons, h, m_.ffn, out, b_.mlp_in(l), workspace(l, 1));
    const kernels::SparseMlpDownPlan plan =
        kernels::plan_sparse_mlp_down(B_, m_.d, neurons.cap, 1, out_target_);
    down.col_blocks = plan.col_blocks;
    down.splits = plan.splits;
    down.a.prefetch_unit = down_prefetch_;
    add(DecodeOpKind::kOutProj, down, "mlp_down", l, {neurons.idx, neurons.count}, {h, b_.mlp_in(l)}, {out});
    flush_scores();
  }

  // Layer l's forced K/V catch-up (heads its QKV op listed): at the end of the step, where no op waits for it.
  void kv_catchup(int l) {
    const auto it = catchup_.find(l);
    if (it == catchup_.end()) return;
    kernels::KvCatchupOp p;
    p.a = it->second;
    const KvCatchupArgs& c = p.a;
    add(c.tiled_weights ? DecodeOpKind::kKvCatchupTiled : DecodeOpKind::kKvCatchup,
        c.tiled_weights ? DecodeOpParams(kernels::KvCatchupTiledOp{p}) : DecodeOpParams(p), "kv_catchup", l,
        {c.forced}, {c.x_hist}, {c.k_cache, c.v_cache});
  }

  void lm_head(bool pre) {
    const __half* x = b_.attn_in(m_.layers);
    if (pre && w_.final_ln_w.defined())
      x = layer_norm("final_ln", -1, x, w_.final_ln_w, w_.final_ln_b, half_ptr(b_.final_x));
    if (w_.project_out.defined()) {
      kernels::RowGemvOp r = row_gemv(half_ptr(w_.project_out), x, m_.d, m_.embed);
      r.out = half_ptr(b_.head_in);
      r.ld_out = m_.embed;
      add(DecodeOpKind::kRowGemv, r, "project_out", -1, {}, {x}, {r.out});
      x = r.out;
    }
    kernels::RowGemvOp r = row_gemv(half_ptr(w_.lm_head), x, m_.embed, m_.vocab);
    r.epilogue = kernels::RowEpilogue::kLogits;
    r.out_f32 = float_ptr(b_.logits);
    r.ld_out = m_.vocab;
    r.argmax = reinterpret_cast<unsigned long long*>(pb_.argmax.data_ptr());
    add(DecodeOpKind::kRowGemv, r, "lm_head", -1, {}, {x}, {r.out_f32, r.argmax});
    kernels::ArgmaxOp a;
    a.tokens = int_ptr(b_.tokens);
    a.argmax = r.argmax;
    a.B = B_;
    add(DecodeOpKind::kArgmax, a, "argmax", -1, {}, {r.argmax}, {a.tokens});
  }

  // Snapshot p (2l: attention input of layer l, 2l + 1: its MLP input) exists: the z op of every predictor
  // that reads it; its scores op follows the next layer op (DEJAVU_PERSISTENT_SCORES=early: right after z).
  void point(int p) {
    if (sp_ == nullptr) return;
    for (size_t t = 0; t < sp_->tasks.size(); ++t) {
      const PredictorTask& task = sp_->tasks[t];
      if (task.input_point != p) continue;
      predictor_ops_[t] = kernels::make_lowrank_predictor_ops<8, false>(
          predictor_args(static_cast<int>(t), p % 2 == 0 ? b_.attn_in(p / 2) : b_.mlp_in(p / 2)));
      DecodeOpParams z;
      z.predictor_z = predictor_ops_[t].z;
      side(add(DecodeOpKind::kPredictorZ, z, task.mlp ? "mlp_predictor_z" : "head_predictor_z", task.layer, {},
               {z.predictor_z.x}, {z.predictor_z.z}));
      pending_scores_.push_back(static_cast<int>(t));
    }
    if (early_scores_) flush_scores();
  }

  // Task t's call of the predictor: this step's buffers of the task, its selection's idx / count.
  // Task t's call with this task's own buffers (tasks' ops may run at once here).
  kernels::LowrankPredictorArgs predictor_args(int t, const __half* x) const {
    kernels::LowrankPredictorArgs a = sp_->predictor_args(t, x);
    a.scores = float_ptr(pb_.pred_scores) + pb_.score_offset[t];
    a.z = half_ptr(pb_.pred_z) + pb_.z_offset[t];
    a.z_partials = float_ptr(pb_.pred_partials) + pb_.partial_offset[t];
    a.workspace = static_cast<char*>(pb_.pred_workspace.data_ptr()) + pb_.workspace_offset[t];
    kernels::check_lowrank_predictor_args(a);
    DV_CHECK(kernels::lowrank_batch_tile(B_) == 8, "persistent plan: batch {} outside the predictor's tile 8", B_);
    return a;
  }

  void scores(int t) {
    const PredictorTask& task = sp_->tasks[t];
    DecodeOpParams s;
    s.predictor_scores = predictor_ops_[t].scores;
    side(add(DecodeOpKind::kPredictorScores, s, task.mlp ? "mlp_predictor_scores" : "head_predictor_scores",
             task.layer, {}, {s.predictor_scores.z}, {s.predictor_scores.scores}));
  }

  void flush_scores() {
    const std::vector<int> pending = std::move(pending_scores_);
    pending_scores_.clear();
    for (int t : pending) scores(t);
  }

  // The selection of task t, emitted once, right before its first consumer.
  void select(int t) {
    if (std::find(selected_.begin(), selected_.end(), t) != selected_.end()) return;
    if (std::find(pending_scores_.begin(), pending_scores_.end(), t) != pending_scores_.end()) flush_scores();
    selected_.push_back(t);
    const PredictorTask& task = sp_->tasks[t];
    DecodeOpParams p;
    p.predictor_select = predictor_ops_[t].select;
    side(add(DecodeOpKind::kPredictorSelect, p, task.mlp ? "mlp_select" : "head_select", task.layer, {},
             {p.predictor_select.scores}, {p.predictor_select.idx, p.predictor_select.k_dev}));
  }

  // The predictors' ops run on the side CTAs when the schedule has them (decode_schedule.h).
  void side(int op) { plan_.ops[op].side = true; }

  const GpuWeights& w_;
  const DecodeBuffers& b_;
  const SparseState* sp_;
  PersistentBuffers& pb_;
  const ModelDims m_;
  const int B_, ctas_;
  const bool fold_mlp_ln_ = persistent_fold_mlp_ln();
  const bool early_scores_ = persistent_early_scores();
  const bool tiled_qkv_ = persistent_tiled_qkv();
  const int out_target_ = persistent_out_proj_target(ctas_);  // W_o's and the down projection's units (read once)
  const bool down_prefetch_ = persistent_down_prefetch();
  PersistentPlan plan_;
  std::map<const void*, int> producer_;
  std::vector<int> pending_scores_, selected_;
  std::vector<kernels::LowrankPredictorOps<8, false>> predictor_ops_;  // per task, built at its input point
  std::map<int, KvCatchupArgs> catchup_;  // per layer with a forced catch-up: its op, queued at the end
};

}  // namespace

PersistentPlan plan_persistent_step(const GpuWeights& w, const DecodeBuffers& b, const SparseState* sparse,
                                    PersistentBuffers& pb, int num_ctas) {
  return PlanBuilder(w, b, sparse, pb, num_ctas).build();
}

}  // namespace dv::engine
