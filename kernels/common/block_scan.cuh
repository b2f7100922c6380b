// block_scan.cuh: an exclusive prefix sum over a CTA of kThreads threads in thread order (warp shuffles, then the
// warp totals in shared memory), for the selections that compact in index order (the predictor's select op, its
// previous one-block version, the persistent path's select op).
#pragma once

namespace dv::kernels {

// Returns the sum of v over the threads before this one; *total gets the CTA's sum. Every thread calls it;
// warp_tot holds kThreads / 32 ints of shared memory, free again when it returns.
template <int kThreads>
__device__ __forceinline__ int block_exclusive_scan(int v, int* warp_tot, int* total) {
  constexpr int kWarps = kThreads / 32;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  int incl = v;
#pragma unroll
  for (int o = 1; o < 32; o <<= 1) {
    const int y = __shfl_up_sync(0xFFFFFFFFu, incl, o);
    if (lane >= o) incl += y;
  }
  if (lane == 31) warp_tot[warp] = incl;
  __syncthreads();
  int before = 0, sum = 0;
#pragma unroll
  for (int w = 0; w < kWarps; ++w) {
    const int s = warp_tot[w];
    before += w < warp ? s : 0;
    sum += s;
  }
  *total = sum;
  __syncthreads();  // warp_tot is reused by the next scan
  return before + incl - v;
}

}  // namespace dv::kernels
