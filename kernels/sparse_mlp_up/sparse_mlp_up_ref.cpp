// sparse_mlp_up_ref.cpp: h[b, j] = ReLU(W1[idx[j]] . x[b] + b1[idx[j]]) on the host, double accumulation; with
// ln_gamma, x[b] is first layer-normed (double statistics, biased variance) and rounded to fp16, as the op's
// fused layer norm writes nothing but rounds each normalized value to fp16 before its dot products.
#include "kernels/sparse_mlp_up/sparse_mlp_up_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/common/error.h"

namespace dv::kernels {

void sparse_mlp_up_ref(const SparseMlpUpArgs& a) {
  DV_CHECK(a.B >= 1 && a.d >= 1 && a.max_k >= 0 && a.ld_h >= a.max_k,
           "sparse_mlp_up_ref: bad sizes B={} d={} max_k={} ld_h={}", a.B, a.d, a.max_k, a.ld_h);
  const int k = a.k_dev != nullptr ? std::clamp(*a.k_dev, 0, a.max_k) : a.max_k;
  std::vector<double> x(static_cast<size_t>(a.B) * a.d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<double>(__half2float(a.x[i]));
  if (a.ln_gamma != nullptr) {
    for (int b = 0; b < a.B; ++b) {
      double* xb = x.data() + static_cast<size_t>(b) * a.d;
      double mean = 0.0, var = 0.0;
      for (int c = 0; c < a.d; ++c) mean += xb[c];
      mean /= a.d;
      for (int c = 0; c < a.d; ++c) var += (xb[c] - mean) * (xb[c] - mean);
      const double rstd = 1.0 / std::sqrt(var / a.d + a.ln_eps);
      for (int c = 0; c < a.d; ++c) {
        const double v = (xb[c] - mean) * rstd * __half2float(a.ln_gamma[c]) + __half2float(a.ln_beta[c]);
        xb[c] = static_cast<double>(__half2float(__float2half_rn(static_cast<float>(v))));
      }
    }
  }
  std::vector<double> w(static_cast<size_t>(a.d));
  for (int j = 0; j < k; ++j) {
    const int row = a.idx[j];
    DV_CHECK(row >= 0 && row < a.ffn, "sparse_mlp_up_ref: idx[{}] = {} outside [0, {})", j, row, a.ffn);
    const __half* wr = a.w1 + static_cast<size_t>(row) * a.d;
    for (int c = 0; c < a.d; ++c) w[c] = static_cast<double>(__half2float(wr[c]));
    const double bias = a.b1 != nullptr ? static_cast<double>(__half2float(a.b1[row])) : 0.0;
    for (int b = 0; b < a.B; ++b) {
      const double* xb = x.data() + static_cast<size_t>(b) * a.d;
      double s = 0.0;
      for (int c = 0; c < a.d; ++c) s += w[c] * xb[c];
      s += bias;
      a.h[static_cast<size_t>(b) * a.ld_h + j] = __float2half_rn(static_cast<float>(s < 0.0 ? 0.0 : s));
    }
  }
}

}  // namespace dv::kernels
