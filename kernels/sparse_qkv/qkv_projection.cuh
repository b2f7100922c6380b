// qkv_projection.cuh: the device core that sparse_qkv and kv_catchup share: one unit (kUnitThreads threads)
// projects 16 rows of a head's packed Q/K/V weights over B x positions input columns, one pass over the
// weights per kSparseQkvPassColumns columns.
// Tensor-core GEMV: the weight tile is the MMA's A operand loaded straight from global memory. Each lane
// loads 8 consecutive k of a weight row (one 16-byte load) and the same 8 k of its input column, and the
// two are split over two m16n8k16 MMAs; the k order inside a fragment does not matter for a dot product as
// long as A and B use the same one (see mma_m16n8k16.cuh). The 8 warps split d; their fp32 partial tiles
// meet in shared memory, where the unit adds the bias and writes fp16 q or K/V cache rows.
// Inputs (x, x_hist) are read through the Sync's load policy (work_units.cuh); with the fused layer norm the
// current position's columns are normalized as they are loaded (qkv_layer_norm.cuh).
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/work_units.cuh"
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"
#include "kernels/sparse_qkv/qkv_layer_norm.cuh"
#include "kernels/sparse_qkv/qkv_layout.h"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv::kernels::qkv {

// What a slice projection reads and writes (shapes as in sparse_qkv.cuh).
struct Projection {
  __half* q = nullptr;
  __half* k_cache = nullptr;
  __half* v_cache = nullptr;
  const __half* x_cur = nullptr;   // [B, d] inputs at pos, or nullptr: pos is read from x_hist like the rest
  const __half* x_hist = nullptr;  // [B, ring, d]
  const __half* w_qkv = nullptr;
  const __half* b_qkv = nullptr;
  const __half* ln_gamma = nullptr;  // x_cur is the residual stream: normalized on load (with ln_beta, ln_stats)
  const __half* ln_beta = nullptr;
  const float* ln_stats = nullptr;   // shared: mean [kSparseQkvLnMaxRows], then rstd
  int B = 0, H = 0, hd = 0, max_len = 0, ring = 0;
  int d = 0;                         // input width
};

// The K/V side of a projection from the fields SparseQkvArgs and KvCatchupArgs share (sparse_qkv.cuh).
template <class Args>
__device__ __forceinline__ Projection kv_projection(const Args& a) {
  Projection p;
  p.k_cache = a.k_cache;
  p.v_cache = a.v_cache;
  p.x_hist = a.x_hist;
  p.w_qkv = a.w_qkv;
  p.b_qkv = a.b_qkv;
  p.B = a.batch;
  p.H = a.num_heads;
  p.hd = a.head_dim;
  p.max_len = a.max_len;
  p.ring = a.ring;
  p.d = sparse_qkv_width(a);
  return p;
}

// One unit's work: rows r0 .. r0 + 15 of part (0 q, 1 k, 2 v) of head h, for positions [t_begin, pos].
struct Slice {
  int h = -1, part = 0, r0 = 0, t_begin = 0;
};

__device__ __forceinline__ const __half* weight_row(const Projection& p, const Slice& s, int r) {
  return p.w_qkv + ((static_cast<size_t>(s.h) * 3 + s.part) * p.hd + s.r0 + r) * p.d;
}

// The weight layout a kernel reads, a compile-time choice (one kernel per layout, so the unrolled loads keep
// immediate offsets): row-major [H][3][hd][d], or tiled (SparseQkvArgs::tiled_weights: each 16 x 32 block of a
// slice one contiguous KB, sparse_qkv_tiled_index). Where a lane's weights of row r (0..15 of the slice),
// columns col .. col + 7 of chunk 0 lie, the step to the next chunk and the step from row r to row r + 8.
template <bool kTiled>
__device__ __forceinline__ const __half* lane_weights_at(const Projection& p, const Slice& s, int r, int col) {
  if constexpr (!kTiled) return weight_row(p, s, r) + col;
  const size_t row = (static_cast<size_t>(s.h) * 3 + s.part) * p.hd + s.r0 + r;
  return p.w_qkv + sparse_qkv_tiled_index(row, col, p.d);
}
template <bool kTiled>
constexpr int kChunkStep = kTiled ? 16 * 32 : 32;
template <bool kTiled>
__device__ __forceinline__ size_t row8_step(const Projection& p) {
  return kTiled ? 8 * 32 : 8 * static_cast<size_t>(p.d);
}

