// qkv_layer_norm.cuh: the attention layer norm fused into sparse_qkv (contract in sparse_qkv.cuh): every unit
// computes the statistics of the B rows of the residual stream x it reads, and normalizes x values as it loads
// them (the projection's current-position columns and the x_hist copy), so no normalized copy of x exists in
// global memory and no kernel runs before the QKV op.
// Access pattern: the statistics read x [B, d] once per unit from L2 (16-byte vectors, a row split over 8 / B
// warps when B < 8 so every warp loads), fp32 sums of x and x^2 per lane, warp shuffles, one barrier; gamma and
// beta are read with the value they scale (read-only path, L1).
// Arithmetic: mean = sum / d, var = sum(x^2) / d - mean^2 (biased, clamped at 0), rstd = rsqrt(var + eps),
// xn = (x - mean) * rstd * gamma + beta rounded to fp16 once: the layer_norm kernel's formula with one pass
// instead of two over the row (the residual stream's mean is small against its spread, so the fp32 difference
// loses nothing an fp16 output keeps). Every unit computes the same bits from the same x.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/half8.cuh"
#include "kernels/common/work_units.cuh"
#include "kernels/sparse_qkv/qkv_layout.h"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv::kernels::qkv {

// mean[b] and rstd[b] of the rows b < B of x [B, d] into stats[b] and stats[kSparseQkvLnMaxRows + b] (shared
// memory); `red` (shared, 2 * max(B, 8) floats) holds the warps' partial sums. Called by every thread of the
// unit after its input wait; ends with a barrier.
template <class Sync>
__device__ __forceinline__ void row_stats(const __half* x, int B, int d, float eps, float* stats, float* red) {
  constexpr int kWarps = kUnitThreads / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nv = d / 8, parts = B < kWarps ? kWarps / B : 1;
  for (int item = warp; item < B * parts; item += kWarps) {
    const int b = item / parts, part = item - b * parts;
    const uint4* row = reinterpret_cast<const uint4*>(x + static_cast<size_t>(b) * d);
    const int v_end = (part + 1) * nv / parts;
    float s = 0.f, ss = 0.f;
#pragma unroll 4
    for (int v = part * nv / parts + lane; v < v_end; v += 32) {
      float f[8];
      half8_to_float(Sync::load(row + v), f);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        s += f[i];
        ss = fmaf(f[i], f[i], ss);
      }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      s += __shfl_xor_sync(0xffffffffu, s, o);
      ss += __shfl_xor_sync(0xffffffffu, ss, o);
    }
    if (lane == 0) {
      red[2 * item] = s;
      red[2 * item + 1] = ss;
    }
  }
  __syncthreads();
  if (threadIdx.x < B) {
    const int b = threadIdx.x;
    float s = 0.f, ss = 0.f;
    for (int part = 0; part < parts; ++part) {
      s += red[2 * (b * parts + part)];
      ss += red[2 * (b * parts + part) + 1];
    }
    const float inv_d = 1.f / static_cast<float>(d);
    const float mean = s * inv_d;
    stats[b] = mean;
    stats[kSparseQkvLnMaxRows + b] = rsqrtf(fmaxf(ss * inv_d - mean * mean, 0.f) + eps);
  }
  __syncthreads();
}

}  // namespace dv::kernels::qkv
