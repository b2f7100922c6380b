// lowrank_predictor_ref.cpp: z = x Wa^T, scores = max_b z Wb^T and the top-k / threshold selection on the host.
#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/common/error.h"

namespace dv::kernels {

void lowrank_select_ref(const LowrankSelectArgs& a) {
  DV_CHECK(a.n >= 0 && a.max_k >= 0, "lowrank_select_ref: bad sizes n = {}, max_k = {}", a.n, a.max_k);
  std::vector<int> chosen;
  if (a.mode == SelectMode::kThreshold) {
    const float tau = select_threshold_logit(a.threshold);
    for (int i = 0; i < a.n; ++i)
      if (a.scores[i] >= tau) chosen.push_back(i);
  } else {
    const int k = std::clamp(a.top_k, 0, a.n);
    DV_CHECK(k <= a.max_k, "lowrank_select_ref: top_k = {} exceeds max_k = {}", k, a.max_k);
    std::vector<int> order(static_cast<size_t>(a.n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
      return score_order_key(a.scores[x]) > score_order_key(a.scores[y]);
    });
    chosen.assign(order.begin(), order.begin() + k);
    std::sort(chosen.begin(), chosen.end());
  }
  const int written = std::min(static_cast<int>(chosen.size()), a.max_k);
  for (int i = 0; i < written; ++i) a.idx[i] = chosen[static_cast<size_t>(i)];
  *a.k_dev = written;
}

namespace {

// Row i of a predictor weight as doubles: fp16 as stored, or scale[i] * q[i, :] for the int8 variant.
struct RefRows {
  const __half* h;
  const int8_t* q;
  const float* scale;
  int cols;
  double at(int i, int c) const {
    const size_t k = static_cast<size_t>(i) * cols + c;
    return h != nullptr ? static_cast<double>(__half2float(h[k])) : static_cast<double>(scale[i]) * q[k];
  }
};

}  // namespace

void quantize_rows_int8_ref(const float* w, int rows, int cols, int8_t* q, float* scale) {
  for (int i = 0; i < rows; ++i) {
    const float* row = w + static_cast<size_t>(i) * cols;
    float amax = 0.f;
    for (int c = 0; c < cols; ++c) amax = std::max(amax, std::fabs(row[c]));
    scale[i] = amax / 127.f;
    for (int c = 0; c < cols; ++c) {
      const float v = scale[i] > 0.f ? std::nearbyint(row[c] / scale[i]) : 0.f;
      q[static_cast<size_t>(i) * cols + c] = static_cast<int8_t>(std::clamp(v, -127.f, 127.f));
    }
  }
}

void lowrank_predictor_ref(const LowrankPredictorArgs& a) {
  DV_CHECK(a.B >= 1 && a.d >= 1 && a.r >= 1 && a.n >= 1, "lowrank_predictor_ref: bad sizes B={} d={} r={} n={}",
           a.B, a.d, a.r, a.n);
  const bool i8 = a.wa_i8 != nullptr;
  const RefRows wa{i8 ? nullptr : a.wa, a.wa_i8, a.wa_scale, a.d};
  const RefRows wb{i8 ? nullptr : a.wb, a.wb_i8, a.wb_scale, a.r};
  for (int b = 0; b < a.B; ++b)
    for (int i = 0; i < a.r; ++i) {
      double s = 0.0;
      const __half* x = a.x + static_cast<size_t>(b) * a.d;
      for (int c = 0; c < a.d; ++c) s += wa.at(i, c) * __half2float(x[c]);
      a.z[static_cast<size_t>(b) * a.r + i] = __float2half_rn(static_cast<float>(s));
    }
  for (int j = 0; j < a.n; ++j) {
    double best = -INFINITY;
    for (int b = 0; b < a.B; ++b) {
      const __half* z = a.z + static_cast<size_t>(b) * a.r;
      double s = 0.0;
      for (int i = 0; i < a.r; ++i) s += wb.at(j, i) * __half2float(z[i]);
      best = std::max(best, s);
    }
    a.scores[j] = static_cast<float>(best);
  }
  LowrankSelectArgs sel;
  sel.idx = a.idx;
  sel.k_dev = a.k_dev;
  sel.scores = a.scores;
  sel.n = a.n;
  sel.mode = a.mode;
  sel.top_k = a.top_k;
  sel.threshold = a.threshold;
  sel.max_k = a.max_k;
  lowrank_select_ref(sel);
}

}  // namespace dv::kernels
