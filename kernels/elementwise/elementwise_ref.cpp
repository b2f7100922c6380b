// elementwise_ref.cpp: reference bias + ReLU, bias + residual, embedding lookup and position add.
#include "kernels/elementwise/elementwise_ref.h"

#include <algorithm>
#include <limits>

namespace dv {
namespace {

void fill_nan(__half* row, int d) { std::fill(row, row + d, __float2half(std::numeric_limits<float>::quiet_NaN())); }

bool position_ok(int p, int max_positions) { return p >= 0 && p < max_positions; }

}  // namespace

void bias_relu_ref(const BiasReluArgs& a) {
  for (int r = 0; r < a.rows; ++r)
    for (int c = 0; c < a.n; ++c) {
      __half& v = a.x[static_cast<size_t>(r) * a.n + c];
      v = __float2half(std::max(0.f, __half2float(v) + __half2float(a.bias[c])));
    }
}

void bias_residual_ref(const BiasResidualArgs& a) {
  for (int r = 0; r < a.rows; ++r)
    for (int c = 0; c < a.n; ++c) {
      const size_t i = static_cast<size_t>(r) * a.n + c;
      float v = __half2float(a.x[i]) + __half2float(a.residual[i]);
      if (a.bias) v += __half2float(a.bias[c]);
      a.out[i] = __float2half(v);
    }
}

void embedding_ref(const EmbeddingArgs& a) {
  for (int r = 0; r < a.rows; ++r) {
    __half* out = a.out + static_cast<size_t>(r) * a.d;
    const int tok = a.tokens[r];
    const bool pos_bad = a.pos_embed && !position_ok(a.positions[r], a.max_positions);
    if (tok < 0 || tok >= a.vocab || pos_bad) {
      fill_nan(out, a.d);
      continue;
    }
    const __half* w = a.word_embed + static_cast<size_t>(tok) * a.d;
    const __half* p =
        a.pos_embed ? a.pos_embed + static_cast<size_t>(a.positions[r] + kOptPositionOffset) * a.d : nullptr;
    for (int c = 0; c < a.d; ++c) out[c] = p ? __float2half(__half2float(w[c]) + __half2float(p[c])) : w[c];
  }
}

void position_add_ref(const PositionAddArgs& a) {
  for (int r = 0; r < a.rows; ++r) {
    __half* x = a.x + static_cast<size_t>(r) * a.d;
    if (!position_ok(a.positions[r], a.max_positions)) {
      fill_nan(x, a.d);
      continue;
    }
    const __half* p = a.pos_embed + static_cast<size_t>(a.positions[r] + kOptPositionOffset) * a.d;
    for (int c = 0; c < a.d; ++c) x[c] = __float2half(__half2float(x[c]) + __half2float(p[c]));
  }
}

}  // namespace dv
