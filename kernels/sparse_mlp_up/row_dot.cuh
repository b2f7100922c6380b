// row_dot.cuh: the gathered row-dot core on the tensor cores, shared by sparse_mlp_up (fc1 over selected
// neurons) and lowrank_predictor (both dense predictor GEMVs).
//   s[b][j] = dot(W[row(j), :], x[b, :])   for j < rows, b < B,   row(j) = idx ? idx[j] : j
// then an epilogue functor turns the block's fp32 sums into outputs.
//
// Access pattern: a block owns kRowsPerBlock = 8*NT consecutive entries of the selection (NT = BT/8) and all
// B rows of x; its 8 warps split d into contiguous 32-column chunks, so every selected row is read exactly
// once, for all batch rows at once (batch reuse happens in the MMA). Lane (g, t) issues one 16-byte
// streaming load per 32-column chunk of its row (8*nt + g), i.e. four lanes read 64 contiguous bytes of a row;
// each warp keeps U chunks of loads in flight before its MMAs (kPipe: rounds of U / 2 chunks, the next round's
// loads issued before this round's MMAs). x is read through the read-only cache (the same
// chunk is reused by all NT row tiles; x is L2-resident: B*d*2 <= 786 KB), so x traffic per block is at most
// the weight traffic (BT rows of x per 8*NT = BT weight rows).
// Bytes that must move: rows*d*2 (weights) + B*d*2 (x) + rows*4 (idx) + the epilogue's outputs.
// The k dimension is relabelled so a lane's 8 loaded halves feed two MMA k-steps (see mma_m16n8k16.cuh):
// step s uses the lane's physical columns 8t + 4s + {0,1} as logical {2t, 2t+1} and 8t + 4s + {2,3} as
// logical {2t+8, 2t+9}, identically for x (operand A, rows = batch) and W (operand B, columns = rows j).
// int8 weights (w_i8, the predictor's int8 variant): the same tiling with 8-byte loads of 8 int8 columns,
// converted exactly to fp16 in registers (int8x8_to_half8); the per-row scale is the epilogue's (s is then
// the dot product with the integer row, and scale * s the row's dot product).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/common/half8.cuh"
#include "kernels/common/l2_warmup.cuh"
#include "kernels/common/pdl.cuh"
#include "kernels/common/work_units.cuh"
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"
#include "kernels/sparse_qkv/qkv_layer_norm.cuh"

