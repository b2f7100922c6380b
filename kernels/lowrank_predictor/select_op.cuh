// select_op.cuh: the predictor's selection as a work-unit op: one unit per selection row (1, or B for per-row
// top-k), each turning its row of scores into a bitmask of winners in shared memory; the rows' masks meet in
// a global bitmask whose last arriving unit writes the ascending index list (a single row writes it itself).
// Top-k per row: the coarse histogram (LowrankScoresOp / LowrankHistOp) gives the bin T of the k-th key and
// the count above it; one pass over the row (coalesced 16-byte loads, lane l of a warp holds elements
// 4l..4l+3 of a 128-element group) marks keys above T and collects T's members (a few hundred for continuous
// scores) in shared memory, where a radix select over the remaining 20 bits (10 + 10) finds the exact k-th
// key; keys equal to it fill the remaining places in index order. If T holds more than kSelectCandCap keys
// (heavy ties), the refinement re-reads the row from L2 instead of the list: slower, same result.
// Bit layout of every mask (shared and global): group g = i / 128, word 4g + (i % 4), bit (i % 128) / 4.
// Bytes: the row's scores once (n*4, from L2), the histogram (16 KB), the union mask (n/8 per row, atomics),
// idx (count*4).
#pragma once

#include <cstdint>

#include "kernels/lowrank_predictor/predictor_ops.cuh"
#include "kernels/lowrank_predictor/predictor_tile.h"
#if defined(__CUDACC__)
#include "kernels/common/block_scan.cuh"
#include "kernels/common/work_units.cuh"
#endif

namespace dv::kernels {

constexpr int kSelectCandCap = 4096;
constexpr int kSelectMaxGroups = kSelectMaxN / 128;
constexpr int kSelectFineBins = 1024;  // two refinement digits of 10 bits

struct LowrankSelectOp {
  struct Smem {
    uint32_t win[4 * kSelectMaxGroups];
    uint32_t tie[4 * kSelectMaxGroups];
    int goff[kSelectMaxGroups];
    uint32_t cand_key[kSelectCandCap];
    int cand_idx[kSelectCandCap];
    int fine[kSelectFineBins];
    int warp_tot[kPredictorThreads / 32];
    int cand_n, digit, above, flag;
  };
  static constexpr int kSmemBytes = static_cast<int>(sizeof(Smem));

  int* idx = nullptr;
  int* k_dev = nullptr;
  const float* scores = nullptr;   // [rows, ld]
  int* hist = nullptr;             // [rows, kSelectHistBins]; top-k only
  uint32_t* union_bits = nullptr;  // [4 * groups] (rows > 1)
  int* arrivals = nullptr;         // (rows > 1)
  int n = 0, ld = 0, rows = 1;
  bool top_k_mode = true;
  int top_k = 0;
  float tau = 0.f;                 // threshold mode: score >= tau
  int max_k = 0;
  int dense_above = 0;

  DV_PRED_HD int max_units() const { return rows; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem_raw, const Sync& sync) const {
    Smem& sm = *reinterpret_cast<Smem*>(smem_raw);
    const int groups = (n + 127) / 128;
    for (int w = threadIdx.x; w < 4 * groups; w += kUnitThreads) sm.win[w] = sm.tie[w] = 0u;
    __syncthreads();  // the passes below write whole words from other threads
    sync.inputs();
    const float* row = scores + static_cast<size_t>(unit) * ld;
    if (top_k_mode) {
      select_top_k(sm, row, hist + unit * kSelectHistBins, groups);
    } else {
      for_each_group(row, groups, [&](int g, int e, int i, float v, bool ok) {
        const uint32_t bits = __ballot_sync(0xFFFFFFFFu, ok && v >= tau);
        if ((threadIdx.x & 31) == 0) sm.win[4 * g + e] = bits;
      });
    }
    __syncthreads();
    if (top_k_mode)  // read only before the barrier above; zero for the next launch
      for (int b = threadIdx.x; b < kSelectHistBins; b += kUnitThreads) hist[unit * kSelectHistBins + b] = 0;
    if (rows == 1) {
      write_selection(sm, groups);
      return;
    }
    for (int w = threadIdx.x; w < 4 * groups; w += kUnitThreads)
      if (sm.win[w] != 0u) atomicOr(union_bits + w, sm.win[w]);
    if (!arrive_last(arrivals, rows, &sm.flag)) return;
    for (int w = threadIdx.x; w < 4 * groups; w += kUnitThreads) {
      sm.win[w] = __ldcg(union_bits + w);
      union_bits[w] = 0u;
    }
    __syncthreads();
    write_selection(sm, groups);
  }