// This warp's share of the 32-wide k chunks.
__device__ __forceinline__ void warp_chunks(const Projection& p, int& kc0, int& kc1) {
  const int nk = p.d / 32, warp = static_cast<int>(threadIdx.x >> 5);
  kc0 = warp * nk / kWarps;
  kc1 = (warp + 1) * nk / kWarps;
}

// L2 prefetch of the slice's weights (this warp's k range, 128 bytes a lane and row), issued before the unit
// waits for the previous kernel: weights do not depend on it.
template <bool kTiled = false>
__device__ __forceinline__ void prefetch_slice(const Projection& p, const Slice& s) {
  int kc0, kc1;
  warp_chunks(p, kc0, kc1);
  const int lane = threadIdx.x & 31;
  if constexpr (kTiled) {  // the warp's chunks are one contiguous run of kc1 - kc0 KB: 128-byte lines
    const __half* run = lane_weights_at<true>(p, s, 0, kc0 * 32);
    for (int l = lane; l < (kc1 - kc0) * 8; l += 32) asm volatile("prefetch.global.L2 [%0];" ::"l"(run + l * 64));
    return;
  }
  const __half* row = weight_row(p, s, lane & 15);
  for (int kc = kc0 + 2 * (lane >> 4); kc < kc1; kc += 4) asm volatile("prefetch.global.L2 [%0];" ::"l"(row + kc * 32));
}

// Source of input column n (= ti * B + b, position t_begin + ti): row `code` of x_hist (code >= 0), row
// -2 - code of x_cur (code <= -2), or nothing (-1, past the last column: multiplies zeros).
__device__ __forceinline__ int column_code(const Projection& p, const Slice& s, int pos, int n, int ncols) {
  if (n >= ncols) return -1;
  const int ti = n / p.B, b = n - ti * p.B, t = s.t_begin + ti;
  if (t == pos && p.x_cur != nullptr) return -2 - b;
  return b * p.ring + t % p.ring;
}

template <class Sync>
__device__ __forceinline__ uint4 load_column(const Projection& p, int code, int k) {
  if (code == -1) return zero_u4();
  const size_t d = p.d;
  if (code >= 0) return Sync::load(reinterpret_cast<const uint4*>(p.x_hist + code * d + k));
  const int b = -2 - code;
  const uint4 v = Sync::load(reinterpret_cast<const uint4*>(p.x_cur + b * d + k));
  if (p.ln_gamma == nullptr) return v;
  return layer_norm8(v, __ldg(reinterpret_cast<const uint4*>(p.ln_gamma + k)),
                    __ldg(reinterpret_cast<const uint4*>(p.ln_beta + k)), p.ln_stats[b],
                    p.ln_stats[kSparseQkvLnMaxRows + b]);
}

// The pass's epilogue: the 8 warps' fp32 partial tiles meet in shared memory (`smem`: kSmemBytes), the unit
// adds the bias and writes fp16 q or K/V cache rows for columns [col0, min(ncols, col0 + 8 * kTiles)).
template <int kTiles>
__device__ __forceinline__ void store_tiles(const Projection& p, const Slice& s, int col0, int ncols,
                                            const float (&acc)[kTiles][4], char* smem) {
  float* red = reinterpret_cast<float*>(smem);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  // Accumulator fragment: c0, c1 = (row g, cols 2tq, 2tq+1), c2, c3 = (row g+8, same cols) of tile j.
#pragma unroll
  for (int j = 0; j < kTiles; ++j) {
    float* top = red + (warp * kRows + g) * kRedStride + j * 8 + 2 * tq;
    float* bottom = top + 8 * kRedStride;
    top[0] = acc[j][0];
    top[1] = acc[j][1];
    bottom[0] = acc[j][2];
    bottom[1] = acc[j][3];
  }
  __syncthreads();
  const int cols = min(kTiles * 8, ncols - col0);
  const __half* bias = p.b_qkv + (static_cast<size_t>(s.h) * 3 + s.part) * p.hd + s.r0;
  for (int o = threadIdx.x; o < kRows * cols; o += kUnitThreads) {
    const int r = o % kRows, c = o / kRows, n = col0 + c;
    float v = __half2float(bias[r]);
#pragma unroll
    for (int w = 0; w < kWarps; ++w) v += red[(w * kRows + r) * kRedStride + c];
    const int ti = n / p.B, b = n - ti * p.B;
    const size_t bh = static_cast<size_t>(b) * p.H + s.h;
    if (s.part == 0) {
      p.q[bh * p.hd + s.r0 + r] = __float2half(v);
    } else {
      __half* cache = s.part == 1 ? p.k_cache : p.v_cache;
      cache[(bh * p.max_len + s.t_begin + ti) * p.hd + s.r0 + r] = __float2half(v);
    }
  }
  __syncthreads();  // red is reused by the next pass
}

