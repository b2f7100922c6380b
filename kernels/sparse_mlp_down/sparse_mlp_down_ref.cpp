// sparse_mlp_down_ref.cpp: out[b] = resid[b] + b2 + sum_q h[b, q] W2T[row(q)] on the host, double accumulation.
#include "kernels/sparse_mlp_down/sparse_mlp_down_ref.h"

#include <algorithm>
#include <vector>

#include "kernels/common/error.h"

namespace dv::kernels {

void sparse_mlp_down_ref(const SparseMlpDownArgs& a) {
  DV_CHECK(a.B >= 1 && a.d >= 1 && a.max_k >= 0 && a.rows_per_index >= 1 &&
               static_cast<long long>(a.ld_h) >= static_cast<long long>(a.max_k) * a.rows_per_index,
           "sparse_mlp_down_ref: bad sizes B={} d={} max_k={} ld_h={} rows_per_index={}", a.B, a.d, a.max_k,
           a.ld_h, a.rows_per_index);
  const int R = a.rows_per_index;
  const int k = a.k_dev != nullptr ? std::clamp(*a.k_dev, 0, a.max_k) : a.max_k;
  std::vector<double> acc(static_cast<size_t>(a.B) * a.d, 0.0);
  for (int j = 0; j < k; ++j) {
    DV_CHECK(a.idx[j] >= 0 && static_cast<long long>(a.idx[j] + 1) * R <= a.ffn_rows,
             "sparse_mlp_down_ref: idx[{}] = {} selects rows past the {} rows of W2T", j, a.idx[j], a.ffn_rows);
    for (int r = 0; r < R; ++r) {
      const int q = j * R + r;
      const __half* w = a.w2t + static_cast<size_t>(a.idx[j] * R + r) * a.d;
      for (int b = 0; b < a.B; ++b) {
        const double hv = static_cast<double>(__half2float(a.h[static_cast<size_t>(b) * a.ld_h + q]));
        double* o = acc.data() + static_cast<size_t>(b) * a.d;
        for (int c = 0; c < a.d; ++c) o[c] += hv * static_cast<double>(__half2float(w[c]));
      }
    }
  }
  for (int b = 0; b < a.B; ++b)
    for (int c = 0; c < a.d; ++c) {
      const size_t o = static_cast<size_t>(b) * a.d + c;
      double v = acc[o];
      if (a.b2 != nullptr) v += static_cast<double>(__half2float(a.b2[c]));
      if (a.resid != nullptr) v += static_cast<double>(__half2float(a.resid[o]));
      a.out[o] = __float2half_rn(static_cast<float>(v));
    }
  if (a.row_partials != nullptr) sparse_mlp_down_row_partials_ref(a.out, a.B, a.d, a.row_partials);
}

void sparse_mlp_down_row_partials_ref(const __half* out, int B, int d, float* partials) {
  const int col_blocks = std::max(1, (d + kSparseMlpDownUnitCols - 1) / kSparseMlpDownUnitCols);
  for (int c = 0; c < col_blocks; ++c)
    for (int b = 0; b < B; ++b) {
      double s = 0.0, ss = 0.0;
      for (int col = c * kSparseMlpDownUnitCols; col < std::min(d, (c + 1) * kSparseMlpDownUnitCols); ++col) {
        const double v = static_cast<double>(__half2float(out[static_cast<size_t>(b) * d + col]));
        s += v;
        ss += v * v;
      }
      float* p = partials + 2 * (static_cast<size_t>(c) * B + b);
      p[0] = static_cast<float>(s);
      p[1] = static_cast<float>(ss);
    }
}

}  // namespace dv::kernels