 private:
  // f(g, e, i, v, ok) for every element slot of the row, warp-uniformly (all 32 lanes call it together, so f
  // may ballot): group g, element 4 * lane + e of it, index i, value v, ok = i < n.
  template <class F>
  __device__ void for_each_group(const float* row, int groups, F&& f) const {
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    constexpr int kWarps = kUnitThreads / 32, kInFlight = 8;  // 16-byte loads in flight per lane
    for (int g0 = warp; g0 < groups; g0 += kWarps * kInFlight) {
      float4 v[kInFlight];
#pragma unroll
      for (int q = 0; q < kInFlight; ++q) {
        const int g = g0 + q * kWarps, i = 128 * g + 4 * lane;
        if (g < groups && i + 3 < n) {
          v[q] = __ldcg(reinterpret_cast<const float4*>(row + i));
        } else {
          v[q].x = i < n && g < groups ? __ldcg(row + i) : 0.f;
          v[q].y = i + 1 < n && g < groups ? __ldcg(row + i + 1) : 0.f;
          v[q].z = i + 2 < n && g < groups ? __ldcg(row + i + 2) : 0.f;
          v[q].w = 0.f;  // i + 3 >= n here
        }
      }
#pragma unroll
      for (int q = 0; q < kInFlight; ++q) {
        const int g = g0 + q * kWarps;
        if (g >= groups) break;  // warp-uniform
        const int i = 128 * g + 4 * lane;
        f(g, 0, i, v[q].x, i < n);
        f(g, 1, i + 1, v[q].y, i + 1 < n);
        f(g, 2, i + 2, v[q].z, i + 2 < n);
        f(g, 3, i + 3, v[q].w, i + 3 < n);
      }
    }
  }

  __device__ static void set_bit(uint32_t* words, int i) {
    atomicOr(words + 4 * (i >> 7) + (i & 3), 1u << ((i & 127) >> 2));
  }

  // Bins are counted from the top: the bin where the count from the top first reaches need goes to
  // sm.digit, the count strictly above it to sm.above. local[m] = bin top - per*tid - m. All threads call it.
  template <int kPer>
  __device__ static void find_crossing(Smem& sm, const int (&local)[kPer], int top, int need) {
    int sum = 0;
#pragma unroll
    for (int m = 0; m < kPer; ++m) sum += local[m];
    int total;
    const int before = block_exclusive_scan<kUnitThreads>(sum, sm.warp_tot, &total);
    if (before < need && need <= before + sum) {
      int run = before;
#pragma unroll
      for (int m = 0; m < kPer; ++m) {
        if (run + local[m] >= need) {
          sm.digit = top - kPer * static_cast<int>(threadIdx.x) - m;
          sm.above = run;
          break;
        }
        run += local[m];
      }
    }
    __syncthreads();
  }

