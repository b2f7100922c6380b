// decode_attention_ref.cpp: reference single-query attention for the selected heads; see the .cuh.
#include "kernels/decode_attention/decode_attention_ref.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/common/error.h"

namespace dv {

void decode_attention_ref(const DecodeAttentionArgs& a) {
  const int hd = a.head_dim;
  DV_CHECK(hd > 0, "decode_attention_ref: head_dim {} must be positive", hd);
  const int pos = *a.pos;
  if (pos < 0 || pos >= a.max_len) return;
  const int len = pos + 1;
  const int count = std::min(*a.num_selected, a.max_heads);
  const double scale = 1.0 / std::sqrt(static_cast<double>(hd));
  std::vector<double> p(static_cast<size_t>(len));
  for (int b = 0; b < a.batch; ++b)
    for (int slot = 0; slot < count; ++slot) {
      const int h = a.heads[slot];
      if (h < 0 || h >= a.num_heads) continue;
      const size_t bh = static_cast<size_t>(b) * a.num_heads + h;
      const __half* q = a.q + bh * hd;
      const __half* k = a.k_cache + bh * a.max_len * hd;
      const __half* v = a.v_cache + bh * a.max_len * hd;
      double m = -INFINITY;
      for (int i = 0; i < len; ++i) {
        double s = 0;
        for (int j = 0; j < hd; ++j)
          s += static_cast<double>(__half2float(q[j])) * __half2float(k[static_cast<size_t>(i) * hd + j]);
        p[i] = s * scale;
        m = std::max(m, p[i]);
      }
      double l = 0;
      for (int i = 0; i < len; ++i) l += (p[i] = std::exp(p[i] - m));
      for (int j = 0; j < hd; ++j) {
        double o = 0;
        for (int i = 0; i < len; ++i) o += p[i] * __half2float(v[static_cast<size_t>(i) * hd + j]);
        a.out[static_cast<size_t>(b) * a.ld_out + static_cast<size_t>(slot) * hd + j] = __float2half(static_cast<float>(o / l));
      }
    }
}

}  // namespace dv
