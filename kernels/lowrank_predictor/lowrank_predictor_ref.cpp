// lowrank_predictor_ref.cpp: z = x Wa^T, the logits z Wb^T (per row, or their max over the batch) and the
// top-k / threshold selection with the batch union and the crossover to dense, on the host.
#include "kernels/lowrank_predictor/lowrank_predictor_ref.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "kernels/common/error.h"

namespace dv::kernels {

namespace {

// One row's selection (top-k or threshold) as a membership mask.
void select_row(const float* scores, const LowrankSelectArgs& a, std::vector<char>& chosen) {
  if (a.mode == SelectMode::kThreshold) {
    const float tau = select_threshold_logit(a.threshold);
    for (int i = 0; i < a.n; ++i)
      if (scores[i] >= tau) chosen[static_cast<size_t>(i)] = 1;
    return;
  }
  const int k = std::clamp(a.top_k, 0, a.n);
  std::vector<int> order(static_cast<size_t>(a.n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) {
    return score_order_key(scores[x]) > score_order_key(scores[y]);
  });
  for (int j = 0; j < k; ++j) chosen[static_cast<size_t>(order[static_cast<size_t>(j)])] = 1;
}

}  // namespace

void lowrank_select_ref(const LowrankSelectArgs& a) {
  DV_CHECK(a.n >= 0 && a.max_k >= 0 && a.rows >= 1, "lowrank_select_ref: bad sizes n = {}, max_k = {}, rows = {}",
           a.n, a.max_k, a.rows);
  DV_CHECK(a.mode == SelectMode::kThreshold || std::clamp(a.top_k, 0, a.n) <= a.max_k,
           "lowrank_select_ref: top_k = {} exceeds max_k = {}", a.top_k, a.max_k);
  std::vector<char> chosen(static_cast<size_t>(a.n), 0);
  for (int b = 0; b < a.rows; ++b) select_row(a.scores + static_cast<size_t>(b) * lowrank_scores_ld(a.n), a, chosen);
  const int count = static_cast<int>(std::count(chosen.begin(), chosen.end(), 1));
  if (count > a.dense_above) {
    DV_CHECK(a.max_k >= a.n, "lowrank_select_ref: all {} selected past dense_above, max_k = {}", a.n, a.max_k);
    for (int i = 0; i < a.n; ++i) a.idx[i] = i;
    *a.k_dev = a.n;
    return;
  }
  int written = 0;
  for (int i = 0; i < a.n && written < a.max_k; ++i)
    if (chosen[static_cast<size_t>(i)] != 0) a.idx[written++] = i;
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
  // Logits in double, rounded to fp32 once; the max union like fmaxf (a NaN row is ignored unless all are).
  const int rows = lowrank_selection_rows(a.B, a.mode, a.batch_union), ld = lowrank_scores_ld(a.n);
  for (int j = 0; j < a.n; ++j) {
    float best = NAN;
    for (int b = 0; b < a.B; ++b) {
      const __half* z = a.z + static_cast<size_t>(b) * a.r;
      double s = 0.0;
      for (int i = 0; i < a.r; ++i) s += wb.at(j, i) * __half2float(z[i]);
      if (rows > 1) {
        a.scores[static_cast<size_t>(b) * ld + j] = static_cast<float>(s);
      } else {
        best = std::fmax(best, static_cast<float>(s));
      }
    }
    if (rows == 1) a.scores[j] = best;
  }
  LowrankSelectArgs sel = lowrank_selection_of(a);
  sel.rows = rows;
  lowrank_select_ref(sel);
}

}  // namespace dv::kernels
