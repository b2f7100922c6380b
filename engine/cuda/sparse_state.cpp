// sparse_state.cpp: building the selection state and predictor tasks from a SparseSpec.
#include "engine/cuda/sparse_state.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <tuple>

#include "engine/cuda/device_alloc.h"
#include "engine/cuda/split_sum.h"
#include "engine/cuda/tensor_ptr.h"
#include "engine/cuda/tiled_qkv.h"
#include "engine/io/checkpoint.h"
#include "engine/models/int8_rows.h"
#include "kernels/common/cuda_check.h"
#include "kernels/common/sparsity_rule.h"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv::engine {

PredictorInputKind parse_predictor_input_kind(const std::string& name) {
  if (name == "attn_input") return PredictorInputKind::kAttnInput;
  if (name == "mlp_input") return PredictorInputKind::kMlpInput;
  if (name == "prev_attn_input") return PredictorInputKind::kPrevAttnInput;
  if (name == "prev_mlp_input") return PredictorInputKind::kPrevMlpInput;
  DV_FAIL("unknown predictor input '{}' (attn_input, mlp_input, prev_attn_input, prev_mlp_input)", name);
}

KvHeads parse_kv_heads(const std::string& name) {
  if (name == "auto") return KvHeads::kAuto;
  if (name == "selected") return KvHeads::kSelected;
  if (name == "all") return KvHeads::kAll;
  DV_FAIL("unknown K/V heads mode '{}' (auto, selected, all)", name);
}

int kept_count(double density, int n) {
  DV_CHECK(density > 0 && density <= 1, "density {} must lie in (0, 1]", density);
  return static_cast<int>(dv::kept_count(density, n));
}

std::vector<int> random_subset(int n, int k, uint64_t seed) {
  std::vector<int> all(n);
  std::iota(all.begin(), all.end(), 0);
  std::mt19937_64 rng(seed);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(k);
  std::sort(all.begin(), all.end());  // ascending: the friendliest order for the kernels' DRAM streams
  return all;
}

