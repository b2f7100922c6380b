// predictor_dot.cuh: one work unit's dot products for the predictor's two GEMVs, on the tensor cores:
//   s[j][b] = dot(W[row0 + j, c0:c1], x[b, c0:c1])   for j < R rows, b < B
// into shared memory, for the z op (a row tile x a column split of d) and the scores op (a row tile x all r).
// Access pattern: the unit's 8 warps split [c0, c1) into contiguous runs of 32-column chunks; lane (g, t) of a
// warp reads 16 bytes (8 columns; int8: 8 bytes) of row 8*nt + g per chunk for each of the NT row tiles, so
// four lanes read 64 contiguous bytes of a row and each weight byte is read once for all B rows of x (batch
// reuse happens in the MMA). U chunks per warp are loaded before any MMA: U * NT = 8, i.e. 128 bytes in flight
// per lane and 32 KB per unit (fp16). Weights do not depend on the step, so the first U chunks are loaded
// before sync.inputs() (the PDL wait, or the persistent kernel's counter wait); x is read after it.
// The k dimension is relabelled so one 16-byte load feeds two MMA k-steps (see mma_m16n8k16.cuh):
// step s uses physical columns 8t + 4s + {0,1} as logical {2t, 2t+1} and 8t + 4s + {2,3} as logical
// {2t+8, 2t+9}, identically for x (operand A, rows = batch) and W (operand B, columns = rows j).
// Loads of x are plain (L1-allocating, coherent after an acquire): x and z are written during the step.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/common/work_units.cuh"
#include "kernels/lowrank_predictor/predictor_tile.h"
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"
#include "kernels/sparse_mlp_up/row_dot.cuh"

namespace dv::kernels {

// Activations written earlier in the step: a plain 16-byte global load (never the non-coherent path).
__device__ __forceinline__ uint4 ld_act_u4(const void* ptr) {
  uint4 v;
  asm volatile("ld.global.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(ptr));
  return v;
}

static_assert(kPredictorThreads == kUnitThreads, "the predictor ops assume the unit convention's CTA size");

// s = the unit's sums, left in smem[0 .. R*(BT+1)) as s[j * (BT+1) + b]. Every thread calls it; it calls
// sync.inputs() exactly once and ends with a barrier. Rows at or past `rows` and batch rows at or past B are 0.
template <int BT, bool kI8, class Sync>
__device__ void predictor_dot(const void* w_base, int ldw, int row0, int rows, const __half* x, int ldx, int B,
                              int c0, int c1, float* smem, const Sync& sync) {
  using Tile = PredictorTile<BT>;
  using WL = RowDotWeights<kI8>;
  using T = typename WL::T;
  constexpr int NT = Tile::kNTiles, MT = Tile::kMTiles, XG = Tile::kXGroups, U = Tile::kUnroll, R = Tile::kRows;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;

  const T* wrow[NT];
  bool wok[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int j = row0 + 8 * nt + g;
    wok[nt] = j < rows;
    wrow[nt] = static_cast<const T*>(w_base) + static_cast<size_t>(wok[nt] ? j : 0) * ldw + c0 + 8 * t;
  }
  const __half* xrow[XG];
  bool xok[XG];
#pragma unroll
  for (int q = 0; q < XG; ++q) {
    xok[q] = g + 8 * q < B;
    xrow[q] = x + static_cast<size_t>(xok[q] ? g + 8 * q : 0) * ldx + c0 + 8 * t;
  }

  float acc[NT][MT][4] = {};

  const int width = c1 - c0;
  const int chunks = (width + 31) / 32;
  const int c_begin = warp * chunks / Tile::kWarps, c_end = (warp + 1) * chunks / Tile::kWarps;
  uint4 wv[U][NT];
  auto load_w = [&](int c, bool before_wait) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int col = (c + u) * 32;
      const bool cok = c + u < c_end && col + 8 * t < width;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        const T* w = wrow[nt] + col;
        wv[u][nt] = (cok && wok[nt]) ? (before_wait ? WL::load8_before_wait(w) : WL::load8(w)) : zero_u4();
      }
    }
  };
  load_w(c_begin, true);  // step-independent: in flight while the unit waits for its inputs
  sync.inputs();
  for (int c = c_begin; c < c_end; c += U) {
    if (c != c_begin) load_w(c, false);
    uint4 xv[U][XG];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int col = (c + u) * 32;
      const bool cok = c + u < c_end && col + 8 * t < width;
#pragma unroll
      for (int q = 0; q < XG; ++q) xv[u][q] = (cok && xok[q]) ? ld_act_u4(xrow[q] + col) : zero_u4();
    }
#pragma unroll
    for (int u = 0; u < U; ++u) mma_chunk(acc, xv[u], wv[u]);
  }

  constexpr int BP = BT + 1;
  float* mine = smem + warp * R * BP;
  store_mma_tiles<BT>(acc, [&](int j, int b) -> float& { return mine[j * BP + b]; });
  __syncthreads();
  for (int e = threadIdx.x; e < R * BT; e += kUnitThreads) {
    const int j = e / BT, b = e % BT;
    float s = 0.f;
#pragma unroll
    for (int w = 0; w < Tile::kWarps; ++w) s += smem[(w * R + j) * BP + b];
    smem[j * BP + b] = s;  // warp 0's slot: read and written by this thread only
  }
  __syncthreads();
}

}  // namespace dv::kernels