// Columns [col0, min(ncols, col0 + 8 * kTiles)) of the slice in one pass over its weights; kUnroll k chunks
// of weight loads in flight per warp. `smem`: kSmemBytes. A wide pass (more than 4 tiles) keeps its column
// codes in shared memory: its 64 accumulators leave no registers for them under the two-units-per-SM bound.
template <int kTiles, int kUnroll, class Sync, bool kTiled>
__device__ __forceinline__ void project_pass(const Projection& p, const Slice& s, int pos, int col0, int ncols,
                                             char* smem) {
  constexpr bool kWide = kTiles > 4;
  int* wide_code = reinterpret_cast<int*>(smem + kRedBytes);
  const int lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  int kc0, kc1;
  warp_chunks(p, kc0, kc1);
  const __half* w0p = lane_weights_at<kTiled>(p, s, g, tq * 8);
  const __half* w1p = w0p + row8_step<kTiled>(p);
  int code[kWide ? 1 : kTiles];
  float acc[kTiles][4];
#pragma unroll
  for (int j = 0; j < kTiles; ++j) {
    if constexpr (!kWide) code[j] = column_code(p, s, pos, col0 + j * 8 + g, ncols);
    acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;
  }
  if constexpr (kWide) {
    for (int c = threadIdx.x; c < kTiles * 8; c += kUnitThreads) wide_code[c] = column_code(p, s, pos, col0 + c, ncols);
    __syncthreads();
  }
  for (int kc = kc0; kc < kc1; kc += kUnroll) {
    uint4 wa[kUnroll], wb[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const bool on = kc + u < kc1;
      wa[u] = on ? ld_stream_u4(w0p + (kc + u) * kChunkStep<kTiled>) : zero_u4();
      wb[u] = on ? ld_stream_u4(w1p + (kc + u) * kChunkStep<kTiled>) : zero_u4();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
#pragma unroll
      for (int j = 0; j < kTiles; ++j) {
        if (col0 + j * 8 >= ncols) break;  // warp-uniform: tiles past the last column do nothing
        const int cj = kWide ? wide_code[j * 8 + g] : code[kWide ? 0 : j];
        // Past this warp's k range the weights are zero, but x there may be another position's NaN
        // poison or past the row's end: 0 * NaN is NaN, so x is not even read.
        const uint4 xv = kc + u < kc1 ? load_column<Sync>(p, cj, (kc + u) * 32 + tq * 8) : zero_u4();
        mma_16816(acc[j], wa[u].x, wb[u].x, wa[u].y, wb[u].y, xv.x, xv.y);
        mma_16816(acc[j], wa[u].z, wb[u].z, wa[u].w, wb[u].w, xv.z, xv.w);
      }
    }
  }
  store_tiles<kTiles>(p, s, col0, ncols, acc, smem);
}

// One round of the pipelined one-tile pass: kUnroll k chunks of this lane's two weight rows (g and g + 8).
template <int kUnroll>
struct WeightRound {
  uint4 a[kUnroll], b[kUnroll];
};
constexpr int kPipeUnroll = 4;  // chunks a round: 2 rounds in registers, 4 to 8 chunks in flight per warp

// This lane's first weight element of slice s (row g, k offset 8 tq): the pipelined pass's weight pointer.
__device__ __forceinline__ const __half* lane_weights(const Projection& p, const Slice& s) {
  const int lane = threadIdx.x & 31;
  return weight_row(p, s, lane >> 2) + (lane & 3) * 8;
}

// Issues round kc .. kc + kUnroll - 1 (chunks at or past kc1 are zeros, not loads).
template <int kUnroll>
__device__ __forceinline__ void load_round(WeightRound<kUnroll>& w, const __half* w0p, size_t d, int kc, int kc1) {
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    const bool on = kc + u < kc1;
    w.a[u] = on ? ld_stream_u4(w0p + (kc + u) * 32) : zero_u4();
    w.b[u] = on ? ld_stream_u4(w0p + 8 * d + (kc + u) * 32) : zero_u4();
  }
}