namespace {

// Snapshot point of a predictor input for `layer` (2l = attention input, 2l + 1 = MLP input).
int input_point(PredictorInputKind kind, int layer, bool mlp_block) {
  switch (kind) {
    case PredictorInputKind::kAttnInput: return 2 * layer;
    case PredictorInputKind::kMlpInput:
      DV_CHECK(mlp_block, "head predictors cannot read mlp_input: heads are chosen before the MLP input exists");
      return 2 * layer + 1;
    case PredictorInputKind::kPrevAttnInput: return layer > 0 ? 2 * (layer - 1) : 0;
    case PredictorInputKind::kPrevMlpInput: return layer > 0 ? 2 * (layer - 1) + 1 : 0;
  }
  return 0;
}

void check_list(const std::vector<int>& idx, int n, int capacity, const char* what, int layer) {
  DV_CHECK(static_cast<int>(idx.size()) <= capacity, "sparse {} layer {}: {} indices exceed the capacity {}", what,
           layer, idx.size(), capacity);
  std::vector<int> sorted = idx;
  std::sort(sorted.begin(), sorted.end());
  for (size_t i = 0; i < sorted.size(); ++i) {
    DV_CHECK(sorted[i] >= 0 && sorted[i] < n, "sparse {} layer {}: index {} outside [0, {})", what, layer, sorted[i],
             n);
    DV_CHECK(i == 0 || sorted[i] != sorted[i - 1], "sparse {} layer {}: index {} repeated", what, layer, sorted[i]);
  }
}

void upload_list(LayerSelection& s, const std::vector<int>& idx, cudaStream_t stream) {
  // Pageable sources: cudaMemcpyAsync returns once the bytes are staged, so the vectors may die right after.
  const int count = static_cast<int>(idx.size());
  if (count > 0)
    DV_CUDA_CHECK(cudaMemcpyAsync(int_ptr(s.idx), idx.data(), idx.size() * sizeof(int), cudaMemcpyHostToDevice, stream));
  DV_CUDA_CHECK(cudaMemcpyAsync(int_ptr(s.count), &count, sizeof(int), cudaMemcpyHostToDevice, stream));
}

// Predicted selections of more indices than this become all n.
int crossover_count(const BlockSpec& spec, int n) {
  DV_CHECK(spec.dense_crossover > 0 && spec.dense_crossover <= 1, "dense_crossover {} must lie in (0, 1]",
           spec.dense_crossover);
  return static_cast<int>(std::floor(spec.dense_crossover * n + 1e-9));
}

// Index capacity of a predicted selection: every index for threshold mode; for top-k the union of the rows'
// k (k for the max union), or n once that union could pass the crossover.
int predicted_capacity(const BlockSpec& spec, int n, int k, int batch) {
  if (spec.threshold) return n;
  const int rows = kernels::lowrank_selection_rows(batch, kernels::SelectMode::kTopK, spec.batch_union);
  const int united = static_cast<int>(std::min<int64_t>(n, static_cast<int64_t>(rows) * k));
  return united > crossover_count(spec, n) ? n : united;
}

// One block kind across layers: capacities, fixed lists, predictor tasks.
void build_block(const BlockSpec& spec, const SparseSpec& whole, bool mlp_block, const GpuWeights& w, int batch,
                 std::vector<LayerSelection>& out, std::vector<PredictorTask>& tasks) {
  const OptConfig& c = w.config;
  const int L = w.num_layers();
  const int n = mlp_block ? w.ffn() : w.heads();  // a tensor-parallel rank selects within its own slice
  const int d = static_cast<int>(c.hidden_size);
  const char* what = mlp_block ? "MLP" : "heads";
  out.assign(L, LayerSelection{});
  if (spec.source == SelectionSource::kFixed && !spec.lists.empty())
    DV_CHECK(static_cast<int>(spec.lists.size()) >= L, "sparse {}: {} fixed lists for {} layers", what,
             spec.lists.size(), L);
  if (spec.source == SelectionSource::kPredictor)
    DV_CHECK(static_cast<int>(spec.predictors.size()) >= L, "sparse {}: {} predictors for {} layers", what,
             spec.predictors.size(), L);
  for (int l = 0; l < L; ++l) {
    LayerSelection& s = out[l];
    s.source = spec.source;
    if (spec.source == SelectionSource::kDense || whole.is_dense(l)) continue;
    const double density = spec.density_of(l);
    if (spec.source == SelectionSource::kOracle) {
      // Chosen per token by the prefill from the dense values; the decode step has none (refused there).
      s.dense = false;
      s.capacity = kept_count(density, n);
      s.idx = at::zeros({s.capacity}, cuda_options(at::kInt));
      s.count = at::zeros({1}, cuda_options(at::kInt));
      continue;
    }
    const LowRankWeights* p = spec.source == SelectionSource::kPredictor ? &spec.predictors[l] : nullptr;
    if (p != nullptr && !p->w1.defined()) continue;  // untrained layer: dense
    s.dense = false;
    if (p == nullptr) {
      const bool given = !spec.lists.empty();
      s.capacity = given ? std::max<int>(1, static_cast<int>(spec.lists[l].size())) : kept_count(density, n);
    } else {
      s.capacity = predicted_capacity(spec, n, kept_count(density, n), batch);
    }
    s.idx = at::zeros({s.capacity}, cuda_options(at::kInt));
    s.count = at::zeros({1}, cuda_options(at::kInt));
    if (p == nullptr) {
      const std::vector<int> list = spec.lists.empty()
                                        ? random_subset(n, s.capacity, spec.seed * 0x9E3779B97F4A7C15ull + l * 2 + mlp_block)
                                        : spec.lists[l];
      check_list(list, n, s.capacity, what, l);
      upload_list(s, list, nullptr);
      continue;
    }
    DV_CHECK(p->w1.dim() == 2 && p->w2.dim() == 2 && p->w1.size(1) == d && p->w2.size(0) == n &&
                 p->w2.size(1) == p->w1.size(0),
             "sparse {} layer {}: predictor shapes w1 {} / w2 {} do not fit d = {}, n = {}", what, l,
             shape_str(p->w1.sizes().vec()), shape_str(p->w2.sizes().vec()), d, n);
    PredictorTask t;
    t.mlp = mlp_block;
    t.layer = l;
    t.input_point = input_point(spec.input, l, mlp_block);
    t.need_point = mlp_block ? 2 * l + 1 : 2 * l;
    t.int8 = spec.int8_weights;
    if (t.int8) {
      Int8Rows qa = quantize_rows_int8(p->w1.to(at::Device(at::kCUDA)));
      Int8Rows qb = quantize_rows_int8(p->w2.to(at::Device(at::kCUDA)));
      t.wa = qa.q;
      t.wa_scale = qa.scale;
      t.wb = qb.q;
      t.wb_scale = qb.scale;
    } else {
      t.wa = p->w1.to(at::Device(at::kCUDA), at::kHalf).contiguous();
      t.wb = p->w2.to(at::Device(at::kCUDA), at::kHalf).contiguous();
    }
    t.rank = static_cast<int>(p->w1.size(0));
    t.n = n;
    t.top_k = kept_count(density, n);
    t.threshold = spec.threshold;
    t.probability = spec.probability;
    t.batch_union = spec.batch_union;
    // A capacity below n means the union cannot pass the crossover (count <= capacity <= crossover_count):
    // n (never above) then, since the select op may only fill all n into a capacity of n.
    t.dense_above = s.capacity < n ? n : crossover_count(spec, n);
    DV_CHECK(t.rank % 8 == 0, "sparse {} layer {}: predictor rank {} must be a multiple of 8", what, l, t.rank);
    s.task = static_cast<int>(tasks.size());
    tasks.push_back(std::move(t));
  }
}

// Per layer: all heads' K/V where the batch's head union is near total or the catch-up cannot be bounded.
std::vector<LayerKv> plan_kv(const SparseSpec& spec, const std::vector<LayerSelection>& heads, int batch, int H) {
  std::vector<LayerKv> kv(heads.size());
  const KvCatchupPlan plan = sparse_qkv_catchup_plan(batch, H, kSparseQkvRing);
  for (size_t l = 0; l < heads.size(); ++l) {
    if (heads[l].dense) continue;  // every head selected: nothing is ever missing
    const double density = spec.heads.source == SelectionSource::kPredictor || spec.heads.lists.empty()
                               ? spec.heads.density_of(static_cast<int>(l))
                               : static_cast<double>(heads[l].capacity) / H;
    const double union_share = 1.0 - std::pow(1.0 - std::clamp(density, 0.0, 1.0), batch);
    const bool all = spec.kv_heads == KvHeads::kAll ||
                     (spec.kv_heads == KvHeads::kAuto && (union_share >= 0.9 || plan.force_lag < 1));
    DV_CHECK(all || plan.force_lag >= 1,
             "sparse heads layer {}: K/V catch-up cannot be bounded at batch {} with {} heads (use all heads' K/V)", l,
             batch, H);
    kv[l].all_kv = all;
    if (!all) {
      kv[l].max_forced = plan.max_forced;
      kv[l].force_lag = plan.force_lag;
    }
  }
  return kv;
}

}  // namespace

