// layer_ops.cpp: see layer_ops.h.
#include "engine/cuda/layer_ops.h"

#include "engine/cuda/model_dims.h"
#include "engine/cuda/split_sum.h"
#include "engine/cuda/step_switches.h"
#include "engine/cuda/tensor_ptr.h"

namespace dv::engine {
namespace {

// The fields sparse_qkv and decode_attention share: layer l's cache, the head list, the position and the shape.
template <class Args>
void fill_heads_and_cache(Args& a, const DecodeBuffers& b, const ModelDims& m, int l, const DeviceList& heads) {
  a.k_cache = b.k(l);
  a.v_cache = b.v(l);
  a.heads = heads.idx;
  a.num_selected = heads.count;
  a.pos = int_ptr(b.pos);
  a.batch = b.batch;
  a.num_heads = m.heads;
  a.head_dim = m.head_dim;
  a.max_len = b.max_len;
  a.max_heads = heads.cap;
}

}  // namespace

DeviceList layer_heads(const DecodeBuffers& b, const SparseState* sp, int l) {
  if (sp == nullptr || sp->heads[l].dense)
    return {int_ptr(b.all_heads), int_ptr(b.num_heads), static_cast<int>(b.all_heads.numel())};
  const LayerSelection& sel = sp->heads[l];
  return {int_ptr(sel.idx), int_ptr(sel.count), sel.capacity};
}

SparseQkvArgs layer_qkv_args(const GpuWeights& w, const DecodeBuffers& b, const SparseState* sp, int l,
                             const __half* x, const DeviceList& heads, bool fuse_ln, __half* q) {
  const ModelDims m = model_dims(w);
  const GpuLayerWeights& lw = w.layers[l];
  SparseQkvArgs a;
  fill_heads_and_cache(a, b, m, l, heads);
  a.q = q;
  a.x = x;
  if (fuse_ln) {
    a.ln_gamma = half_ptr(lw.attn_ln_w);
    a.ln_beta = half_ptr(lw.attn_ln_b);
  }
  a.w_qkv = half_ptr(lw.w_qkv);
  a.b_qkv = half_ptr(lw.b_qkv);
  a.d = m.d;
  a.prefetch = qkv_prefetch();
  a.pipelined = qkv_pipelined();
  a.loop_units = qkv_loop_units();
  a.sm_count = b.attention.num_sms;  // the device's, queried once by the engine context
  if (sp == nullptr) return a;
  const LayerKv& kv = sp->kv[l];
  int* forced = int_ptr(sp->forced) + static_cast<size_t>(l) * sp->forced.size(1);
  a.kv_valid = int_ptr(sp->kv_valid) + static_cast<size_t>(l) * m.heads * sparse_qkv_valid_slots(m.head_dim);
  if (sp->kv_ring > 0) {
    a.x_hist = half_ptr(sp->x_hist) + static_cast<size_t>(l) * b.batch * sp->kv_ring * m.d;
    a.ring = sp->kv_ring;
  }
  a.forced = forced;
  a.forced_count = forced + 2 * kSparseQkvMaxForced;
  a.catchup_counts = int_ptr(sp->catchup_counts);
  a.all_kv = kv.all_kv;
  a.max_forced = kv.max_forced;
  a.force_lag = kv.force_lag;
  if (sp->w_qkv_tiled[l].defined()) {  // [layers] entries, as the state's other per-layer fields
    a.w_qkv = half_ptr(sp->w_qkv_tiled[l]);
    a.tiled_weights = true;
  }
  return a;
}

KvAppendArgs layer_kv_append_args(const GpuWeights& w, const DecodeBuffers& b, int l) {
  const ModelDims m = model_dims(w);
  KvAppendArgs a;
  a.q = half_ptr(b.q);
  a.k_cache = b.k(l);
  a.v_cache = b.v(l);
  a.qkv = half_ptr(b.qkv);
  a.b_qkv = half_ptr(w.layers[l].b_qkv);
  a.pos = int_ptr(b.pos);
  a.batch = b.batch;
  a.num_heads = m.heads;
  a.head_dim = m.head_dim;
  a.max_len = b.max_len;
  return a;
}

DecodeAttentionArgs layer_attention_args(const GpuWeights& w, const DecodeBuffers& b, int l, const __half* q,
                                         const DeviceList& heads, __half* out, float* partials, int* tickets,
                                         int max_splits) {
  const ModelDims m = model_dims(w);
  DecodeAttentionArgs a;
  fill_heads_and_cache(a, b, m, l, heads);
  a.out = out;
  a.ld_out = m.attn;
  a.partials = partials;
  a.tickets = tickets;
  a.q = q;
  a.max_splits = max_splits;
  return a;
}

namespace {
// sparse_mlp_down over the rows of `list` in w2t ([rows, d], rows_per_index rows an index) on the compact h: out =
// resid + bias + the product, or the bare product without resid.
kernels::SparseMlpDownArgs down_args(const ModelDims& m, int batch, __half* out, const __half* resid,
                                     const at::Tensor& bias, const __half* h, int ld_h, const at::Tensor& w2t,
                                     const DeviceList& list, int rows, int rows_per_index, void* workspace) {
  kernels::SparseMlpDownArgs a;
  a.out = out;
  a.workspace = workspace;
  if (resid != nullptr) {
    a.resid = resid;
    a.b2 = half_ptr(bias);
  }
  a.h = h;
  a.w2t = half_ptr(w2t);
  a.idx = list.idx;
  a.k_dev = list.count;
  a.B = batch;
  a.d = m.d;
  a.ffn_rows = rows;
  a.max_k = list.cap;
  a.ld_h = ld_h;
  a.rows_per_index = rows_per_index;
  a.ordered_sums = down_ordered_sums();
  return a;
}
}  // namespace

kernels::SparseMlpDownArgs layer_out_proj_args(const GpuWeights& w, const DecodeBuffers& b, int l,
                                               const __half* attn, const DeviceList& heads, __half* out,
                                               const __half* resid, void* workspace) {
  const ModelDims m = model_dims(w);
  const GpuLayerWeights& lw = w.layers[l];
  return down_args(m, b.batch, out, resid, lw.out_b, attn, m.attn, lw.wo_t, heads, m.attn, m.head_dim, workspace);
}

kernels::FusedMlpArgs layer_mlp_args(const GpuWeights& w, const DecodeBuffers& b, int l, const __half* x,
                                     const DeviceList& neurons, bool fuse_ln, __half* out, const __half* resid,
                                     void* workspace, int num_sms) {
  const ModelDims m = model_dims(w);
  const GpuLayerWeights& lw = w.layers[l];
  kernels::FusedMlpArgs a;
  a.out = out;
  a.workspace = workspace;
  a.x = x;
  if (fuse_ln) {
    a.gamma = half_ptr(lw.mlp_ln_w);
    a.beta = half_ptr(lw.mlp_ln_b);
  }
  a.w1 = half_ptr(lw.fc1_w);
  a.b1 = half_ptr(lw.fc1_b);
  a.w2t = half_ptr(lw.fc2_t);
  if (resid != nullptr) {
    a.b2 = half_ptr(lw.fc2_b);
    a.resid = resid;
  }
  a.B = b.batch;
  a.d = m.d;
  a.ffn = m.ffn;
  a.idx = neurons.idx;
  a.k_dev = neurons.count;
  a.max_k = neurons.idx != nullptr ? neurons.cap : m.ffn;  // dense: the identity selection
  a.num_sms = num_sms;
  a.ordered_sums = fused_ordered_sums();
  return a;
}

kernels::SparseMlpUpArgs layer_mlp_up_args(const GpuWeights& w, const DecodeBuffers& b, const SparseState& sp, int l,
                                           const __half* x, const DeviceList& neurons) {
  const ModelDims m = model_dims(w);
  const GpuLayerWeights& lw = w.layers[l];
  kernels::SparseMlpUpArgs u;
  u.h = half_ptr(sp.mlp_h);
  u.x = x;
  u.w1 = half_ptr(lw.fc1_w);
  u.b1 = half_ptr(lw.fc1_b);
  u.idx = neurons.idx;
  u.k_dev = neurons.count;
  u.B = b.batch;
  u.d = m.d;
  u.ffn = m.ffn;
  u.max_k = neurons.cap;
  u.ld_h = sp.mlp_ld;
  return u;
}

kernels::SparseMlpDownArgs layer_mlp_down_args(const GpuWeights& w, int batch, int l, const DeviceList& neurons,
                                               const __half* h, int ld_h, __half* out, const __half* resid,
                                               void* workspace) {
  const ModelDims m = model_dims(w);
  const GpuLayerWeights& lw = w.layers[l];
  return down_args(m, batch, out, resid, lw.fc2_b, h, ld_h, lw.fc2_t, neurons, m.ffn, 1, workspace);
}

kernels::SparseMlpDownArgs layer_mlp_down_args(const GpuWeights& w, const DecodeBuffers& b, const SparseState& sp,
                                               int l, const DeviceList& neurons, __half* out, const __half* resid) {
  return layer_mlp_down_args(w, b.batch, l, neurons, half_ptr(sp.mlp_h), sp.mlp_ld, out, resid,
                             sp.down_workspace.data_ptr());
}

kernels::L2Warmup out_proj_warmup(const GpuWeights& w, int l, const DeviceList& heads, long long budget) {
  const ModelDims m = model_dims(w);
  kernels::L2Warmup a;
  a.base = reinterpret_cast<const char*>(half_ptr(w.layers[l].wo_t));
  a.idx = heads.idx;
  a.count = heads.count;
  a.max_count = heads.cap;
  a.num_indices = m.heads;
  a.block_bytes = static_cast<unsigned>(m.head_dim) * m.d * 2;
  a.budget_bytes = budget;
  return a;
}

namespace {
kernels::L2Warmup neuron_rows_warmup(const GpuWeights& w, const at::Tensor& rows, const DeviceList& neurons,
                                     long long budget) {
  const ModelDims m = model_dims(w);
  kernels::L2Warmup a;
  a.base = reinterpret_cast<const char*>(half_ptr(rows));
  a.idx = neurons.idx;
  a.count = neurons.idx != nullptr ? neurons.count : nullptr;
  a.max_count = neurons.idx != nullptr ? neurons.cap : m.ffn;
  a.num_indices = m.ffn;
  a.block_bytes = static_cast<unsigned>(m.d) * 2;
  a.budget_bytes = budget;
  return a;
}
}  // namespace

kernels::L2Warmup mlp_up_warmup(const GpuWeights& w, int l, const DeviceList& neurons, long long budget) {
  return neuron_rows_warmup(w, w.layers[l].fc1_w, neurons, budget);
}

kernels::L2Warmup mlp_down_warmup(const GpuWeights& w, int l, const DeviceList& neurons, long long budget) {
  return neuron_rows_warmup(w, w.layers[l].fc2_t, neurons, budget);
}

kernels::L2Warmup qkv_warmup(const GpuWeights& w, const SparseState* sp, int l, const DeviceList& heads,
                             long long budget) {
  const ModelDims m = model_dims(w);
  const bool tiled = sp != nullptr && sp->w_qkv_tiled[l].defined();
  kernels::L2Warmup a;
  a.base = reinterpret_cast<const char*>(half_ptr(tiled ? sp->w_qkv_tiled[l] : w.layers[l].w_qkv));
  a.idx = heads.idx;
  a.count = heads.count;
  a.max_count = heads.cap;
  a.num_indices = m.heads;
  // [H, 3, hd, d]: a head's q, k and v rows are one block, in the tiled copy too (16-row tiles, hd % 16 == 0).
  a.block_bytes = static_cast<unsigned>(3 * m.head_dim) * m.d * 2;
  a.budget_bytes = budget;
  return a;
}

}  // namespace dv::engine
