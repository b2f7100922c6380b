// col_gemv_op.cuh: the persistent decode kernel's matrix-vector op over transposed weights (fc2^T, W_o^T),
// optionally gathered by a selection, with bias and residual:
//   out[b, c] = fp16(resid[b, c] + bias[c] + sum_{q < rows * R} h[b, row(q)] * WT[row(q), c])
//   row(q) = idx ? idx[q / R] * R + q % R : q,   rows = count ? min(*count, max_k) : max_k,  b < B <= 8
// R = rows_per_index: 1 for MLP neurons, head_dim for attention heads (idx lists heads). h is read at the
// physical row, as row_gemv_op and attention_op write it (no gather copy).
// Units: (column slice of 64, row split) pairs, slice-major. In a unit, lane (group, i) with group = tid / 8
// (32 groups) and i = tid % 8 owns columns 8i..8i+7 of the slice and rows q = group + 32 m of the split: each
// selected row's 128-byte slice segment is one coalesced load of 8 lanes (streaming, L1 bypassed), h[b, row]
// a broadcast load from L2; fp32 FMAs (B <= 8 keeps this under the CUDA cores' rate at full bandwidth).
// col_gemv_unroll rows per lane are in flight together; the first ones are issued before the wait for h. Partial sums meet through shuffles, shared memory and, with
// splits > 1, fp32 reductions into `workspace` ([B, d] fp32 + one int per slice, all zero between
// launches): the last split to arrive at a slice (its arrival counter) adds bias and residual, writes out and
// zeroes its slice and counter. No unit waits for another: the order of the fp32 additions varies (results
// agree to fp32 rounding before the single fp16 rounding).
// Bytes: rows * R * d * 2 (weights) + rows * 4 (idx) + B * rows * R * 2 (h) + 3 * B * d * 2 (+ workspace).
// MARKED FOR REPLACEMENT by the MLP helper's fused fc1 + fc2 op and the attention helper's W_o op.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/persistent_decode/op_common.h"
#if defined(__CUDACC__)
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"
#endif

namespace dv::kernels {

constexpr int kColSlice = 64;      // output columns per unit
constexpr int kColGroups = kOpThreads / 8;  // row groups per unit (8 lanes per 64-column row segment)
// Rows in flight per lane: 8 (32 KB a CTA) for B <= 2, 4 for B <= 4, 2 for B <= 8, whose 8 * B
// accumulators would otherwise push the unit past the persistent kernel's 128 registers.
constexpr int col_gemv_unroll(int bt) { return bt <= 2 ? 8 : (bt <= 4 ? 4 : 2); }
constexpr int kColBatchMax = 8;

struct ColGemvOp {
  // Cross-warp partial sums: [warps][B <= 8][64] fp32, plus the slice's "last split" flag.
  static constexpr int kSmemBytes = (kOpThreads / 32) * kColBatchMax * kColSlice * 4 + 16;

  __half* out = nullptr;             // [B, d]
  void* workspace = nullptr;         // splits > 1: col_gemv_workspace_bytes(B, d), zero once
  const __half* resid = nullptr;     // [B, d] or nullptr; must not alias out
  const __half* bias = nullptr;      // [d] or nullptr
  const __half* h = nullptr;         // [B, ld_h], read at physical rows
  const __half* wt = nullptr;        // [n_rows, d] row-major
  const int* idx = nullptr;          // [max_k] or nullptr
  const int* count = nullptr;        // device count, or nullptr (max_k)
  int B = 0, d = 0, ld_h = 0, max_k = 0, rows_per_index = 1;
  int splits = 1;                    // row splits (host plan: col_gemv_splits)

  DV_OP_HD int slices() const { return (d + kColSlice - 1) / kColSlice; }
  DV_OP_HD int max_units() const { return slices() * splits; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    switch (B) {
      case 1: run_b<1>(unit, smem, sync); break;
      case 2: run_b<2>(unit, smem, sync); break;
      case 3: case 4: run_b<4>(unit, smem, sync); break;
      default: run_b<8>(unit, smem, sync); break;
    }
  }