SparseState::SparseState(const GpuWeights& w, const SparseSpec& spec, int batch, int max_len, int num_sms) {
  const OptConfig& c = w.config;
  const int L = w.num_layers();
  const int64_t B = batch, d = c.hidden_size, H = w.heads(), hd = c.head_dim();
  ffn_ = w.ffn();
  num_heads_ = static_cast<int>(H);
  head_dim_ = static_cast<int>(hd);
  batch_ = batch;
  build_block(spec.mlp, spec, true, w, batch, mlp, tasks);
  build_block(spec.heads, spec, false, w, batch, heads, tasks);
  for (const auto* sels : {&mlp, &heads})
    for (const auto& s : *sels) has_oracle = has_oracle || (!s.dense && s.source == SelectionSource::kOracle);
  // Side-stream order; the task index stored in each selection must follow the sort.
  std::vector<int> order(tasks.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return std::tie(tasks[a].input_point, tasks[a].need_point) < std::tie(tasks[b].input_point, tasks[b].need_point);
  });
  std::vector<PredictorTask> sorted;
  std::vector<int> new_index(tasks.size());
  for (size_t i = 0; i < order.size(); ++i) {
    new_index[order[i]] = static_cast<int>(i);
    sorted.push_back(std::move(tasks[order[i]]));
  }
  tasks = std::move(sorted);
  for (auto* sels : {&mlp, &heads})
    for (auto& s : *sels)
      if (s.task >= 0) s.task = new_index[s.task];

  const auto half = cuda_options(at::kHalf);
  kv = plan_kv(spec, heads, batch, static_cast<int>(H));
  // The ring replaces a history of every position: [L, B, 128, d] instead of [L, B, max_len, d].
  kv_ring = std::any_of(kv.begin(), kv.end(), [](const LayerKv& k) { return k.max_forced > 0; }) ? kSparseQkvRing : 0;
  if (kv_ring > 0) x_hist = device_zeros({L, B, kv_ring, d}, at::kHalf, "sparse K/V catch-up input ring x_hist", batch);
  kv_valid = at::zeros({L, H, sparse_qkv_valid_slots(static_cast<int>(hd))}, cuda_options(at::kInt));
  forced = at::zeros({L, 2 * kSparseQkvMaxForced + 1}, cuda_options(at::kInt));
  catchup_counts = at::zeros({max_len, 3}, cuda_options(at::kInt));
  catchup_fork = EventList(static_cast<size_t>(L));
  catchup_join = EventList(1);
  int mlp_cap = 1, head_cap = 1, max_rank = 8;
  size_t scores_floats = 4, partial_floats = 4, ws_bytes = 16;
  for (const auto& s : mlp) mlp_cap = std::max(mlp_cap, s.capacity);
  for (const auto& s : heads) head_cap = std::max(head_cap, s.dense ? static_cast<int>(H) : s.capacity);
  for (const auto& t : tasks) {
    max_rank = std::max(max_rank, t.rank);
    const auto mode = t.threshold ? kernels::SelectMode::kThreshold : kernels::SelectMode::kTopK;
    scores_floats = std::max(scores_floats, kernels::lowrank_predictor_scores_floats(batch, t.n, mode, t.batch_union));
    partial_floats = std::max(partial_floats, kernels::lowrank_predictor_partials_floats(batch, static_cast<int>(d), t.rank));
    ws_bytes = std::max(ws_bytes, kernels::lowrank_predictor_workspace_bytes(batch, static_cast<int>(d), t.rank, t.n));
    const double weights = static_cast<double>(t.rank) * d + static_cast<double>(t.n) * t.rank;
    predictor_bytes += t.int8 ? weights + 4.0 * (t.rank + t.n) : 2.0 * weights;
  }
  mlp_ld = (mlp_cap + 7) / 8 * 8;
  mlp_h = at::zeros({B, mlp_ld}, half);
  const bool ordered = down_ordered_sums();
  const size_t ws =
      std::max(kernels::sparse_mlp_down_workspace_bytes(batch, static_cast<int>(d), mlp_cap, 1, 0, ordered),
               kernels::sparse_mlp_down_workspace_bytes(batch, static_cast<int>(d), head_cap, static_cast<int>(hd), 0,
                                                        ordered));
  down_workspace = at::zeros({static_cast<int64_t>(std::max<size_t>(ws, 16))}, cuda_options(at::kByte));
  ln_partial_blocks = kernels::plan_sparse_mlp_down(batch, static_cast<int>(d), 1, 1).col_blocks;
  ln_partials = at::zeros({2, ln_partial_blocks, B, 2}, cuda_options(at::kFloat));
  attention = AttentionScratch(batch, head_cap, max_len, static_cast<int>(hd), num_sms);
  pred_z = at::zeros({B, max_rank}, half);
  w_qkv_tiled = make_tiled_qkv(w);  // last: only what memory the state's own buffers leave
  pred_scores = at::zeros({static_cast<int64_t>(scores_floats)}, cuda_options(at::kFloat));
  pred_partials = at::zeros({static_cast<int64_t>(partial_floats)}, cuda_options(at::kFloat));
  pred_workspace = at::zeros({static_cast<int64_t>(ws_bytes)}, cuda_options(at::kByte));  // zero once: kept zero
  point_events = EventList(static_cast<size_t>(2 * L + 1));
  task_events = EventList(tasks.size());
  join_event = EventList(1);
  DV_CUDA_CHECK(cudaDeviceSynchronize());
}

