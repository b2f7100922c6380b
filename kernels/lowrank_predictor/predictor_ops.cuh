// predictor_ops.cuh: the predictor's GEMV stages as work-unit ops (kernels/common/work_units.cuh), runnable by
// launch_units (the graph path) and by the persistent decode kernel:
//   LowrankZOp       z = x Wa^T: units = row tiles x column splits of d; fp32 partials, the last split of a
//                    tile to arrive sums them in split order and rounds z to fp16 (deterministic).
//   LowrankScoresOp  logits = z Wb^T: units = row tiles of Wb over all r; writes the scores (per batch row, or
//                    the max over rows) and, for top-k, adds each score to its row's 4096-bin key histogram.
//   LowrankHistOp    the histogram alone over given scores (launch_lowrank_select: oracle scores, tests).
// The selection op is in select_op.cuh. Workspace pieces are plain pointers the host carves out of one
// zeroed allocation (lowrank_predictor.cu); every op leaves its counters at zero.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/lowrank_predictor/predictor_tile.h"
#if defined(__CUDACC__)
#include "kernels/common/work_units.cuh"
#include "kernels/lowrank_predictor/predictor_dot.cuh"
#endif

namespace dv::kernels {

constexpr int kSelectHistBits = 12;  // the coarse digit: the top 12 bits of score_order_key
constexpr int kSelectHistBins = 1 << kSelectHistBits;

#if defined(__CUDACC__)
__device__ __forceinline__ int select_digit(uint32_t key) { return static_cast<int>(key >> (32 - kSelectHistBits)); }

// Whether this unit is the last of `expected` arrivals on *counter (which it then resets). All threads call it
// after their global writes; on true, the writes of every arrived unit are visible to the whole CTA.
__device__ __forceinline__ bool arrive_last(int* counter, int expected, int* flag_smem) {
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    const bool last = atomicAdd(counter, 1) == expected - 1;
    if (last) *counter = 0;  // nobody else touches it until the next launch
    *flag_smem = last ? 1 : 0;
  }
  __syncthreads();
  const bool last = *flag_smem != 0;
  if (last) __threadfence();
  return last;
}
#endif  // __CUDACC__

template <int BT, bool kI8>
struct LowrankZOp {
  using Tile = PredictorTile<BT>;
  static constexpr int kSmemBytes = Tile::kSmemFloats * 4 + 16;  // + the arrival flag
  __half* z = nullptr;              // out: [B, r]
  float* zpart = nullptr;           // workspace: [splits, B, r] fp32 (splits > 1)
  int* tile_count = nullptr;        // workspace: [tiles] arrivals (splits > 1)
  const __half* x = nullptr;        // [B, d]
  const void* wa = nullptr;         // [r, d] fp16 or int8
  const float* wa_scale = nullptr;  // int8: [r]
  int B = 0, d = 0, r = 0, splits = 1;

  DV_PRED_HD int tiles() const { return (r + Tile::kRows - 1) / Tile::kRows; }
  DV_PRED_HD int max_units() const { return tiles() * splits; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    constexpr int R = Tile::kRows, BP = BT + 1;
    float* s = reinterpret_cast<float*>(smem);
    const int tile = unit / splits, split = unit % splits;  // a tile's splits are neighbours: they end together
    const int chunks = (d + 31) / 32;
    const int c0 = split * chunks / splits * 32, c1 = min((split + 1) * chunks / splits * 32, d);
    predictor_dot<BT, kI8>(wa, d, tile * R, r, x, d, B, c0, c1, s, sync);
    if (splits == 1) {
      for (int e = threadIdx.x; e < R * B; e += kUnitThreads) {
        const int j = e % R, b = e / R, row = tile * R + j;
        if (row < r) z[static_cast<size_t>(b) * r + row] = __float2half_rn(scaled(s[j * BP + b], row));
      }
      return;
    }
    for (int e = threadIdx.x; e < R * B; e += kUnitThreads) {
      const int j = e % R, b = e / R, row = tile * R + j;
      if (row < r) zpart[(static_cast<size_t>(split) * B + b) * r + row] = s[j * BP + b];
    }
    int* flag = reinterpret_cast<int*>(smem + Tile::kSmemFloats * 4);
    if (!arrive_last(tile_count + tile, splits, flag)) return;
    for (int e = threadIdx.x; e < R * B; e += kUnitThreads) {
      const int j = e % R, b = e / R, row = tile * R + j;
      if (row >= r) continue;
      float sum = 0.f;
      for (int q = 0; q < splits; ++q) sum += __ldcg(zpart + (static_cast<size_t>(q) * B + b) * r + row);
      z[static_cast<size_t>(b) * r + row] = __float2half_rn(scaled(sum, row));
    }
  }