  __device__ void select_top_k(Smem& sm, const float* row, int* row_hist, int groups) const {
    const int k = min(max(top_k, 0), n);
    if (k == 0) return;
    if (k == n) {
      for_each_group(row, groups, [&](int g, int e, int, float, bool ok) {
        const uint32_t bits = __ballot_sync(0xFFFFFFFFu, ok);
        if ((threadIdx.x & 31) == 0) sm.win[4 * g + e] = bits;
      });
      return;
    }
    // Coarse digit from the global histogram (16 bins a thread, highest bins to thread 0); then zero it.
    constexpr int kPer = kSelectHistBins / kUnitThreads;
    int local[kPer];
    const int top = kSelectHistBins - 1;
    const int4* h4 = reinterpret_cast<const int4*>(row_hist + kSelectHistBins - kPer * (threadIdx.x + 1));
#pragma unroll
    for (int q = 0; q < kPer / 4; ++q) {
      const int4 v = __ldcg(h4 + q);
      local[kPer - 1 - 4 * q] = v.x;  // ascending bins in memory, descending in local[]
      local[kPer - 2 - 4 * q] = v.y;
      local[kPer - 3 - 4 * q] = v.z;
      local[kPer - 4 - 4 * q] = v.w;
    }
    find_crossing(sm, local, top, k);
    const int T = sm.digit;
    int need = k - sm.above;
    const int in_bin = __ldcg(row_hist + T);
    const bool whole_bin = need == in_bin;
    if (threadIdx.x == 0) sm.cand_n = 0;
    __syncthreads();
    for_each_group(row, groups, [&](int g, int e, int i, float v, bool ok) {
      const uint32_t key = score_order_key(v);
      const int digit = select_digit(key);
      const uint32_t bits = __ballot_sync(0xFFFFFFFFu, ok && (digit > T || (whole_bin && digit == T)));
      if ((threadIdx.x & 31) == 0) sm.win[4 * g + e] = bits;
      if (!whole_bin && ok && digit == T) {
        const int c = atomicAdd(&sm.cand_n, 1);
        if (c < kSelectCandCap) {
          sm.cand_key[c] = key;
          sm.cand_idx[c] = i;
        }
      }
    });
    if (whole_bin) return;
    __syncthreads();
    const bool listed = sm.cand_n <= kSelectCandCap;
    auto for_each_cand = [&](auto&& f) {
      if (listed) {
        for (int c = threadIdx.x; c < sm.cand_n; c += kUnitThreads) f(sm.cand_key[c], sm.cand_idx[c]);
      } else {
        for_each_group(row, groups, [&](int, int, int i, float v, bool ok) {
          const uint32_t key = score_order_key(v);
          if (ok && select_digit(key) == T) f(key, i);
        });
      }
    };
    // Refine within bin T: two 10-bit digits, stopping once a digit's bin holds exactly the remainder.
    uint32_t prefix = static_cast<uint32_t>(T) << (32 - kSelectHistBits), mask = 0xFFF00000u;
    bool exact = false;
    for (int shift = 10; shift >= 0 && !exact; shift -= 10) {
      for (int b = threadIdx.x; b < kSelectFineBins; b += kUnitThreads) sm.fine[b] = 0;
      __syncthreads();
      for_each_cand([&](uint32_t key, int) {
        if ((key & mask) == prefix) atomicAdd(&sm.fine[(key >> shift) & (kSelectFineBins - 1)], 1);
      });
      __syncthreads();
      constexpr int kFinePer = kSelectFineBins / kUnitThreads;
      int fl[kFinePer];
#pragma unroll
      for (int m = 0; m < kFinePer; ++m) fl[m] = sm.fine[kSelectFineBins - 1 - kFinePer * threadIdx.x - m];
      find_crossing(sm, fl, kSelectFineBins - 1, need);
      const int D = sm.digit;
      need -= sm.above;
      prefix |= static_cast<uint32_t>(D) << shift;
      mask |= static_cast<uint32_t>(kSelectFineBins - 1) << shift;
      exact = need == sm.fine[D];
      __syncthreads();  // fine and digit are rewritten by the next pass
    }
    // exact: every candidate whose decided bits are >= prefix's (key >= prefix). Otherwise all 32 bits are
    // decided: keys above prefix, and `need` of the keys equal to it, lowest indices first.
    const uint64_t thr = exact ? prefix : static_cast<uint64_t>(prefix) + 1;
    for_each_cand([&](uint32_t key, int i) {
      if (key >= thr) {
        set_bit(sm.win, i);
      } else if (!exact && key == prefix) {
        set_bit(sm.tie, i);
      }
    });
    __syncthreads();
    if (exact) return;
    // The first `need` tie bits in index order join the winners.
    group_offsets(sm, sm.tie, groups);
    const int lane = threadIdx.x & 31;
    for (int g = threadIdx.x >> 5; g < groups; g += kUnitThreads / 32) {
      int pos = sm.goff[g];
      const uint32_t lt = (1u << lane) - 1u;
#pragma unroll
      for (int e = 0; e < 4; ++e) pos += __popc(sm.tie[4 * g + e] & lt);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const bool is_tie = (sm.tie[4 * g + e] >> lane) & 1u;
        const uint32_t take = __ballot_sync(0xFFFFFFFFu, is_tie && pos < need);
        pos += is_tie ? 1 : 0;
        if (lane == 0) sm.win[4 * g + e] |= take;
      }
    }
  }

  // sm.goff[g] = number of set bits in words of groups before g; returns the total. All threads call it.
  __device__ static int group_offsets(Smem& sm, const uint32_t* words, int groups) {
    const int per = (groups + kUnitThreads - 1) / kUnitThreads;
    const int g0 = min(static_cast<int>(threadIdx.x) * per, groups), g1 = min(g0 + per, groups);
    int cnt = 0;
    for (int g = g0; g < g1; ++g)
      cnt += __popc(words[4 * g]) + __popc(words[4 * g + 1]) + __popc(words[4 * g + 2]) + __popc(words[4 * g + 3]);
    int total;
    int off = block_exclusive_scan<kUnitThreads>(cnt, sm.warp_tot, &total);
    for (int g = g0; g < g1; ++g) {
      sm.goff[g] = off;
      off += __popc(words[4 * g]) + __popc(words[4 * g + 1]) + __popc(words[4 * g + 2]) + __popc(words[4 * g + 3]);
    }
    __syncthreads();
    return total;
  }

  // The winners in sm.win as ascending indices (or all n past the crossover) and their count.
  __device__ void write_selection(Smem& sm, int groups) const {
    const int count = group_offsets(sm, sm.win, groups);
    if (count > dense_above) {
      for (int i = threadIdx.x; i < n; i += kUnitThreads) idx[i] = i;
      if (threadIdx.x == 0) *k_dev = n;
      return;
    }
    const int lane = threadIdx.x & 31;
    const uint32_t lt = (1u << lane) - 1u;
    for (int g = threadIdx.x >> 5; g < groups; g += kUnitThreads / 32) {
      int pos = sm.goff[g];
#pragma unroll
      for (int e = 0; e < 4; ++e) pos += __popc(sm.win[4 * g + e] & lt);
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        if ((sm.win[4 * g + e] >> lane) & 1u) {
          if (pos < max_k) idx[pos] = 128 * g + 4 * lane + e;
          ++pos;
        }
      }
    }
    if (threadIdx.x == 0) *k_dev = min(count, max_k);
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
