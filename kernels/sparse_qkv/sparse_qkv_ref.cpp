// sparse_qkv_ref.cpp: reference selected-head QKV projection, K/V catch-up and forced catch-up; see
// sparse_qkv.cuh for the contract and sparse_qkv_op.cuh for the order the kernels follow.
#include "kernels/sparse_qkv/sparse_qkv_ref.h"

#include <algorithm>
#include <vector>

#include "kernels/common/error.h"
#include "kernels/layer_norm/layer_norm_ref.h"

namespace dv {
namespace {

struct Weights {
  const __half* w_qkv;
  const __half* b_qkv;
  int H, hd, d;
};

// Output row `row` (0 .. 3*hd-1 within head h's block) for input vector xv.
__half project(const Weights& w, int h, int row, const __half* xv) {
  const int d = w.d;
  const size_t r = static_cast<size_t>(h) * 3 * w.hd + row;
  const __half* wr = w.w_qkv + r * d;
  double acc = __half2float(w.b_qkv[r]);
  for (int c = 0; c < d; ++c) acc += static_cast<double>(__half2float(wr[c])) * __half2float(xv[c]);
  return __float2half(static_cast<float>(acc));
}

// K and V rows of head h for positions [t_begin, pos] of every batch row: x_hist ring rows, x_cur at pos
// when given.
void project_kv(const Weights& w, int h, int t_begin, int pos, int B, int max_len, int ring, const __half* x_hist,
                const __half* x_cur, __half* k_cache, __half* v_cache) {
  const size_t d = w.d;
  for (int t = t_begin; t <= pos; ++t)
    for (int b = 0; b < B; ++b) {
      const __half* xv = t == pos && x_cur != nullptr ? x_cur + b * d : x_hist + (static_cast<size_t>(b) * ring + t % ring) * d;
      const size_t bh = static_cast<size_t>(b) * w.H + h;
      for (int r = 0; r < w.hd; ++r) {
        k_cache[(bh * max_len + t) * w.hd + r] = project(w, h, w.hd + r, xv);
        v_cache[(bh * max_len + t) * w.hd + r] = project(w, h, 2 * w.hd + r, xv);
      }
    }
}

}  // namespace

void sparse_qkv_ref(const SparseQkvArgs& a) {
  DV_CHECK(sparse_qkv_supports_head_dim(a.head_dim), "sparse_qkv_ref: head_dim {} unsupported", a.head_dim);
  const int hd = a.head_dim, H = a.num_heads, slots = sparse_qkv_valid_slots(hd);
  const size_t d = sparse_qkv_width(a);
  const Weights w{a.w_qkv, a.b_qkv, H, hd, static_cast<int>(d)};
  const int pos = *a.pos;
  if (pos < 0 || pos >= a.max_len) return;
  // The fused layer norm: the op then reads the normalized rows (layer_norm_ref, one fp16 rounding).
  std::vector<__half> normed;
  const __half* x = a.x;
  if (a.ln_gamma != nullptr) {
    normed.resize(static_cast<size_t>(a.batch) * d);
    LayerNormArgs ln;
    ln.y = normed.data();
    ln.x = a.x;
    ln.gamma = a.ln_gamma;
    ln.beta = a.ln_beta;
    ln.rows = a.batch;
    ln.d = static_cast<int>(d);
    ln.eps = a.ln_eps;
    layer_norm_ref(ln);
    x = normed.data();
  }
  if (a.x_hist != nullptr)
    for (int b = 0; b < a.batch; ++b)
      std::copy(x + b * d, x + (b + 1) * d, a.x_hist + (static_cast<size_t>(b) * a.ring + pos % a.ring) * d);
  const int count = std::min(*a.num_selected, a.max_heads);
  std::vector<bool> selected(H, false), computed(H, false);
  for (int slot = 0; slot < count; ++slot) {
    const int h = a.heads[slot];
    if (h < 0 || h >= H) continue;
    selected[h] = true;
    for (int b = 0; b < a.batch; ++b)
      for (int r = 0; r < hd; ++r) a.q[(static_cast<size_t>(b) * H + h) * hd + r] = project(w, h, r, x + b * d);
  }
  for (int h = 0; h < H; ++h) {
    if (!(a.all_kv || selected[h])) continue;
    int t_begin = pos;
    if (a.kv_valid != nullptr) {
      const int v = std::clamp(a.kv_valid[h * slots], 0, pos);
      t_begin = std::max(v, std::min(pos - a.ring + 1, pos));
      if (a.catchup_counts != nullptr) {
        a.catchup_counts[3 * pos] += pos - t_begin;
        a.catchup_counts[3 * pos + 2] += t_begin - v;
      }
      std::fill(a.kv_valid + h * slots, a.kv_valid + (h + 1) * slots, pos + 1);
    }
    project_kv(w, h, t_begin, pos, a.batch, a.max_len, a.ring, a.x_hist, x, a.k_cache, a.v_cache);
  }
  if (a.max_forced == 0) return;
  // Forced: not selected, lag >= force_lag; largest lag first, then the lowest head.
  std::vector<std::pair<int, int>> candidates;  // (-lag, h)
  for (int h = 0; h < H; ++h) {
    if (selected[h]) continue;
    const int lag = pos - std::clamp(a.kv_valid[h * slots], 0, pos);
    if (lag >= a.force_lag) candidates.push_back({-lag, h});
  }
  std::sort(candidates.begin(), candidates.end());
  const int n = std::min<int>(a.max_forced, static_cast<int>(candidates.size()));
  for (int i = 0; i < n; ++i) {
    const int lag = -candidates[i].first, h = candidates[i].second;
    const int from = std::max(pos - lag, pos - a.ring + 1);
    a.forced[2 * i] = h;
    a.forced[2 * i + 1] = from;
    std::fill(a.kv_valid + h * slots, a.kv_valid + (h + 1) * slots, pos + 1);
    if (a.catchup_counts != nullptr) {
      a.catchup_counts[3 * pos + 1] += pos - from + 1;
      a.catchup_counts[3 * pos + 2] += from - (pos - lag);
    }
  }
  *a.forced_count = n;
}

void kv_catchup_ref(const KvCatchupArgs& a) {
  DV_CHECK(sparse_qkv_supports_head_dim(a.head_dim), "kv_catchup_ref: head_dim {} unsupported", a.head_dim);
  const int pos = *a.pos;
  if (pos < 0 || pos >= a.max_len || a.max_forced == 0) return;
  const Weights w{a.w_qkv, a.b_qkv, a.num_heads, a.head_dim, sparse_qkv_width(a)};
  const int n = std::min(*a.forced_count, a.max_forced);
  for (int i = 0; i < n; ++i) {
    const int h = a.forced[2 * i], from = a.forced[2 * i + 1];
    if (h < 0 || h >= a.num_heads || from > pos || from < std::max(pos - a.ring + 1, 0)) continue;
    project_kv(w, h, from, pos, a.batch, a.max_len, a.ring, a.x_hist, nullptr, a.k_cache, a.v_cache);
  }
}

}  // namespace dv
