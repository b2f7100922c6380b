// layer_norm_ref.cpp: reference LayerNorm (+ fused residual add) on host fp16 arrays; see layer_norm.cuh.
#include "kernels/layer_norm/layer_norm_ref.h"

#include <cmath>
#include <vector>

#include "kernels/common/error.h"

namespace dv {

void layer_norm_ref(const LayerNormArgs& a) {
  DV_CHECK(a.rows >= 0 && a.d > 0, "layer_norm_ref: bad shape rows={} d={}", a.rows, a.d);
  std::vector<double> s(static_cast<size_t>(a.d));
  for (int r = 0; r < a.rows; ++r) {
    const size_t base = static_cast<size_t>(r) * a.d;
    double mean = 0;
    for (int c = 0; c < a.d; ++c) {
      float v = __half2float(a.x[base + c]);
      if (a.residual || a.bias) {
        if (a.residual) v += __half2float(a.residual[base + c]);
        if (a.bias) v += __half2float(a.bias[c]);
        const __half rounded = __float2half(v);
        if (a.sum_out) a.sum_out[base + c] = rounded;
        v = __half2float(rounded);
      }
      s[c] = v;
      mean += v;
    }
    mean /= a.d;
    double var = 0;
    for (int c = 0; c < a.d; ++c) var += (s[c] - mean) * (s[c] - mean);
    const double rstd = 1.0 / std::sqrt(var / a.d + a.eps);
    for (int c = 0; c < a.d; ++c)
      a.y[base + c] =
          __float2half(static_cast<float>((s[c] - mean) * rstd * __half2float(a.gamma[c]) + __half2float(a.beta[c])));
  }
}

}  // namespace dv
