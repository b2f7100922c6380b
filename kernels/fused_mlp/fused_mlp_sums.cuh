// fused_mlp_sums.cuh: the end of a fused-MLP unit (fused_mlp.cuh, steps 4 and 5) that is not the fixed-point
// reductions: writing a chunk's finished fp32 sums out (bias, residual, one fp16 rounding; both schemes), and
// the ordered split sums' finalize of a chunk by the CTA of the unit that completed it (the partials are
// stored by store_partials64, kernels/common/ordered_sum.cuh, into each unit's rows of [U][B][d]).
// Access pattern: the finalize reads U*B*64*4 bytes of partials per chunk from L2, B*64*2 of resid and 64*2
// of b2, and writes B*64*2.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>

#include "kernels/common/half8.cuh"
#include "kernels/common/ordered_sum.cuh"
#include "kernels/fused_mlp/fused_mlp.cuh"
#if defined(__CUDACC__)
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"  // pack_half8
#endif

namespace dv::kernels {

#if defined(__CUDACC__)
// out[b, col..col+7] = resid + b2 + v, one fp16 rounding (resid through L2: another CTA of a persistent
// launch may have written it).
__device__ __forceinline__ void fused_mlp_out8(const FusedMlpArgs& a, int b, int col, float (&v)[8]) {
  const size_t off = static_cast<size_t>(b) * a.d + col;
  float f[8];
  if (a.b2 != nullptr) {
    half8_to_float(__ldg(reinterpret_cast<const uint4*>(a.b2 + col)), f);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] += f[i];
  }
  if (a.resid != nullptr) {
    half8_to_float(__ldcg(reinterpret_cast<const uint4*>(a.resid + off)), f);
#pragma unroll
    for (int i = 0; i < 8; ++i) v[i] += f[i];
  }
  *reinterpret_cast<uint4*>(a.out + off) = pack_half8(v);
}

// The ordered scheme's partials area [U][B][d] (fused_mlp.cuh).
__device__ __forceinline__ float* fused_mlp_partials(const FusedMlpArgs& a) {
  return reinterpret_cast<float*>(static_cast<char*>(a.workspace) + fused_mlp_partials_offset(a.d));
}

// Called by the whole CTA of the unit that completed chunk c0: out[b, c0..c0+63] = resid + b2 + the partials
// of the units (of `units`) whose slice of the k selected neurons is non-empty, in unit order. `staged`:
// kOrderedSumSmemBytes of shared memory.
__device__ __forceinline__ void fused_mlp_finalize_ordered(const FusedMlpArgs& a, int units, int c0, int k,
                                                           float* staged) {
  const int items = a.B * (kFusedMlpColChunk / 8);  // <= kUnitThreads: B <= 32
  const int e = static_cast<int>(threadIdx.x) % items;
  const int b = e / (kFusedMlpColChunk / 8), col = c0 + 8 * (e % (kFusedMlpColChunk / 8));
  const float* p = col < a.d ? fused_mlp_partials(a) + static_cast<size_t>(b) * a.d + col : nullptr;
  // Unit u's slice is [u*k/U, (u+1)*k/U) (the op's split); an empty one stored nothing.
  const auto stored = [k, units](int u) {
    return static_cast<long long>(u + 1) * k / units > static_cast<long long>(u) * k / units;
  };
  float v[8];
  if (ordered_sum8(p, static_cast<size_t>(a.B) * a.d, units, items, stored, staged, v)) fused_mlp_out8(a, b, col, v);
}
#endif  // __CUDACC__

}  // namespace dv::kernels