 private:
  __device__ __forceinline__ int physical_row(int q) const {
    if (idx == nullptr) return q;
    const int k = q / rows_per_index;
    return __ldcg(idx + k) * rows_per_index + (q - k * rows_per_index);
  }

  // v[b][0..7] (fp32) + resid + bias -> out[b, col..col+7], one fp16 rounding.
  __device__ __forceinline__ void store8(int b, int col, const float* v) const {
    float s[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) s[i] = v[i];
    if (bias != nullptr) {
      const uint4 bb = *reinterpret_cast<const uint4*>(bias + col);
      const __half* bh = reinterpret_cast<const __half*>(&bb);
#pragma unroll
      for (int i = 0; i < 8; ++i) s[i] += __half2float(bh[i]);
    }
    const size_t off = static_cast<size_t>(b) * d + col;
    if (resid != nullptr) {
      const uint4 rr = ld_coherent(resid + off);
      const __half* rh = reinterpret_cast<const __half*>(&rr);
#pragma unroll
      for (int i = 0; i < 8; ++i) s[i] += __half2float(rh[i]);
    }
    uint4 o;
    o.x = pack_half2(__float2half_rn(s[0]), __float2half_rn(s[1]));
    o.y = pack_half2(__float2half_rn(s[2]), __float2half_rn(s[3]));
    o.z = pack_half2(__float2half_rn(s[4]), __float2half_rn(s[5]));
    o.w = pack_half2(__float2half_rn(s[6]), __float2half_rn(s[7]));
    *reinterpret_cast<uint4*>(out + off) = o;
  }

  __device__ static __forceinline__ uint4 ld_coherent(const __half* p) {
    return __ldcg(reinterpret_cast<const uint4*>(p));
  }

  template <int BT, class Sync>
  __device__ void run_b(int unit, char* smem, const Sync& sync) const {
    const int slice = unit / splits, split = unit - slice * splits;
    const int group = threadIdx.x / 8, lane8 = threadIdx.x % 8;
    const int col = slice * kColSlice + 8 * lane8;
    const bool col_ok = col < d;

    if (idx != nullptr || count != nullptr) sync.indices();
    const int krows = (count != nullptr ? min(max(__ldcg(count), 0), max_k) : max_k) * rows_per_index;
    const int cap_rows = max_k * rows_per_index;
    // Splits cut the capacity, not the run-time rows, so a unit's rows never depend on another's count.
    const int per_split = (cap_rows + splits - 1) / splits;
    const int q_begin = min(split * per_split, krows), q_end = min(q_begin + per_split, krows);

    float acc[BT][8];
#pragma unroll
    for (int b = 0; b < BT; ++b)
#pragma unroll
      for (int i = 0; i < 8; ++i) acc[b][i] = 0.f;
    q_loop<BT>(q_begin, q_end, group, col, col_ok, acc, sync);
    reduce_and_store<BT>(slice, acc, smem, col, col_ok);
  }

