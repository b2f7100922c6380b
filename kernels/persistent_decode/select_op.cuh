// select_op.cuh: the persistent decode kernel's predictor selection over fp32 scores, in one unit:
//   top-k:     the k = min(top_k, n) largest scores (ties at the k-th value to the lowest indices; NaN ranks
//              above +inf), or
//   threshold: every score >= tau (tau = log(t / (1 - t)): sigmoid(score) >= t), at most max_k (the lowest);
// written as idx in ascending index order with count = how many (<= max_k), or all n indices when more than
// dense_above are selected. The same rule and order as kernels/lowrank_predictor's selection (max-over-batch
// union; the per-row union is the graph path's only), so both decode paths select the same indices.
// Top-k is a 4-pass radix select (8 bits a pass, one 256-bin shared histogram: a bin per thread) over the
// order-preserving keys, then one compaction pass in index order (two block scans per 256 scores).
// Reads n * 4 bytes five times (L2), writes count * 4.
// MARKED FOR REPLACEMENT by the predictor helper's multi-CTA selection (issue 19 item 1).
#pragma once

#include <cstdint>

#include "kernels/persistent_decode/op_common.h"
#if defined(__CUDACC__)
#include "kernels/common/block_scan.cuh"
#endif
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"

namespace dv::kernels {

struct SelectOp {
  static constexpr int kSmemBytes = 256 * 4 + 64 * 4;

  int* idx = nullptr;             // [max_k] out, ascending
  int* count = nullptr;           // device scalar out
  const float* scores = nullptr;  // [n]
  int n = 0, top_k = 0, max_k = 0;
  bool threshold = false;
  float tau = 0.f;                // threshold mode: the logit bound
  int dense_above = 0x7FFFFFFF;   // more selected than this: all n indices (the crossover; max_k >= n)

  DV_OP_HD int max_units() const { return 1; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int, char* smem, const Sync& sync) const {
    int* hist = reinterpret_cast<int*>(smem);
    int* warp_sums = hist + 256;
    int* shared_state = warp_sums + 32;  // [0] prefix, [1] remaining
    sync.inputs();
    const int tid = threadIdx.x;
    uint32_t thr = 0;
    int need_tie = 0;
    const int k = min(max(top_k, 0), n);
    if (!threshold && k > 0) {
      uint32_t prefix = 0, mask = 0;
      int remaining = k;
      for (int shift = 24; shift >= 0; shift -= 8) {
        hist[tid] = 0;
        __syncthreads();
        for (int i = tid; i < n; i += kOpThreads) {
          const uint32_t key = score_order_key(__ldcg(scores + i));
          if ((key & mask) == prefix) atomicAdd(hist + ((key >> shift) & 255u), 1);
        }
        __syncthreads();
        if (tid == 0) {
          int cum = 0, digit = 0;
          for (digit = 255; digit > 0; --digit) {
            if (cum + hist[digit] >= remaining) break;
            cum += hist[digit];
          }
          shared_state[0] = static_cast<int>(prefix | (static_cast<uint32_t>(digit) << shift));
          shared_state[1] = remaining - cum;
        }
        __syncthreads();
        prefix = static_cast<uint32_t>(shared_state[0]);
        remaining = shared_state[1];
        mask |= 255u << shift;
        __syncthreads();
      }
      thr = prefix;
      need_tie = remaining;
    }
    int written = 0, ties = 0;
    const bool none = !threshold && k == 0;
    for (int base = 0; base < n && !none; base += kOpThreads) {
      const int i = base + tid;
      bool sel = false, tie = false;
      if (i < n) {
        const float s = __ldcg(scores + i);
        if (threshold) {
          sel = s >= tau;
        } else {
          const uint32_t key = score_order_key(s);
          sel = key > thr;
          tie = key == thr;
        }
      }
      int tie_total = 0;
      const int tie_rank = ties + block_exclusive_scan<kOpThreads>(tie ? 1 : 0, warp_sums, &tie_total);
      sel = sel || (tie && tie_rank < need_tie);
      int sel_total = 0;
      const int at = written + block_exclusive_scan<kOpThreads>(sel ? 1 : 0, warp_sums, &sel_total);
      if (sel && at < max_k) idx[at] = i;
      written += sel_total;
      ties += tie_total;
    }
    if (written > dense_above) {  // the crossover to dense, as lowrank_predictor's selection: every index
      __syncthreads();             // the compaction's writes above land before these
      for (int i = tid; i < n; i += kOpThreads) idx[i] = i;
      if (tid == 0) *count = n;
      return;
    }
    if (tid == 0) *count = min(written, max_k);
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