namespace dv::kernels {

struct RowDotProblem {
  const __half* w = nullptr;    // [*, d] row-major, 16-byte aligned
  const int8_t* w_i8 = nullptr; // launch_row_dot<true>: int8 [*, d] row-major instead of w, 8-byte aligned
  const int* idx = nullptr;     // [max_rows] row indices, or nullptr for rows 0..max_rows-1
  const int* k_dev = nullptr;   // device count of valid entries (clamped to [0, max_rows]); nullptr: max_rows
  const __half* x = nullptr;    // [B, d] row-major, 16-byte aligned
  // launch_row_dot<kI8, true>: x is a residual stream the block normalizes itself (the layer norm fused, as
  // sparse_qkv's: qkv_layer_norm.cuh's statistics, layer_norm8 on each loaded x vector); 16-byte aligned.
  const __half* ln_gamma = nullptr;
  const __half* ln_beta = nullptr;
  float ln_eps = 1e-5f;
  int max_rows = 0;
  int B = 0;                    // 1..BT
  int d = 0;                    // multiple of 8
  // kLn, optional: the statistics from x's producer's per-slice sums, [ln_partial_blocks][B][2] fp32 (sum, sum
  // of squares; qkv_layer_norm.cuh's row_stats_from_partials) instead of the block's pass over x.
  const float* ln_row_partials = nullptr;
  int ln_partial_blocks = 0;
  // Optional: warm_blocks blocks in front prefetch `warm` into L2 (l2_warmup.cuh) instead of rows.
  L2Warmup warm;
  int warm_blocks = 0;
};

constexpr int kRowDotWarps = 8;
// Two resident blocks per SM is enough bytes in flight (2 x 8 warps x 4 KB). Naming the minimum matters: with
// no minimum ptxas minimises registers for occupancy and interleaves each load with its MMA, leaving one or
// two loads in flight per warp (seen in the SASS); with it, all U chunks' loads are issued before the MMAs.
constexpr int kRowDotMinBlocks = 2;

// Compile-time tiling per batch tile BT (8, 16 or 32 rows of x).
template <int BT>
struct RowDotTile {
  static constexpr int kXGroups = BT / 8;              // lane g loads x rows g, g+8, g+16, g+24
  static constexpr int kMTiles = BT >= 16 ? BT / 16 : 1;
  static constexpr int kNTiles = BT / 8;               // 8-row tiles of W per block
  static constexpr int kRowsPerBlock = 8 * kNTiles;
  // 128 bytes of weights in flight per lane per iteration in every configuration.
  static constexpr int kUnroll = 8 / kNTiles;
};

// 8 signed bytes -> 8 halves, exactly (|q| <= 128 fits fp16's 11-bit significand): each byte, biased to
// unsigned by xor 0x80, goes under the high byte 0x64 (the half 1024 + u, exactly), then 1024 + 128 is
// subtracted from both halves of each word. Element i lands in half i, as a 16-byte load of fp16 would.
__device__ __forceinline__ uint32_t biased_bytes_to_half2(uint32_t u, uint32_t selector) {
  uint32_t h = __byte_perm(u, 0x64646464u, selector), out;
  asm("sub.f16x2 %0, %1, %2;" : "=r"(out) : "r"(h), "r"(0x64806480u));
  return out;
}

__device__ __forceinline__ uint4 int8x8_to_half8(uint2 v) {
  const uint32_t lo = v.x ^ 0x80808080u, hi = v.y ^ 0x80808080u;
  return make_uint4(biased_bytes_to_half2(lo, 0x4140), biased_bytes_to_half2(lo, 0x4342),
                    biased_bytes_to_half2(hi, 0x4140), biased_bytes_to_half2(hi, 0x4342));
}

// The weight rows' element type and how 8 consecutive elements reach registers as 8 halves; load8_before_wait
// is the form for loads issued before a PDL wait, which ptxas keeps there (ld_before_wait_u4).
template <bool kI8>
struct RowDotWeights {
  using T = __half;
  __device__ static const T* base(const RowDotProblem& p) { return p.w; }
  __device__ static uint4 load8(const T* ptr) { return ld_stream_u4(ptr); }
  __device__ static uint4 load8_before_wait(const T* ptr) { return ld_before_wait_u4(ptr); }
};
template <>
struct RowDotWeights<true> {
  using T = int8_t;
  __device__ static const T* base(const RowDotProblem& p) { return p.w_i8; }
  __device__ static uint4 load8(const T* ptr) { return int8x8_to_half8(ld_stream_u2(ptr)); }
  __device__ static uint4 load8_before_wait(const T* ptr) { return int8x8_to_half8(ld_before_wait_u2(ptr)); }
};

// The fused layer norm on one chunk's x vectors (columns k .. k + 7 of each of the lane's rows), gamma and
// beta through the read-only path; rows past B (xok false) stay zeros.
template <int XG>
__device__ __forceinline__ void normalize_x(uint4 (&xv)[XG], const RowDotProblem& p, int k, const bool (&xok)[XG],
                                            const float (&mean)[XG], const float (&rstd)[XG]) {
  const uint4 gm = __ldg(reinterpret_cast<const uint4*>(p.ln_gamma + k));
  const uint4 bt = __ldg(reinterpret_cast<const uint4*>(p.ln_beta + k));
#pragma unroll
  for (int q = 0; q < XG; ++q)
    if (xok[q]) xv[q] = layer_norm8(xv[q], gm, bt, mean[q], rstd[q]);
}

template <int BT, class Epilogue, bool kI8 = false, bool kLn = false, bool kPipe = false>
__global__ void __launch_bounds__(kRowDotWarps * 32, kRowDotMinBlocks) row_dot_kernel(RowDotProblem p, Epilogue ep) {
  using Tile = RowDotTile<BT>;
  using WL = RowDotWeights<kI8>;
  pdl_begin();
  constexpr int NT = Tile::kNTiles, MT = Tile::kMTiles, XG = Tile::kXGroups, U = Tile::kUnroll;
  constexpr int R = Tile::kRowsPerBlock;
  // +1 column of padding: the epilogue reads down a column.
  __shared__ float partial[kRowDotWarps][R][BT + 1];

  if (static_cast<int>(blockIdx.x) < p.warm_blocks) {
    l2_warmup<PdlSync<false>>(p.warm, static_cast<int>(blockIdx.x), p.warm_blocks);
    return;
  }
  const int rows = p.k_dev != nullptr ? min(max(*p.k_dev, 0), p.max_rows) : p.max_rows;
  const int j0 = (static_cast<int>(blockIdx.x) - p.warm_blocks) * R;
  if (j0 >= rows) return;  // whole block: no barrier is skipped by part of it

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;

  const typename WL::T* wrow[NT];
  bool wok[NT];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt) {
    const int j = j0 + 8 * nt + g;
    wok[nt] = j < rows;
    const int row = wok[nt] ? (p.idx != nullptr ? p.idx[j] : j) : 0;
    wrow[nt] = WL::base(p) + static_cast<size_t>(row) * p.d + 8 * t;
  }
  const __half* xrow[XG];
  bool xok[XG];
#pragma unroll
  for (int q = 0; q < XG; ++q) {
    xok[q] = g + 8 * q < p.B;
    xrow[q] = p.x + static_cast<size_t>(xok[q] ? g + 8 * q : 0) * p.d + 8 * t;
  }
  // The fused layer norm: every block computes the B rows' statistics (x from L2, one pass), the same bits in
  // every block; each lane keeps those of its x rows.
  float x_mean[XG], x_rstd[XG];
  if constexpr (kLn) {
    // x and the partials through the graph path's load policy (PdlSync: the read-only path), safe here because
    // the kernel waited for the previous grid before its first load (pdl_begin).
    using XLoad = PdlSync<false>;
    __shared__ float ln_stats[2 * kSparseQkvLnMaxRows];
    __shared__ float ln_red[2 * 32];
    if (p.ln_row_partials != nullptr)
      qkv::row_stats_from_partials<XLoad>(p.ln_row_partials, p.ln_partial_blocks, p.B, p.d, p.ln_eps,
                                                ln_stats);
    else
      qkv::row_stats<XLoad>(p.x, p.B, p.d, p.ln_eps, ln_stats, ln_red);
#pragma unroll
    for (int q = 0; q < XG; ++q) {
      x_mean[q] = xok[q] ? ln_stats[g + 8 * q] : 0.f;
      x_rstd[q] = xok[q] ? ln_stats[kSparseQkvLnMaxRows + g + 8 * q] : 0.f;
    }
  }

