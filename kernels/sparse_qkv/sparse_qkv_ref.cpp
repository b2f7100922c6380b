// sparse_qkv_ref.cpp: reference selected-head QKV projection with K/V catch-up; see sparse_qkv.cuh.
#include "kernels/sparse_qkv/sparse_qkv_ref.h"

#include <algorithm>

#include "kernels/common/error.h"

namespace dv {
namespace {

// Output row `row` (0 .. 3*hd-1 within head h's block) for input vector xv.
__half project(const SparseQkvArgs& a, int h, int row, const __half* xv, int d) {
  const size_t r = static_cast<size_t>(h) * 3 * a.head_dim + row;
  const __half* w = a.w_qkv + r * d;
  double acc = __half2float(a.b_qkv[r]);
  for (int c = 0; c < d; ++c) acc += static_cast<double>(__half2float(w[c])) * __half2float(xv[c]);
  return __float2half(static_cast<float>(acc));
}

}  // namespace

void sparse_qkv_ref(const SparseQkvArgs& a) {
  DV_CHECK(sparse_qkv_supports_head_dim(a.head_dim), "sparse_qkv_ref: head_dim {} unsupported", a.head_dim);
  const int hd = a.head_dim, d = a.num_heads * hd;
  const int slots_per_part = hd / kSparseQkvSlotRows, slots = sparse_qkv_valid_slots(hd);
  const int pos = *a.pos;
  if (pos < 0 || pos >= a.max_len) return;
  for (int b = 0; b < a.batch; ++b)
    std::copy(a.x + static_cast<size_t>(b) * d, a.x + static_cast<size_t>(b + 1) * d,
              a.x_hist + (static_cast<size_t>(b) * a.max_len + pos) * d);
  const int count = std::min(*a.num_selected, a.max_heads);
  for (int slot = 0; slot < count; ++slot) {
    const int h = a.heads[slot];
    if (h < 0 || h >= a.num_heads) continue;
    for (int b = 0; b < a.batch; ++b) {
      const __half* xv = a.x + static_cast<size_t>(b) * d;
      const size_t bh = static_cast<size_t>(b) * a.num_heads + h;
      for (int r = 0; r < hd; ++r) a.q[bh * hd + r] = project(a, h, r, xv, d);
    }
    for (int s = 0; s < slots; ++s) {
      int& valid = a.kv_valid[h * slots + s];
      const int part = 1 + s / slots_per_part;  // 1: k, 2: v
      __half* cache = part == 1 ? a.k_cache : a.v_cache;
      const int r0 = (s % slots_per_part) * kSparseQkvSlotRows;
      for (int t = std::min(std::max(valid, 0), pos); t <= pos; ++t)
        for (int b = 0; b < a.batch; ++b) {
          const __half* xv = a.x_hist + (static_cast<size_t>(b) * a.max_len + t) * d;
          const size_t bh = static_cast<size_t>(b) * a.num_heads + h;
          for (int r = r0; r < r0 + kSparseQkvSlotRows; ++r)
            cache[(bh * a.max_len + t) * hd + r] = project(a, h, part * hd + r, xv, d);
        }
      valid = pos + 1;
    }
  }
}

}  // namespace dv