kernels::LowrankPredictorArgs SparseState::predictor_args(int t, const __half* x) const {
  const PredictorTask& task = tasks.at(static_cast<size_t>(t));
  const LayerSelection& sel = task.mlp ? mlp[task.layer] : heads[task.layer];
  kernels::LowrankPredictorArgs a;
  a.idx = int_ptr(sel.idx);
  a.k_dev = int_ptr(sel.count);
  a.scores = float_ptr(pred_scores);
  a.z = half_ptr(pred_z);
  a.z_partials = float_ptr(pred_partials);
  a.workspace = pred_workspace.data_ptr();
  a.x = x;
  if (task.int8) {
    a.wa_i8 = static_cast<const int8_t*>(task.wa.data_ptr());
    a.wb_i8 = static_cast<const int8_t*>(task.wb.data_ptr());
    a.wa_scale = float_ptr(task.wa_scale);
    a.wb_scale = float_ptr(task.wb_scale);
  } else {
    a.wa = half_ptr(task.wa);
    a.wb = half_ptr(task.wb);
  }
  a.B = batch_;
  a.d = static_cast<int>(task.wa.size(1));
  a.r = task.rank;
  a.n = task.n;
  a.mode = task.threshold ? kernels::SelectMode::kThreshold : kernels::SelectMode::kTopK;
  a.top_k = task.top_k;
  a.threshold = task.probability;
  a.max_k = sel.capacity;
  a.batch_union = task.batch_union;
  a.dense_above = task.dense_above;
  return a;
}