  template <int BT, class Sync>
  __device__ __forceinline__ void q_loop(int q_begin, int q_end, int group, int col, bool col_ok,
                                         float (&acc)[BT][8], const Sync& sync) const {
    constexpr int U = col_gemv_unroll(BT);
    uint4 wv[U];
    int rows[U];
    auto load = [&](int q0) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int q = q0 + kColGroups * u;
        rows[u] = q < q_end ? physical_row(q) : -1;
        wv[u] = rows[u] >= 0 && col_ok ? ld_stream_u4(wt + static_cast<size_t>(rows[u]) * d + col) : zero_u4();
      }
    };
    int q0 = q_begin + group;
    load(q0);
    sync.inputs();  // every thread, once: h (and resid, at the store) are this step's
    for (; q0 < q_end; q0 += kColGroups * U) {
#pragma unroll
      for (int u = 0; u < U; ++u) {
        if (rows[u] < 0) continue;
        const __half* wh = reinterpret_cast<const __half*>(&wv[u]);
        float wf[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) wf[i] = __half2float(wh[i]);
#pragma unroll
        for (int b = 0; b < BT; ++b) {
          const float hv = b < B ? __half2float(__ldcg(h + static_cast<size_t>(b) * ld_h + rows[u])) : 0.f;
#pragma unroll
          for (int i = 0; i < 8; ++i) acc[b][i] = fmaf(hv, wf[i], acc[b][i]);
        }
      }
      if (q0 + kColGroups * U < q_end) load(q0 + kColGroups * U);
    }
  }

  template <int BT>
  __device__ void reduce_and_store(int slice, float (&acc)[BT][8], char* smem, int col, bool col_ok) const {
    // Groups g and g ^ 1, g ^ 2 share a warp (lanes differ by 8 and 16): shuffle them together first.
#pragma unroll
    for (int b = 0; b < BT; ++b)
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        acc[b][i] += __shfl_xor_sync(0xFFFFFFFFu, acc[b][i], 8);
        acc[b][i] += __shfl_xor_sync(0xFFFFFFFFu, acc[b][i], 16);
      }
    float* part = reinterpret_cast<float*>(smem);  // [warp][b][64]
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    if (lane < 8) {
#pragma unroll
      for (int b = 0; b < BT; ++b)
#pragma unroll
        for (int i = 0; i < 8; ++i) part[(warp * kColBatchMax + b) * kColSlice + 8 * lane + i] = acc[b][i];
    }
    __syncthreads();
    // Thread e < B * 8 finishes batch row e / 8, columns 8 (e % 8) .. +7 of the slice.
    const int e = threadIdx.x, b = e / 8, c8 = e % 8;
    const int ccol = slice * kColSlice + 8 * c8;
    float v[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    const bool mine = b < B && ccol < d;
    if (mine) {
      for (int w = 0; w < kOpThreads / 32; ++w)
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] += part[(w * kColBatchMax + b) * kColSlice + 8 * c8 + i];
    }
    if (splits == 1) {
      if (mine) store8(b, ccol, v);
      return;
    }
    float* ws = static_cast<float*>(workspace);
    int* arrivals = reinterpret_cast<int*>(ws + static_cast<size_t>(B) * d);
    if (mine) {
#pragma unroll
      for (int i = 0; i < 8; ++i) atomicAdd(ws + static_cast<size_t>(b) * d + ccol + i, v[i]);
    }
    int* last = reinterpret_cast<int*>(part + (kOpThreads / 32) * kColBatchMax * kColSlice);
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) *last = atomicAdd(arrivals + slice, 1) == splits - 1;
    __syncthreads();
    if (*last == 0) return;
    __threadfence();
    if (mine) {
      float* src = ws + static_cast<size_t>(b) * d + ccol;
      float s[8];
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        s[i] = __ldcg(src + i);
        __stcg(src + i, 0.f);
      }
      store8(b, ccol, s);
    }
    if (threadIdx.x == 0) arrivals[slice] = 0;
  }
#endif  // __CUDACC__
};

// Host plan: row splits so that the op has about `target_units` units, each split at least 128 rows.
inline int col_gemv_splits(int d, int cap_rows, int target_units) {
  const int slices = (d + kColSlice - 1) / kColSlice;
  int s = (target_units + slices - 1) / slices;
  const int by_rows = cap_rows / 128;
  s = s < by_rows ? s : by_rows;
  return s < 1 ? 1 : s;
}
inline size_t col_gemv_workspace_bytes(int B, int d) {
  return static_cast<size_t>(B) * d * sizeof(float) + static_cast<size_t>((d + kColSlice - 1) / kColSlice) * sizeof(int);
}

}  // namespace dv::kernels
