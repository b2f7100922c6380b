// fused_mlp_ref.cpp: out[b] = resid[b] + b2 + sum_j fp16(ReLU(W1[row(j)] . fp16(LN(x[b])) + b1)) W2T[row(j)]
// on the host, double accumulation, plain loops.
#include "kernels/fused_mlp/fused_mlp_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/common/error.h"

namespace dv::kernels {
namespace {

double h2d(__half v) { return static_cast<double>(__half2float(v)); }

// The block input as the MMA sees it: x, or LN(x) with fp32-like statistics in double, rounded to fp16.
std::vector<double> block_input(const FusedMlpArgs& a) {
  std::vector<double> xn(static_cast<size_t>(a.B) * a.d);
  for (int b = 0; b < a.B; ++b) {
    const __half* x = a.x + static_cast<size_t>(b) * a.d;
    double* y = xn.data() + static_cast<size_t>(b) * a.d;
    if (a.gamma == nullptr) {
      for (int c = 0; c < a.d; ++c) y[c] = h2d(x[c]);
      continue;
    }
    double mean = 0, var = 0;
    for (int c = 0; c < a.d; ++c) mean += h2d(x[c]);
    mean /= a.d;
    for (int c = 0; c < a.d; ++c) var += (h2d(x[c]) - mean) * (h2d(x[c]) - mean);
    const double rstd = 1.0 / std::sqrt(var / a.d + static_cast<double>(a.eps));
    for (int c = 0; c < a.d; ++c) {
      const double v = (h2d(x[c]) - mean) * rstd * h2d(a.gamma[c]) + h2d(a.beta[c]);
      y[c] = h2d(__float2half_rn(static_cast<float>(v)));
    }
  }
  return xn;
}

}  // namespace

void fused_mlp_ref(const FusedMlpArgs& a) {
  DV_CHECK(a.B >= 1 && a.d >= 1 && a.max_k >= 0 && (a.idx != nullptr || a.max_k <= a.ffn),
           "fused_mlp_ref: bad sizes B={} d={} ffn={} max_k={}", a.B, a.d, a.ffn, a.max_k);
  const int k = a.k_dev != nullptr ? std::clamp(*a.k_dev, 0, a.max_k) : a.max_k;
  const std::vector<double> xn = block_input(a);
  std::vector<double> acc(static_cast<size_t>(a.B) * a.d, 0.0);
  for (int j = 0; j < k; ++j) {
    const int row = a.idx != nullptr ? a.idx[j] : j;
    DV_CHECK(row >= 0 && row < a.ffn, "fused_mlp_ref: idx[{}] = {} outside [0, {})", j, row, a.ffn);
    const __half* w1 = a.w1 + static_cast<size_t>(row) * a.d;
    const __half* w2 = a.w2t + static_cast<size_t>(row) * a.d;
    const double bias = a.b1 != nullptr ? h2d(a.b1[row]) : 0.0;
    for (int b = 0; b < a.B; ++b) {
      const double* x = xn.data() + static_cast<size_t>(b) * a.d;
      double s = bias;
      for (int c = 0; c < a.d; ++c) s += h2d(w1[c]) * x[c];
      const double h = h2d(__float2half_rn(static_cast<float>(s < 0.0 ? 0.0 : s)));
      double* o = acc.data() + static_cast<size_t>(b) * a.d;
      for (int c = 0; c < a.d; ++c) o[c] += h * h2d(w2[c]);
    }
  }
  for (int b = 0; b < a.B; ++b)
    for (int c = 0; c < a.d; ++c) {
      const size_t o = static_cast<size_t>(b) * a.d + c;
      double v = acc[o];
      if (a.b2 != nullptr) v += h2d(a.b2[c]);
      if (a.resid != nullptr) v += h2d(a.resid[o]);
      a.out[o] = __float2half_rn(static_cast<float>(v));
    }
}

}  // namespace dv::kernels
