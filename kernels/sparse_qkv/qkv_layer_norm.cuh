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
// From the producer's row partials (row_stats_from_partials): when the kernel that wrote x also wrote, per
// 512-column slice and row, the fp32 sum and sum of squares of the values it stored (sparse_mlp_down's
// row_partials), the statistics are those col_blocks pairs summed in slice order (8 * col_blocks bytes a row
// instead of the row's 2 * d), then the same formula: equal to row_stats up to the fp32 summation order.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/half8.cuh"
#include "kernels/common/work_units.cuh"
#include "kernels/sparse_qkv/qkv_layout.h"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv::kernels::qkv {

// mean and rstd of a row from its fp32 sum and sum of squares over d values, into stats (row_stats' layout).
__device__ __forceinline__ void store_row_stats(float s, float ss, int b, int d, float eps, float* stats) {
  const float inv_d = 1.f / static_cast<float>(d);
  const float mean = s * inv_d;
  stats[b] = mean;
  stats[kSparseQkvLnMaxRows + b] = rsqrtf(fmaxf(ss * inv_d - mean * mean, 0.f) + eps);
}

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
    store_row_stats(s, ss, b, d, eps, stats);
  }
  __syncthreads();
}

// row_stats from the producer's partials [col_blocks][B] float2 (sum, sum of squares of a slice of the row):
// thread b < B adds its row's col_blocks pairs in slice order. Called by every thread after the input wait;
// ends with a barrier.
template <class Sync>
__device__ __forceinline__ void row_stats_from_partials(const float* partials, int col_blocks, int B, int d,
                                                        float eps, float* stats) {
  if (threadIdx.x < B) {
    const int b = threadIdx.x;
    const float2* p = reinterpret_cast<const float2*>(partials);
    float s = 0.f, ss = 0.f;
    for (int c = 0; c < col_blocks; ++c) {
      const float2 v = Sync::load(p + static_cast<size_t>(c) * B + b);
      s += v.x;
      ss += v.y;
    }
    store_row_stats(s, ss, b, d, eps, stats);
  }
  __syncthreads();
}

}  // namespace dv::kernels::qkv