 private:
  __device__ float scaled(float v, int row) const { return kI8 ? v * wa_scale[row] : v; }
#endif  // __CUDACC__
};

template <int BT, bool kI8>
struct LowrankScoresOp {
  using Tile = PredictorTile<BT>;
  static constexpr int kSmemBytes = Tile::kSmemFloats * 4;
  float* scores = nullptr;          // out: [B, ld] (per_row) or [ld]
  int* hist = nullptr;              // [B or 1, kSelectHistBins] key histograms; nullptr: threshold mode
  const __half* z = nullptr;        // [B, r]
  const void* wb = nullptr;         // [n, r] fp16 or int8
  const float* wb_scale = nullptr;  // int8: [n]
  int B = 0, r = 0, n = 0, ld = 0;
  bool per_row = false;

  DV_PRED_HD int max_units() const { return (n + Tile::kRows - 1) / Tile::kRows; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    constexpr int R = Tile::kRows, BP = BT + 1;
    float* s = reinterpret_cast<float*>(smem);
    predictor_dot<BT, kI8>(wb, r, unit * R, n, z, r, B, 0, r, s, sync);
    if (per_row) {
      for (int e = threadIdx.x; e < R * B; e += kUnitThreads) {
        const int j = e % R, b = e / R, row = unit * R + j;
        if (row < n) emit(b, row, scaled(s[j * BP + b], row));
      }
      return;
    }
    for (int j = threadIdx.x; j < R; j += kUnitThreads) {
      const int row = unit * R + j;
      if (row >= n) continue;
      float m = s[j * BP];
      for (int b = 1; b < B; ++b) m = fmaxf(m, s[j * BP + b]);  // NaN rows ignored unless all are NaN
      emit(0, row, scaled(m, row));  // a row's scale is >= 0: the max of the scaled sums
    }
  }

 private:
  __device__ float scaled(float v, int row) const { return kI8 ? v * wb_scale[row] : v; }
  __device__ void emit(int b, int row, float v) const {
    scores[static_cast<size_t>(b) * ld + row] = v;
    if (hist != nullptr) atomicAdd(hist + b * kSelectHistBins + select_digit(score_order_key(v)), 1);
  }
#endif  // __CUDACC__
};

struct LowrankHistOp {
  static constexpr int kSmemBytes = 0;
  static constexpr int kPerUnit = 8 * kPredictorThreads;
  int* hist = nullptr;              // [rows, kSelectHistBins]
  const float* scores = nullptr;    // [rows, ld]
  int n = 0, ld = 0, rows = 1;

  DV_PRED_HD int parts() const { return (n + kPerUnit - 1) / kPerUnit; }
  DV_PRED_HD int max_units() const { return rows * parts(); }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char*, const Sync& sync) const {
    sync.inputs();
    const int b = unit / parts(), base = (unit % parts()) * kPerUnit;
    const float* row = scores + static_cast<size_t>(b) * ld;
#pragma unroll
    for (int e = 0; e < 8; ++e) {
      const int i = base + e * kUnitThreads + static_cast<int>(threadIdx.x);
      if (i < n) atomicAdd(hist + b * kSelectHistBins + select_digit(score_order_key(__ldcg(row + i))), 1);
    }
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
