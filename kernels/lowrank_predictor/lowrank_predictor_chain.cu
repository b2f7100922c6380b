// lowrank_predictor_chain.cu: the previous predictor, kept so kernel_bench times it beside the work-unit ops:
// z = x Wa^T and scores = max_b z Wb^T as two row_dot launches (row_dot.cuh), then the selection in one
// 1024-thread block (a 3-pass radix select of the score keys in a shared-memory histogram, then an ordered
// compaction). One block needs no inter-block synchronisation, which is why it was written so, and why it
// costs 17.7 us at n = 20480 on the H200 (results/h200/2026-12-01_704d2ca).
#include <algorithm>
#include <cstdint>

#include "kernels/common/block_scan.cuh"
#include "kernels/common/cuda_check.h"
#include "kernels/common/pdl.cuh"
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/sparse_mlp_up/row_dot.cuh"

namespace dv::kernels {
namespace {



constexpr int kThreads = 1024;
constexpr int kWarpsPerBlock = kThreads / 32;
constexpr int kMaxBins = 4096;

__global__ void __launch_bounds__(kThreads, 1) lowrank_select_kernel(LowrankSelectArgs a, float tau) {
  pdl_begin();
  __shared__ int hist[kMaxBins];
  __shared__ int warp_tot[kWarpsPerBlock];
  __shared__ int s_digit, s_above;
  const int n = a.n, tid = threadIdx.x;
  const bool by_threshold = a.mode == SelectMode::kThreshold;

  // Top-k result as a predicate: key >= thr selected outright; keys equal to tie_key fill the remaining
  // need_tie places in index order.
  unsigned long long thr = 0;
  uint32_t tie_key = 0;
  int need_tie = 0;
  if (!by_threshold) {
    const int k = min(max(a.top_k, 0), n);
    if (k == 0) {
      thr = 1ull << 32;
    } else if (k < n) {
      uint32_t prefix = 0, mask = 0;
      int need = k;
      bool exact = false;
      for (int pass = 0; pass < 3 && !exact; ++pass) {
        const int width = pass < 2 ? 12 : 8;
        const int shift = pass == 0 ? 20 : (pass == 1 ? 8 : 0);
        const int bins = 1 << width;
        for (int i = tid; i < bins; i += kThreads) hist[i] = 0;
        __syncthreads();
        for (int i = tid; i < n; i += kThreads) {
          const uint32_t key = score_order_key(a.scores[i]);
          if ((key & mask) == prefix) atomicAdd(&hist[(key >> shift) & (bins - 1)], 1);
        }
        __syncthreads();
        // Bins from the top down: thread i owns bins [bins-1-i*per, bins-i*per-per]. The digit is the bin
        // where the count from the top first reaches need (exactly one thread sees that crossing).
        const int per = bins >= kThreads ? bins / kThreads : 1;
        const bool owns = tid * per < bins;
        int local = 0;
        if (owns)
          for (int m = 0; m < per; ++m) local += hist[bins - 1 - tid * per - m];
        int unused;
        const int before = block_exclusive_scan<kThreads>(local, warp_tot, &unused);
        if (owns && before < need && need <= before + local) {
          int run = before;
          for (int m = 0; m < per; ++m) {
            const int bin = bins - 1 - tid * per - m;
            if (run + hist[bin] >= need) {
              s_digit = bin;
              s_above = run;
              break;
            }
            run += hist[bin];
          }
        }
        __syncthreads();
        const int digit = s_digit;
        const int count = hist[digit];
        need -= s_above;
        prefix |= static_cast<uint32_t>(digit) << shift;
        mask |= static_cast<uint32_t>(bins - 1) << shift;
        exact = need == count;
        __syncthreads();  // everyone has read hist and s_digit before the next pass rewrites them
      }
      if (exact) {
        thr = prefix;  // every key whose decided digits are >= prefix's: exactly k keys
      } else {
        thr = static_cast<unsigned long long>(prefix) + 1;
        tie_key = prefix;
        need_tie = need;
      }
    }
  }

  // Ordered compaction: thread i owns the contiguous segment [i*seg, (i+1)*seg).
  const int seg = (n + kThreads - 1) / kThreads;
  const int begin = min(tid * seg, n), end = min(begin + seg, n);
  int n_def = 0, n_tie = 0;
  for (int i = begin; i < end; ++i) {
    const float s = a.scores[i];
    const uint32_t key = score_order_key(s);
    if (by_threshold ? s >= tau : key >= thr) {
      ++n_def;
    } else if (need_tie > 0 && key == tie_key) {
      ++n_tie;
    }
  }
  int tie_total;
  const int tie_before = block_exclusive_scan<kThreads>(n_tie, warp_tot, &tie_total);
  int ties_left = min(max(need_tie - tie_before, 0), n_tie);
  int total;
  int pos = block_exclusive_scan<kThreads>(n_def + ties_left, warp_tot, &total);
  for (int i = begin; i < end; ++i) {
    const float s = a.scores[i];
    const uint32_t key = score_order_key(s);
    bool take = by_threshold ? s >= tau : key >= thr;
    if (!take && ties_left > 0 && key == tie_key) {
      take = true;
      --ties_left;
    }
    if (take) {
      if (pos < a.max_k) a.idx[pos] = i;
      ++pos;
    }
  }
  if (tid == 0) *a.k_dev = min(total, a.max_k);
}

}  // namespace

void launch_lowrank_predictor_chain(const LowrankPredictorArgs& a, cudaStream_t stream) {
  check_lowrank_predictor_args(a);  // before any launch: a bad call leaves the stream untouched
  DV_CHECK(a.batch_union == BatchUnion::kMaxLogit && a.dense_above >= a.n,
           "lowrank_predictor_chain: only the max-over-batch union, without a crossover");
  const LowrankSelectArgs sel = lowrank_selection_of(a);
  const bool i8 = a.wa_i8 != nullptr;

  RowDotProblem first;
  first.w = a.wa;
  first.w_i8 = a.wa_i8;
  first.x = a.x;
  first.max_rows = a.r;
  first.B = a.B;
  first.d = a.d;
  HalfRowEpilogue to_z;
  to_z.out = a.z;
  to_z.ld = a.r;
  to_z.scale = a.wa_scale;
  if (i8) {
    launch_row_dot<true>(first, to_z, stream);
  } else {
    launch_row_dot(first, to_z, stream);
  }
  DV_CUDA_LAUNCH_CHECK("lowrank_predictor z = x Wa^T");

  RowDotProblem second;
  second.w = a.wb;
  second.w_i8 = a.wb_i8;
  second.x = a.z;
  second.max_rows = a.n;
  second.B = a.B;
  second.d = a.r;
  MaxOverBatchEpilogue to_scores;
  to_scores.scores = a.scores;
  to_scores.scale = a.wb_scale;
  if (i8) {
    launch_row_dot<true>(second, to_scores, stream);
  } else {
    launch_row_dot(second, to_scores, stream);
  }
  DV_CUDA_LAUNCH_CHECK("lowrank_predictor scores = max_b z Wb^T");

  const float tau = a.mode == SelectMode::kThreshold ? select_threshold_logit(a.threshold) : 0.f;
  launch_kernel_pdl(lowrank_select_kernel, 1, kThreads, 0, stream, sel, tau);
  DV_CUDA_LAUNCH_CHECK("lowrank_predictor_chain select");
}

}  // namespace dv::kernels
