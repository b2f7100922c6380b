// gemv_tile.cuh: the dot-product core of the persistent decode kernel's row op (row_gemv_op.cuh): 16 weight
// rows against 8 input columns, over the whole reduction length K, by one CTA.
//   red[r][c] = dot(W_r[0:K], X_c[0:K])   r < 16, c < 8 (fp32)
// Access pattern: the CTA's 8 warps split K into contiguous ranges of 32-wide chunks; in a chunk lane (g, t)
// loads 16 bytes of weight rows g and g + 8 (columns 8t..8t+7, streaming, L1 bypassed: read once) and the
// same 16 bytes of input column g (ld.global.cg: inputs are written by other CTAs inside the same kernel,
// so they must not come from a non-coherent cache), and feeds them to two m16n8k16 MMAs (weights = A,
// inputs = B, fp32 accumulation; the k order inside a fragment is relabelled identically for A and B, see
// kernels/sparse_mlp_up/mma_m16n8k16.cuh). kUnroll chunks (4 KB of weights a warp) are in flight together.
// The first chunks' weight loads are issued before `ready()` runs: in the persistent kernel ready() is the
// wait for the op's inputs, so the weights stream while the previous op finishes (the unit convention's
// early loads). Bytes: 16 * K * 2 of weights per tile; inputs from L2.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/persistent_decode/op_common.h"
#if defined(__CUDACC__)
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"
#endif

namespace dv::kernels {

constexpr int kTileRows = 16;     // MMA M: weight rows per tile
constexpr int kTileCols = 8;      // MMA N: input columns per pass
constexpr int kTileUnroll = 4;    // 32-wide chunks in flight per warp
constexpr int kUnitWarps = kOpThreads / 32;
// Shared memory of one tile's cross-warp reduction: [warps][16][8] fp32.
constexpr int kTileSmemBytes = kUnitWarps * kTileRows * kTileCols * static_cast<int>(sizeof(float));

#if defined(__CUDACC__)
__device__ __forceinline__ uint4 ld_coherent_u4(const void* p) { return __ldcg(reinterpret_cast<const uint4*>(p)); }

// The input loader of a plain tile: 16 bytes of x at column col, through L2.
struct CoherentX {
  __device__ __forceinline__ uint4 operator()(const __half* x, int col) const { return ld_coherent_u4(x + col); }
};

// w0 / w1: this lane's weight rows g and g + 8 (nullptr: zero rows). x: this lane's input column g (nullptr:
// zero column), read as load_x(x, col) (16 bytes at column col; e.g. normalized on load). K: a multiple of 8. On
// return red (smem, kTileSmemBytes) holds the sums at red[r * 8 + c] for every thread (the call ends with a
// barrier). ready() is called once by every thread.
template <class Ready, class LoadX = CoherentX>
__device__ __forceinline__ void gemv_tile(const __half* w0, const __half* w1, const __half* x, int K, float* red,
                                          Ready&& ready, LoadX load_x = {}) {
  constexpr int U = kTileUnroll;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int chunks = (K + 31) / 32;
  const int c0 = warp * chunks / kUnitWarps, c1 = (warp + 1) * chunks / kUnitWarps;
  const int lane_col = 8 * t;

  uint4 wa[U], wb[U];
  auto load_weights = [&](int c) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int col = (c + u) * 32 + lane_col;
      const bool ok = c + u < c1 && col < K;
      wa[u] = ok && w0 != nullptr ? ld_stream_u4(w0 + col) : zero_u4();
      wb[u] = ok && w1 != nullptr ? ld_stream_u4(w1 + col) : zero_u4();
    }
  };
  load_weights(c0);
  ready();

  float acc[4] = {0.f, 0.f, 0.f, 0.f};
  for (int c = c0; c < c1; c += U) {
    uint4 xv[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int col = (c + u) * 32 + lane_col;
      xv[u] = c + u < c1 && col < K && x != nullptr ? load_x(x, col) : zero_u4();
    }
#pragma unroll
    for (int u = 0; u < U; ++u) {
      mma_16816(acc, wa[u].x, wb[u].x, wa[u].y, wb[u].y, xv[u].x, xv[u].y);
      mma_16816(acc, wa[u].z, wb[u].z, wa[u].w, wb[u].w, xv[u].z, xv[u].w);
    }
    if (c + U < c1) load_weights(c + U);
  }

  // D fragment: acc[0..1] = (row g, columns 2t, 2t+1), acc[2..3] = (row g + 8, same columns).
  float* mine = red + warp * kTileRows * kTileCols;
  mine[g * kTileCols + 2 * t] = acc[0];
  mine[g * kTileCols + 2 * t + 1] = acc[1];
  mine[(g + 8) * kTileCols + 2 * t] = acc[2];
  mine[(g + 8) * kTileCols + 2 * t + 1] = acc[3];
  __syncthreads();
  if (threadIdx.x < kTileRows * kTileCols) {
    float s = 0.f;
#pragma unroll
    for (int w = 0; w < kUnitWarps; ++w) s += red[w * kTileRows * kTileCols + threadIdx.x];
    red[threadIdx.x] = s;  // (row, column) = (threadIdx.x / 8, threadIdx.x % 8); read and written by this thread
  }
  __syncthreads();
}

#endif  // __CUDACC__
}  // namespace dv::kernels
