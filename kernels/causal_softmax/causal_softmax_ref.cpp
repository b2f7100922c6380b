// causal_softmax_ref.cpp: the row loop of causal_softmax.cuh on the host.
#include "kernels/causal_softmax/causal_softmax_ref.h"

#include <algorithm>
#include <cmath>

#include "kernels/common/error.h"

namespace dv {

void causal_softmax_ref(const CausalSoftmaxArgs& a) {
  DV_CHECK(a.rows >= 0 && a.q_len > 0 && a.k_len >= a.q_len && a.ld >= a.k_len,
           "causal_softmax_ref: bad sizes rows={} q_len={} k_len={} ld={}", a.rows, a.q_len, a.k_len, a.ld);
  for (int r = 0; r < a.rows; ++r) {
    const float* s = a.scores + static_cast<size_t>(r) * a.ld;
    __half* p = a.probs + static_cast<size_t>(r) * a.ld;
    const int visible = r % a.q_len + (a.k_len - a.q_len) + 1;
    double m = -INFINITY;
    for (int j = 0; j < visible; ++j) m = std::max(m, static_cast<double>(a.scale) * s[j]);
    double sum = 0;
    for (int j = 0; j < visible; ++j) sum += std::exp(static_cast<double>(a.scale) * s[j] - m);
    for (int j = 0; j < a.k_len; ++j)
      p[j] = __float2half(j < visible ? static_cast<float>(std::exp(static_cast<double>(a.scale) * s[j] - m) / sum)
                                      : 0.f);
  }
}

}  // namespace dv
