// ordered_sum.cuh: the finalizing half of the ordered split sums (DEJAVU_SPLIT_SUM=ordered), shared by
// sparse_mlp_down and fused_mlp. Each split (a unit's share of the rows) stores its fp32 partials with plain
// stores into its own rows of a partials area; the last unit through a column slice sums the splits in split
// order. A fixed order gives the same bits whatever order the units arrive in, without data atomics (the
// fixed-point alternative, fixed_sum.cuh, issues four 8-byte atomics per 4 outputs).
// Access pattern: an item is 8 consecutive columns of one batch row; a thread reads its item's 32 bytes from
// each split it sums (two 16-byte L2 loads, several splits in flight). When a slice has fewer items than the
// CTA has threads (small batches), `groups` threads share an item, each summing a fixed range of the splits,
// and the ranges are added in range order through shared memory: the order depends on the shape, never on
// timing.
#pragma once

#include <cuda_runtime.h>

#include "kernels/common/work_units.cuh"

namespace dv::kernels {

constexpr int kOrderedSumSmemBytes = kUnitThreads * 8 * 4;  // `staged`: 8 floats a thread

#if defined(__CUDACC__)
__device__ __forceinline__ void add_float8(float (&v)[8], const float4& x, const float4& y) {
  v[0] += x.x;
  v[1] += x.y;
  v[2] += x.z;
  v[3] += x.w;
  v[4] += y.x;
  v[5] += y.y;
  v[6] += y.z;
  v[7] += y.w;
}

// One split's partials of 8 consecutive columns (acc[i][e], i < 8: a warp's down-projection accumulators,
// kernels/sparse_mlp_up/mma_m16n8k16.cuh's for_each_acc8) into its rows of a partials area at p (32-byte
// aligned): two plain 16-byte stores to L2.
__device__ __forceinline__ void store_partials8(float* p, const float (&acc)[8][4], int e) {
  float4* q = reinterpret_cast<float4*>(p);
  __stcg(q, make_float4(acc[0][e], acc[1][e], acc[2][e], acc[3][e]));
  __stcg(q + 1, make_float4(acc[4][e], acc[5][e], acc[6][e], acc[7][e]));
}

// The CTA's sum of one item per thread over splits [0, n) whose partials were stored (stored(s)), in split
// order. Called by all kUnitThreads threads of the CTA (it has barriers), for `items` <= kUnitThreads items:
// thread t serves item t % items. item_p: this thread's item in split 0 (split s at item_p + s * split_stride,
// 32-byte aligned), or nullptr where the item is past the output. Returns true in the one thread of each item
// that holds the item's sum in v (which the caller then writes out).
template <class Stored>
__device__ __forceinline__ bool ordered_sum8(const float* item_p, size_t split_stride, int n, int items,
                                             const Stored& stored, float* staged, float (&v)[8]) {
  const int groups = max(1, kUnitThreads / items);
  const int e = threadIdx.x % items, grp = threadIdx.x / items;
  const bool active = item_p != nullptr && grp < groups;
#pragma unroll
  for (int i = 0; i < 8; ++i) v[i] = 0.f;
  if (active) {
    const int s_end = (grp + 1) * n / groups;
#pragma unroll 4
    for (int s = grp * n / groups; s < s_end; ++s) {
      if (!stored(s)) continue;
      const float4* q = reinterpret_cast<const float4*>(item_p + s * split_stride);
      add_float8(v, __ldcg(q), __ldcg(q + 1));
    }
  }
  if (groups == 1) return active;
  __syncthreads();  // an earlier call's readers of `staged` are done
  float4* mine = reinterpret_cast<float4*>(staged + (static_cast<size_t>(grp) * items + e) * 8);
  if (active && grp > 0) {
    mine[0] = make_float4(v[0], v[1], v[2], v[3]);
    mine[1] = make_float4(v[4], v[5], v[6], v[7]);
  }
  __syncthreads();
  if (!active || grp != 0) return false;
  for (int r = 1; r < groups; ++r) {
    const float4* other = reinterpret_cast<const float4*>(staged + (static_cast<size_t>(r) * items + e) * 8);
    add_float8(v, other[0], other[1]);
  }
  return true;
}
#endif  // __CUDACC__

}  // namespace dv::kernels