void SparseState::set_fixed(bool mlp_block, int layer, const std::vector<int>& idx, cudaStream_t stream) {
  std::vector<LayerSelection>& sels = mlp_block ? mlp : heads;
  const char* what = mlp_block ? "MLP" : "heads";
  DV_CHECK(layer >= 0 && layer < static_cast<int>(sels.size()), "sparse {}: layer {} outside [0, {})", what, layer,
           sels.size());
  LayerSelection& s = sels[layer];
  DV_CHECK(s.source == SelectionSource::kFixed && !s.dense,
           "sparse {} layer {}: only fixed selections can be replaced", what, layer);
  check_list(idx, mlp_block ? ffn_ : num_heads_, s.capacity, what, layer);
  upload_list(s, idx, stream);
}

std::vector<int> SparseState::read(bool mlp_block, int layer, cudaStream_t stream) const {
  const std::vector<LayerSelection>& sels = mlp_block ? mlp : heads;
  DV_CHECK(layer >= 0 && layer < static_cast<int>(sels.size()), "sparse selection: layer {} outside [0, {})", layer,
           sels.size());
  const LayerSelection& s = sels[layer];
  if (s.dense) {
    std::vector<int> all(mlp_block ? ffn_ : num_heads_);
    std::iota(all.begin(), all.end(), 0);
    return all;
  }
  int count = 0;
  DV_CUDA_CHECK(cudaMemcpyAsync(&count, int_ptr(s.count), sizeof(int), cudaMemcpyDeviceToHost, stream));
  DV_CUDA_CHECK(cudaStreamSynchronize(stream));
  count = std::clamp(count, 0, s.capacity);
  std::vector<int> idx(count);
  if (count > 0)
    DV_CUDA_CHECK(cudaMemcpyAsync(idx.data(), int_ptr(s.idx), count * sizeof(int), cudaMemcpyDeviceToHost, stream));
  DV_CUDA_CHECK(cudaStreamSynchronize(stream));
  return idx;
}

void SparseState::fill_kv_valid(int value, cudaStream_t stream) {
  // kv_valid is [L, H, slots] contiguous: one fill over L * H "heads".
  launch_kv_valid_fill(int_ptr(kv_valid), static_cast<int>(kv_valid.size(0) * kv_valid.size(1)), head_dim_, value,
                       stream);
  DV_CUDA_CHECK(cudaMemsetAsync(catchup_counts.data_ptr(), 0, catchup_counts.numel() * sizeof(int), stream));
}

CatchupStats SparseState::catchup_stats(int first, int last, cudaStream_t stream) const {
  DV_CHECK(0 <= first && first <= last && last <= catchup_counts.size(0), "catchup_stats: positions [{}, {}) outside [0, {})",
           first, last, catchup_counts.size(0));
  CatchupStats st;
  if (first == last) return st;
  std::vector<int> c(static_cast<size_t>(last - first) * 3);
  DV_CUDA_CHECK(cudaMemcpyAsync(c.data(), int_ptr(catchup_counts) + 3 * first, c.size() * sizeof(int),
                                cudaMemcpyDeviceToHost, stream));
  DV_CUDA_CHECK(cudaStreamSynchronize(stream));
  long long total = 0;
  for (int i = 0; i < last - first; ++i) {
    const int step = c[3 * i] + c[3 * i + 1];
    total += step;
    st.max_per_step = std::max(st.max_per_step, step);
    st.forced += c[3 * i + 1];
    st.lost += c[3 * i + 2];
  }
  st.mean_per_step = static_cast<double>(total) / (last - first);
  return st;
}

}  // namespace dv::engine
