// fixed_sum.cuh: split-K sums whose bits do not depend on the order the units arrive in.
// fused_mlp and sparse_mlp_down add each unit's partial outputs into one workspace. With float atomics the sum
// rounds differently from run to run, so the same step can differ in the last bits between the graph and the
// persistent path, or with PDL on and off, and a downstream top-k can then pick a different neuron at its
// boundary. Integer addition is associative: each partial is rounded once to a multiple of 2^-32 and added as a
// 64-bit integer, so every order gives the same bits (the error, 2^-33 a partial, is far below fp16's).
// A partial is clamped to |v| <= 2^23, far beyond fp16's range; a non-finite partial adds 2^55. The sums wrap
// modulo 2^64, so M such markers finalize to a magnitude of at least 2^23 (an Inf in the fp16 output, negative
// from M = 256 on) for every M from 1 to 511; the ops sum at most 2 units per SM into one element. With 2^56 a
// marker, 256 units whose partials were all NaN (fused_mlp's plan at opt-13b, MLP 10 %, batch 1: a NaN input
// row) wrapped to exactly 0, and the output came out finite.
#pragma once

#include <cuda_runtime.h>

namespace dv::kernels {

using FixedSum = unsigned long long;  // two's complement: unsigned adds wrap exactly like signed ones

// The split-sum workspaces (sparse_mlp_down, fused_mlp) hold the fixed-point sums of this many batch rows, then
// the arrival counters, then (ordered scheme) the fp32 partials: a layout that does not depend on B, so one
// workspace serves every B <= 32 under either scheme. With B-sized sums, an ordered launch at B = 1 left
// partials where a later B = 8 launch kept its counters and sums (kernel_bench's B = 8 rows came out wrong).
constexpr int kSplitSumMaxRows = 32;

#if defined(__CUDACC__)
__device__ __forceinline__ FixedSum to_fixed(float v) {
  if (!isfinite(v)) return 1ull << 55;
  return static_cast<FixedSum>(__float2ll_rn(fminf(fmaxf(v, -8388608.f), 8388608.f) * 4294967296.f));
}

__device__ __forceinline__ float from_fixed(FixedSum s) {
  return __ll2float_rn(static_cast<long long>(s)) * (1.f / 4294967296.f);
}

// dst[0..3] += (a, b, c, d) at L2 (the results are unused, so these compile to reductions).
__device__ __forceinline__ void red_add_fixed_v4(FixedSum* dst, float a, float b, float c, float d) {
  atomicAdd(dst, to_fixed(a));
  atomicAdd(dst + 1, to_fixed(b));
  atomicAdd(dst + 2, to_fixed(c));
  atomicAdd(dst + 3, to_fixed(d));
}

// Reads 8 consecutive sums (16-byte aligned) through L2 as floats and leaves them zero for the next launch.
__device__ __forceinline__ void take_fixed8(FixedSum* src, float (&v)[8]) {
  ulonglong2* p = reinterpret_cast<ulonglong2*>(src);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const ulonglong2 s = __ldcg(p + i);
    v[2 * i] = from_fixed(s.x);
    v[2 * i + 1] = from_fixed(s.y);
    __stcg(p + i, make_ulonglong2(0ull, 0ull));
  }
}
#endif  // __CUDACC__

}  // namespace dv::kernels