  float acc[NT][MT][4];
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[nt][mt][e] = 0.f;

  const int chunks = (p.d + 31) / 32;
  const int c_begin = warp * chunks / kRowDotWarps;
  const int c_end = (warp + 1) * chunks / kRowDotWarps;
  if constexpr (!kPipe) {
    for (int c = c_begin; c < c_end; c += U) {
      uint4 wv[U][NT];
      uint4 xv[U][XG];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int col = (c + u) * 32;
        const bool cok = c + u < c_end && col + 8 * t < p.d;
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) wv[u][nt] = (cok && wok[nt]) ? WL::load8(wrow[nt] + col) : zero_u4();
#pragma unroll
        for (int q = 0; q < XG; ++q) xv[u][q] = (cok && xok[q]) ? ld_cached_u4(xrow[q] + col) : zero_u4();
        if constexpr (kLn) {
          if (cok) normalize_x(xv[u], p, col + 8 * t, xok, x_mean, x_rstd);
        }
      }
#pragma unroll
      for (int u = 0; u < U; ++u) mma_chunk(acc, xv[u], wv[u]);
    }
  } else {
    // Software-pipelined (sparse_mlp_up's `pipelined`): rounds of U / 2 chunks, round r + 1's weight loads
    // issued before round r's x loads and MMAs, so each warp keeps loads in flight between rounds (the default
    // waits for all U chunks, then issues the next U). The same MMAs in the same order: the same bits.
    // Chunk c's weights (zeros past c_end or d) and x vectors (normalized with kLn), as the loop above loads them.
    auto load_w = [&](uint4 (&wv)[NT], int c) {
      const int col = c * 32;
      const bool cok = c < c_end && col + 8 * t < p.d;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) wv[nt] = (cok && wok[nt]) ? WL::load8(wrow[nt] + col) : zero_u4();
    };
    auto load_x = [&](uint4 (&xv)[XG], int c) {
      const int col = c * 32;
      const bool cok = c < c_end && col + 8 * t < p.d;
#pragma unroll
      for (int q = 0; q < XG; ++q) xv[q] = (cok && xok[q]) ? ld_cached_u4(xrow[q] + col) : zero_u4();
      if constexpr (kLn) {
        if (cok) normalize_x(xv, p, col + 8 * t, xok, x_mean, x_rstd);
      }
    };
    constexpr int UP = U > 1 ? U / 2 : 1;
    uint4 wa[UP][NT], wb[UP][NT];
    auto load_round = [&](uint4 (&wv)[UP][NT], int c) {
#pragma unroll
      for (int u = 0; u < UP; ++u) load_w(wv[u], c + u);
    };
    auto mma_round = [&](const uint4 (&wv)[UP][NT], int c) {
      uint4 xv[UP][XG];
#pragma unroll
      for (int u = 0; u < UP; ++u) load_x(xv[u], c + u);
#pragma unroll
      for (int u = 0; u < UP; ++u) mma_chunk(acc, xv[u], wv[u]);
    };
    load_round(wa, c_begin);
    for (int c = c_begin; c < c_end; c += 2 * UP) {
      load_round(wb, c + UP);
      mma_round(wa, c);
      if (c + UP >= c_end) break;
      load_round(wa, c + 2 * UP);
      mma_round(wb, c + UP);
    }
  }

  store_mma_tiles<BT>(acc, [&](int j, int b) -> float& { return partial[warp][j][b]; });
  __syncthreads();
  for (int e = threadIdx.x; e < R * BT; e += blockDim.x) {
    const int r = e / BT, b = e % BT;
    float s = 0.f;
#pragma unroll
    for (int w = 0; w < kRowDotWarps; ++w) s += partial[w][r][b];
    partial[0][r][b] = s;  // each (r, b) is read and written by this thread only
  }
  __syncthreads();
  ep(partial[0], j0, rows, p.B);
}

