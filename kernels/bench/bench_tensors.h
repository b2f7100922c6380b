// bench_tensors.h: the synthetic OPT MLP (and predictor) tensors of kernel_bench, defined element by element
// through hashed_half so the device fills them in place and the host recomputes any element for validation.
// Scales follow the usual init (1/sqrt(fan_in)) so activations and outputs stay O(1) in fp16.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "kernels/bench/bench_device.cuh"

namespace dv::bench {

// k distinct indices of [0, n) drawn with rng (a shuffle of 0..n-1, its first k), ascending unless !sorted (the
// predictor's output is ascending).
template <class Rng>
std::vector<int> random_selection(int n, int k, Rng& rng, bool sorted = true) {
  std::vector<int> sel(static_cast<size_t>(n));
  std::iota(sel.begin(), sel.end(), 0);
  std::shuffle(sel.begin(), sel.end(), rng);
  sel.resize(static_cast<size_t>(k));
  if (sorted) std::sort(sel.begin(), sel.end());
  return sel;
}

struct BenchTensors {
  int d = 0;
  int ffn = 0;
  int r = 0;  // predictor rank

  static constexpr uint64_t kW1 = 11, kB1 = 12, kW2T = 13, kB2 = 14, kX = 15, kResid = 16, kWa = 17, kWb = 18,
                            kGamma = 19, kBeta = 20;
  float w1_scale() const { return 1.f / std::sqrt(static_cast<float>(d)); }
  float w2_scale() const { return 1.f / std::sqrt(static_cast<float>(ffn)); }
  float wa_scale() const { return 1.f / std::sqrt(static_cast<float>(d)); }
  float wb_scale() const { return 3.f / std::sqrt(static_cast<float>(r)); }

  // fc1 weight [ffn, d] (HF layout), fc2 weight transposed [ffn, d]; the dense fc2 [d, ffn] is its transpose.
  float w1(int j, int c) const { return h2f(hashed_half(kW1, static_cast<uint64_t>(j) * d + c, w1_scale())); }
  float w2t(int j, int c) const { return h2f(hashed_half(kW2T, static_cast<uint64_t>(j) * d + c, w2_scale())); }
  float b1(int j) const { return h2f(hashed_half(kB1, static_cast<uint64_t>(j), 0.1f)); }
  float b2(int c) const { return h2f(hashed_half(kB2, static_cast<uint64_t>(c), 0.1f)); }
  float x(int b, int c) const { return h2f(hashed_half(kX, static_cast<uint64_t>(b) * d + c, 1.f)); }
  float resid(int b, int c) const { return h2f(hashed_half(kResid, static_cast<uint64_t>(b) * d + c, 1.f)); }
  // The MLP layer norm's weights (the fused op's LN): gamma in [0.5, 1.5), beta in [-0.1, 0.1).
  float gamma(int c) const {
    return h2f(__float2half_rn(1.f + h2f(hashed_half(kGamma, static_cast<uint64_t>(c), 0.5f))));
  }
  float beta(int c) const { return h2f(hashed_half(kBeta, static_cast<uint64_t>(c), 0.1f)); }
  float wa(int i, int c) const { return h2f(hashed_half(kWa, static_cast<uint64_t>(i) * d + c, wa_scale())); }
  float wb(int j, int i) const { return h2f(hashed_half(kWb, static_cast<uint64_t>(j) * r + i, wb_scale())); }

 private:
  static float h2f(__half h) { return __half2float(h); }
};

}  // namespace dv::bench