// The MMAs of one round, chunk after chunk as project_pass<1, ..> does them (chunks past kc1: none).
template <int kUnroll, class Sync>
__device__ __forceinline__ void mma_round(float (&acc)[1][4], const WeightRound<kUnroll>& w, const Projection& p,
                                          int code, int kc, int kc1) {
  const int tq = threadIdx.x & 3;
#pragma unroll
  for (int u = 0; u < kUnroll; ++u) {
    if (kc + u >= kc1) break;  // warp-uniform
    const uint4 xv = load_column<Sync>(p, code, (kc + u) * 32 + tq * 8);
    mma_16816(acc[0], w.a[u].x, w.b[u].x, w.a[u].y, w.b[u].y, xv.x, xv.y);
    mma_16816(acc[0], w.a[u].z, w.b[u].z, w.a[u].w, w.b[u].w, xv.z, xv.w);
  }
}

// The plain pass (all ncols <= 8 columns, one tile) software-pipelined in registers: round r + 1's weight
// loads are issued before round r's MMAs (two WeightRounds), so every warp keeps loads in flight instead of
// waiting a memory latency every kUnroll chunks. The same MMAs in the same order as project_pass<1, ..>, so the
// same bits. `first`: round 0 of this slice if `preloaded` (issued by the caller), else loaded here. With
// `next` (lane_weights of the unit to run after this one, also a plain pass), `first` leaves holding that
// slice's round 0, issued before this pass's epilogue so the loads stay in flight across the unit boundary.
template <class Sync>
__device__ __forceinline__ void project_pass_pipelined(const Projection& p, const Slice& s, int pos, int ncols,
                                                       char* smem, WeightRound<kPipeUnroll>& first, bool preloaded,
                                                       const __half* next) {
  constexpr int U = kPipeUnroll;
  int kc0, kc1;
  warp_chunks(p, kc0, kc1);
  const size_t d = p.d;
  const __half* w0p = lane_weights(p, s);
  const int code = column_code(p, s, pos, (threadIdx.x & 31) >> 2, ncols);
  float acc[1][4] = {{0.f, 0.f, 0.f, 0.f}};
  if (!preloaded) load_round(first, w0p, d, kc0, kc1);
  WeightRound<U> second;
  for (int kc = kc0; kc < kc1; kc += 2 * U) {
    load_round(second, w0p, d, kc + U, kc1);
    mma_round<U, Sync>(acc, first, p, code, kc, kc1);
    if (kc + U >= kc1) break;
    load_round(first, w0p, d, kc + 2 * U, kc1);
    mma_round<U, Sync>(acc, second, p, code, kc + U, kc1);
  }
  if (next != nullptr) load_round(first, next, d, kc0, kc1);
  store_tiles<1>(p, s, 0, ncols, acc, smem);
}

// How a slice's plain pass (<= 8 columns) runs: kUnroll4 (the default), kUnroll8 (8 chunks in flight per warp,
// SparseQkvArgs::plain_unroll 8) or kPipelined (SparseQkvArgs::pipelined); the same MMAs in the same order.
enum class PlainPass { kUnroll4, kUnroll8, kPipelined };

// A slice whose pass is a plain one: (pos - t_begin + 1) * B <= 8 columns.
__device__ __forceinline__ bool plain_slice(const Projection& p, const Slice& s, int pos) {
  return (pos - s.t_begin + 1) * p.B <= 8;
}

// The whole slice: (pos - t_begin + 1) * B columns, one pass per kSparseQkvPassColumns (the catch-up plan
// keeps it to one). The tile count follows the columns left, so a plain step (B columns) does 1 MMA tile.
// plain: how a one-tile pass runs (kTiled: the tiled layout, not pipelined).
template <class Sync, bool kTiled = false>
__device__ __forceinline__ void project_slice(const Projection& p, const Slice& s, int pos, char* smem,
                                              PlainPass plain = PlainPass::kUnroll4) {
  const int ncols = (pos - s.t_begin + 1) * p.B;
  if constexpr (!kTiled) {
    if (ncols <= 8 && plain == PlainPass::kPipelined) {
      WeightRound<kPipeUnroll> first;
      project_pass_pipelined<Sync>(p, s, pos, ncols, smem, first, false, nullptr);
      return;
    }
  }
  for (int col0 = 0; col0 < ncols; col0 += kSparseQkvPassColumns) {
    const int rest = ncols - col0;
    if (rest <= 8 && plain == PlainPass::kUnroll8) {
      project_pass<1, 8, Sync, kTiled>(p, s, pos, col0, ncols, smem);
    } else if (rest <= 8) {
      project_pass<1, 4, Sync, kTiled>(p, s, pos, col0, ncols, smem);
    } else if (rest <= 32) {
      project_pass<4, 2, Sync, kTiled>(p, s, pos, col0, ncols, smem);
    } else {
      project_pass<16, 1, Sync, kTiled>(p, s, pos, col0, ncols, smem);
    }
  }
}

}  // namespace dv::kernels::qkv