// Epilogue: out[b * ld + j] = act(scale[row(j)] * s + bias[row(j)]) in fp16, for j < rows, b < B. Entries
// j >= rows untouched.
struct HalfRowEpilogue {
  __half* out = nullptr;
  int ld = 0;
  const float* scale = nullptr;  // indexed by row(j); nullptr: 1 (int8 weights' per-row scales)
  const __half* bias = nullptr;  // indexed by row(j); nullptr: no bias
  const int* idx = nullptr;      // the problem's idx (for the bias lookup)
  bool relu = false;

  template <int R, int BTP>
  __device__ void operator()(const float (&s)[R][BTP], int j0, int rows, int B) const {
    // Consecutive threads take consecutive j: coalesced stores along a row of out.
    for (int e = threadIdx.x; e < R * (BTP - 1); e += blockDim.x) {
      const int r = e % R, b = e / R, j = j0 + r;
      if (j >= rows || b >= B) continue;
      float v = s[r][b];
      if (scale != nullptr) v *= scale[idx != nullptr ? idx[j] : j];
      if (bias != nullptr) v += __half2float(bias[idx != nullptr ? idx[j] : j]);
      if (relu) v = v < 0.f ? 0.f : v;  // NaN propagates, like torch.relu
      out[static_cast<size_t>(b) * ld + j] = __float2half_rn(v);
    }
  }
};

// Epilogue: scores[j] = scale[j] * max over b < B of s[b][j] (fp32): the batch's union score for the
// predictor. A row's scale is >= 0, so scaling the maximum equals the maximum of the scaled sums.
struct MaxOverBatchEpilogue {
  float* scores = nullptr;
  const float* scale = nullptr;  // [rows] (the problem has no idx); nullptr: 1

  template <int R, int BTP>
  __device__ void operator()(const float (&s)[R][BTP], int j0, int rows, int B) const {
    for (int r = threadIdx.x; r < R; r += blockDim.x) {
      if (j0 + r >= rows) continue;
      float m = s[r][0];
      for (int b = 1; b < B; ++b) m = fmaxf(m, s[r][b]);
      scores[j0 + r] = scale != nullptr ? m * scale[j0 + r] : m;
    }
  }
};

// Host side: picks the batch tile (B <= 8, 16, 32) so small batches do not pay for the larger tiles' x
// traffic, and sizes the grid from max_rows. The caller checks the launch (DV_CUDA_LAUNCH_CHECK).
template <int BT, bool kI8, bool kLn, bool kPipe, class Epilogue>
void launch_row_dot_tile(const RowDotProblem& p, const Epilogue& ep, cudaStream_t stream) {
  constexpr int R = RowDotTile<BT>::kRowsPerBlock;
  const unsigned blocks = static_cast<unsigned>(p.warm_blocks + (p.max_rows + R - 1) / R);
  launch_kernel_pdl(row_dot_kernel<BT, Epilogue, kI8, kLn, kPipe>, blocks, kRowDotWarps * 32, 0, stream, p, ep);
}

// kI8: the rows are p.w_i8 (int8) instead of p.w (fp16). kLn: x is normalized in the kernel (p.ln_gamma,
// p.ln_beta, p.ln_eps; B <= kSparseQkvLnMaxRows). kPipe: the software-pipelined k loop (the same bits).
template <bool kI8 = false, bool kLn = false, bool kPipe = false, class Epilogue>
void launch_row_dot(const RowDotProblem& p, const Epilogue& ep, cudaStream_t stream) {
  if (p.max_rows <= 0) return;
  if (p.B <= 8) {
    launch_row_dot_tile<8, kI8, kLn, kPipe>(p, ep, stream);
  } else if (p.B <= 16) {
    launch_row_dot_tile<16, kI8, kLn, kPipe>(p, ep, stream);
  } else {
    launch_row_dot_tile<32, kI8, kLn, kPipe>(p, ep, stream);
  }
}

}  // namespace dv::kernels
