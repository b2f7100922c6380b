// fused_mlp_smem.cuh: one fused-MLP unit's shared memory (layout per batch tile) and the step that fills its
// x rows: copy x [B, d] from L2 and, with the layer norm fused, normalize the copy in place with the same
// arithmetic as kernels/layer_norm (fp32 mean, then the centred variance, y = (x - mean) * rstd * gamma +
// beta rounded to fp16), so the fused block reads the values the separate layer_norm kernel would write.
// Access pattern: all 256 threads copy 16-byte vectors (coalesced, one L2 round trip for the B*d*2 bytes);
// the statistics read the copy from shared memory, a row split over 8/B warps when B < 8 so every warp works;
// gamma/beta are read once per unit (L1, prefetched before the PDL wait by the op).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/common/half8.cuh"
#include "kernels/common/work_units.cuh"
#include "kernels/fused_mlp/fused_mlp.cuh"

namespace dv::kernels {

template <int BT>
struct FusedMlpLayout {
  static constexpr int kMTiles = BT >= 16 ? BT / 16 : 1;  // 16-row MMA tiles of the batch
  static constexpr int kXGroups = BT / 8;                 // x rows per lane: g, g+8, g+16, g+24
  // h [BT][kHLd] fp16: a 32-byte bank shift per row makes the fc2 A-fragment loads conflict-free.
  static constexpr int kHLd = kFusedMlpSliceCap + 16;
  static constexpr int kIdxOff = 0;                                        // int [slice cap]
  static constexpr int kB1Off = kIdxOff + kFusedMlpSliceCap * 4;           // float [slice cap]
  static constexpr int kHOff = kB1Off + kFusedMlpSliceCap * 4;             // half [BT][kHLd]
  static constexpr int kPartialOff = kHOff + BT * kHLd * 2;                // float [8 warps][8][BT + 1]
  static constexpr int kRedOff = kPartialOff + 8 * 8 * (BT + 1) * 4;      // float [BT][8] per-part sums
  static constexpr int kStatOff = kRedOff + BT * 8 * 4;                    // float [BT] mean, [BT] rstd
  static constexpr int kXOff = (kStatOff + 2 * BT * 4 + 15) / 16 * 16;     // half [B][d + kXPad]
  static constexpr int kXBytes = (kUnitSmemMax - kXOff) / 16 * 16;
};

constexpr int kFusedMlpXPad = 32;  // halves per x row in shared memory: rows g, g+1 land 64 bytes apart

// Shared-memory bytes x takes when staged; the plan stages x when this fits its layout's kXBytes.
__host__ __device__ constexpr long long fused_mlp_x_bytes(int B, int d) {
  return static_cast<long long>(B) * (d + kFusedMlpXPad) * 2;
}

__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// Per row b < B, the sum over its d values of f(x) (f = identity, or the squared deviation from mean[b]),
// into red[b * 8 + part], part < parts; a row is split over `parts` warps when B < 8.
template <bool kCentred>
__device__ __forceinline__ void fused_mlp_row_sums(const __half* xs, int xld, int B, int d, const float* mean,
                                                   float* red) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nv = d / 8, parts = B < 8 ? 8 / B : 1;
  for (int item = warp; item < B * parts; item += 8) {
    const int b = item / parts, p = item - b * parts;
    const int v_end = (p + 1) * nv / parts;
    const float m = kCentred ? mean[b] : 0.f;
    float s = 0.f;
    for (int v = p * nv / parts + lane; v < v_end; v += 32) {
      float f[8];
      half8_to_float(*reinterpret_cast<const uint4*>(xs + static_cast<size_t>(b) * xld + 8 * v), f);
#pragma unroll
      for (int i = 0; i < 8; ++i) s += kCentred ? (f[i] - m) * (f[i] - m) : f[i];
    }
    s = warp_sum(s);
    if (lane == 0) red[b * 8 + p] = s;
  }
}

// x [B, d] -> xs [B][d + kFusedMlpXPad] in shared memory, normalized in place when gamma != nullptr.
// Called by all threads after the op's input wait; ends with a barrier.
__device__ __forceinline__ void fused_mlp_stage_x(const FusedMlpArgs& a, __half* xs, float* red, float* mean,
                                                  float* rstd) {
  const int tid = threadIdx.x, nv = a.d / 8, xld = a.d + kFusedMlpXPad;
#pragma unroll 4
  for (int v = tid; v < a.B * nv; v += kUnitThreads) {
    const int b = v / nv, c = v - b * nv;
    // L2 only (.cg): x was written earlier in this step, possibly by another SM of a persistent kernel.
    const uint4 val = __ldcg(reinterpret_cast<const uint4*>(a.x + static_cast<size_t>(b) * a.d) + c);
    *reinterpret_cast<uint4*>(xs + static_cast<size_t>(b) * xld + 8 * c) = val;
  }
  __syncthreads();
  if (a.gamma == nullptr) return;
  const int parts = a.B < 8 ? 8 / a.B : 1;
  const float inv_d = 1.f / static_cast<float>(a.d);
  fused_mlp_row_sums<false>(xs, xld, a.B, a.d, nullptr, red);
  __syncthreads();
  if (tid < a.B) {
    float s = 0.f;
    for (int p = 0; p < parts; ++p) s += red[tid * 8 + p];
    mean[tid] = s * inv_d;
  }
  __syncthreads();
  fused_mlp_row_sums<true>(xs, xld, a.B, a.d, mean, red);
  __syncthreads();
  if (tid < a.B) {
    float s = 0.f;
    for (int p = 0; p < parts; ++p) s += red[tid * 8 + p];
    rstd[tid] = rsqrtf(s * inv_d + a.eps);
  }
  __syncthreads();
  for (int c = tid; c < nv; c += kUnitThreads) {
    const uint4 gm = __ldg(reinterpret_cast<const uint4*>(a.gamma) + c);
    const uint4 bt = __ldg(reinterpret_cast<const uint4*>(a.beta) + c);
    for (int b = 0; b < a.B; ++b) {
      uint4* p = reinterpret_cast<uint4*>(xs + static_cast<size_t>(b) * xld + 8 * c);
      *p = layer_norm8(*p, gm, bt, mean[b], rstd[b]);
    }
  }
  __syncthreads();
}

}  // namespace dv::kernels
