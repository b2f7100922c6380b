// sparse_mlp_down_op.cuh: sparse_mlp_down (contract and access pattern in sparse_mlp_down.cuh) as a work-unit
// op (kernels/common/work_units.cuh): the graph path launches it one CTA per unit (sparse_mlp_down.cu), the
// persistent decode kernel runs the same run() (the attention block's W_o, which finishes the residual stream).
// Unit u = (column block u / splits of 512 columns: 8 warps of 64, split u % splits of the selected rows): a
// slice's splits are neighbours, so its last arriver comes soon after the first.
// Order inside a unit (the unit convention): the selection (idx, k) after sync.indices(), then this lane's first
// weight loads (they depend only on the selection), then sync.inputs() and h; weights stay on the streaming
// path, h, idx and k go through the Sync's load policy, resid (which may alias out) through L2.
// The struct is host-visible (fields, max_units(), kSmemBytes); its device body sits under __CUDACC__.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "kernels/common/fixed_sum.cuh"
#include "kernels/common/ordered_sum.cuh"
#include "kernels/common/work_units.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"
#if defined(__CUDACC__)
#include "kernels/common/half8.cuh"
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"
#endif

namespace dv::kernels {

// Whether a Sync asks for SparseMlpDownArgs::prefetch_unit's code (the persistent kernel's does); other Syncs
// compile none of it.
template <class Sync, class = void>
struct SyncPrefetchesUnits : std::false_type {};
template <class Sync>
struct SyncPrefetchesUnits<Sync, std::void_t<decltype(Sync::kPrefetchesUnits)>>
    : std::bool_constant<Sync::kPrefetchesUnits> {};

// MT = 16-row batch tiles (B <= 16: 1, B <= 32: 2); kUnitRows: rows_per_index == 1 known at compile time.
// kRowStats: also write args.row_partials (the layer-norm statistics of the output's 512-column slices, see
// sparse_mlp_down.cuh); a separate instantiation so the default one's code does not change.
template <int MT, bool kUnitRows, bool kRowStats = false>
struct SparseMlpDownOp {
  static constexpr int kWarps = kUnitThreads / 32;
  static constexpr int kStepRows = 16;  // MMA k dimension
  static constexpr int kUnroll = 2;     // steps whose loads are in flight together: 8 x 16 bytes per lane
  static constexpr int kItemsPerRow = kSparseMlpDownUnitCols / 8;  // 8-column items of a slice's batch row
  // The "last split" flag, then (ordered scheme) ordered_sum8's staging, then (kRowStats) the (sum, sum of
  // squares) of every 8-column item the unit writes, [16 * MT batch rows][kItemsPerRow] float2.
  static constexpr int kStatsOff = 16 + kOrderedSumSmemBytes;
  static constexpr int kSmemBytes = kStatsOff + (kRowStats ? 16 * MT * kItemsPerRow * 8 : 0);
  static_assert(kWarps * kSparseMlpDownWarpCols == kSparseMlpDownUnitCols, "a unit's warps cover its columns");

  SparseMlpDownArgs a;
  int col_blocks = 1, splits = 1;  // the plan's (plan_sparse_mlp_down)

  __host__ __device__ int max_units() const { return col_blocks * splits; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    constexpr int U = kUnroll;
    const int cblk = unit / splits, split = unit - cblk * splits;
    const int R = a.rows_per_index;
    sync.indices();
    const int krows = (a.k_dev != nullptr ? min(max(Sync::load(a.k_dev), 0), a.max_k) : a.max_k) * R;
    const int per_split = (krows + splits - 1) / splits;
    const int rows_per_split = (per_split + kStepRows - 1) / kStepRows * kStepRows;
    const int r_begin = min(split * rows_per_split, krows);
    const int r_end = min(r_begin + rows_per_split, krows);

    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int g = lane >> 2, t = lane & 3;
    const int cb = cblk * kSparseMlpDownUnitCols + warp * kSparseMlpDownWarpCols;
    const bool col_ok = cb + 8 * g < a.d;
    const __half* wcol = a.w2t + (col_ok ? cb + 8 * g : 0);

    // Physical rows of this lane's 4 rows in each of the U steps; -1 past the split. Loaded one iteration
    // ahead so the idx -> address -> weight chain costs one latency only once.
    int next_rows[U][4];
    uint4 wv[U][4];
    auto find_rows = [&](int q_step) {
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int r = 0; r < 4; ++r)
          next_rows[u][r] = physical_row<Sync>(q_step + kStepRows * u + 4 * t + r, r_end, R);
    };
    auto load_weights = [&](bool before_wait) {
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int r = 0; r < 4; ++r) {
          const int row = next_rows[u][r];
          const __half* w = wcol + static_cast<size_t>(row) * a.d;
          wv[u][r] = (row >= 0 && col_ok) ? (before_wait ? ld_before_wait_u4(w) : ld_stream_u4(w)) : zero_u4();
        }
    };
    find_rows(r_begin);
    load_weights(true);  // before the input wait: weights depend on the selection only
    if constexpr (SyncPrefetchesUnits<Sync>::value) {
      if (a.prefetch_unit) prefetch_rows<Sync>(cblk, r_begin + kStepRows * U, r_end, R);
    }
    sync.inputs();

    float acc[MT][8][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[mt][i][e] = 0.f;

    for (int q0 = r_begin; q0 < r_end; q0 += kStepRows * U) {
      if (q0 != r_begin) load_weights(false);
      // A operand: h rows (batch) x 4 consecutive selected rows; logical k {2t,2t+1,2t+8,2t+9} = rows 4t..4t+3.
      // q is a multiple of 4 (splits start on 16-row boundaries) and ld_h % 4 == 0, so the 4 halves are one
      // aligned 8-byte load; halves past the split are zeroed after the load (h there may hold anything).
      uint32_t av[U][MT][4];
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int q = q0 + kStepRows * u + 4 * t;
        const int valid = r_end - q;  // rows of the 4 that are inside the split
        const uint32_t keep_lo = valid >= 2 ? 0xFFFFFFFFu : (valid == 1 ? 0x0000FFFFu : 0u);
        const uint32_t keep_hi = valid >= 4 ? 0xFFFFFFFFu : (valid == 3 ? 0x0000FFFFu : 0u);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int hb = 0; hb < 2; ++hb) {
            const int b = 16 * mt + g + 8 * hb;
            uint2 hv = make_uint2(0u, 0u);
            if (b < a.B && valid > 0)
              hv = Sync::load(reinterpret_cast<const uint2*>(a.h + static_cast<size_t>(b) * a.ld_h + q));
            av[u][mt][hb] = hv.x & keep_lo;
            av[u][mt][2 + hb] = hv.y & keep_hi;
          }
      }
      find_rows(q0 + kStepRows * U);
#pragma unroll
      for (int u = 0; u < U; ++u)
#pragma unroll
        for (int i = 0; i < 8; ++i) {
          // B operand: column cb + 8g + i of rows (4t, 4t+1) and (4t+2, 4t+3).
          const uint32_t b0 = pack_column(wv[u][0], wv[u][1], i);
          const uint32_t b1 = pack_column(wv[u][2], wv[u][3], i);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt)
            mma_16816(acc[mt][i], av[u][mt][0], av[u][mt][1], av[u][mt][2], av[u][mt][3], b0, b1);
        }
    }

    // acc[mt][i][2*hb + ch] = column cb + 16t + 8ch + i of batch row 16mt + g + 8hb.
    float2* item_stats = reinterpret_cast<float2*>(smem + kStatsOff);  // kRowStats only
    if (splits == 1) {
      for_each_acc8<MT>(a.B, a.d, cb, [&](int mt, int b, int col, int e) {
        float v[8];
#pragma unroll
        for (int i = 0; i < 8; ++i) v[i] = acc[mt][i][e];
        store_out8(b, col, v, item_stats);
      });
      if constexpr (kRowStats) write_row_partials(cblk, item_stats);
      return;
    }

    FixedSum* ws = static_cast<FixedSum*>(a.workspace);
    int* counters = reinterpret_cast<int*>(ws + static_cast<size_t>(kSplitSumMaxRows) * a.d);
    if (a.ordered_sums) {
      // An empty split stores nothing: the last unit sums only the non-empty ones.
      float* rows = partials() + static_cast<size_t>(split) * a.B * a.d;
      if (r_begin < r_end)
        for_each_acc8<MT>(a.B, a.d, cb, [&](int mt, int b, int col, int e) {
          store_partials8(rows + static_cast<size_t>(b) * a.d + col, acc[mt], e);
        });
    } else if (r_begin < r_end) {
      for_each_acc8<MT>(a.B, a.d, cb, [&](int mt, int b, int col, int e) {
        FixedSum* dst = ws + static_cast<size_t>(b) * a.d + col;
        red_add_fixed_v4(dst, acc[mt][0][e], acc[mt][1][e], acc[mt][2][e], acc[mt][3][e]);
        red_add_fixed_v4(dst + 4, acc[mt][4][e], acc[mt][5][e], acc[mt][6][e], acc[mt][7][e]);
      });
    }
    // The last-arriving unit of this column block finalizes it (threadFenceReduction pattern).
    int* is_last = reinterpret_cast<int*>(smem);
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) *is_last = atomicAdd(counters + cblk, 1) == splits - 1;
    __syncthreads();
    if (*is_last == 0) return;
    __threadfence();
    const int slice0 = cblk * kSparseMlpDownUnitCols;
    if (a.ordered_sums) {
      // Splits [0, used) hold rows: split s starts at s * rows_per_split.
      const int used = rows_per_split > 0 ? min(splits, (krows + rows_per_split - 1) / rows_per_split) : 0;
      finalize_ordered(slice0, used, reinterpret_cast<float*>(smem + 16), item_stats);
    } else {
      for (int e = threadIdx.x; e < a.B * kItemsPerRow; e += kUnitThreads) {
        const int b = e / kItemsPerRow, col = slice0 + 8 * (e % kItemsPerRow);
        if (col >= a.d) continue;
        float v[8];
        take_fixed8(ws + static_cast<size_t>(b) * a.d + col, v);
        store_out8(b, col, v, item_stats);
      }
    }
    if (threadIdx.x == 0) counters[cblk] = 0;
    if constexpr (kRowStats) write_row_partials(cblk, item_stats);
  }

 private:
  // The ordered scheme's partials area [splits][B][d] (sparse_mlp_down.cuh).
  __device__ __forceinline__ float* partials() const {
    return reinterpret_cast<float*>(static_cast<char*>(a.workspace) +
                                    sparse_mlp_down_partials_offset(a.d, col_blocks));
  }

  // The last unit of a slice, ordered scheme: out = resid + b2 + the sum of splits [0, used) in split order
  // (ordered_sum.cuh), in passes of at most one 8-column item a thread.
  __device__ void finalize_ordered(int slice0, int used, float* staged, float2* item_stats) const {
    const int items = a.B * kItemsPerRow;
    for (int base = 0; base < items; base += kUnitThreads) {
      const int pass = min(kUnitThreads, items - base);
      const int e = base + static_cast<int>(threadIdx.x) % pass;
      const int b = e / kItemsPerRow, col = slice0 + 8 * (e % kItemsPerRow);
      const float* p = col < a.d ? partials() + static_cast<size_t>(b) * a.d + col : nullptr;
      float v[8];
      if (ordered_sum8(p, static_cast<size_t>(a.B) * a.d, used, pass, [](int) { return true; }, staged, v))
        store_out8(b, col, v, item_stats);
    }
  }

  // kRowStats: row_partials[cblk][b] = the sums over the slice's items of b in item order (fixed: a warp per
  // batch row, lane l adds items l and l + 32, then a butterfly), after every item's stats are in shared memory.
  __device__ void write_row_partials(int cblk, const float2* item_stats) const {
    __syncthreads();
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int items = min(kItemsPerRow, (a.d - cblk * kSparseMlpDownUnitCols) / 8);
    for (int b = warp; b < a.B; b += kWarps) {
      float s = 0.f, ss = 0.f;
#pragma unroll
      for (int i = lane; i < kItemsPerRow; i += 32)
        if (i < items) {
          const float2 st = item_stats[b * kItemsPerRow + i];
          s += st.x;
          ss += st.y;
        }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        s += __shfl_xor_sync(0xffffffffu, s, o);
        ss += __shfl_xor_sync(0xffffffffu, ss, o);
      }
      if (lane == 0)
        reinterpret_cast<float2*>(a.row_partials)[static_cast<size_t>(cblk) * a.B + b] = make_float2(s, ss);
    }
  }

  // L2 bulk prefetch of the unit's row segments (its 512 columns of each row) for logical rows [q_begin, r_end),
  // a thread a row: d % 8 == 0 makes each segment's address and size multiples of 16, as the instruction needs.
  template <class Sync>
  __device__ __forceinline__ void prefetch_rows(int cblk, int q_begin, int r_end, int R) const {
    const int c0 = cblk * kSparseMlpDownUnitCols;
    const unsigned bytes = static_cast<unsigned>(min(kSparseMlpDownUnitCols, a.d - c0)) * 2u;
    for (int q = q_begin + static_cast<int>(threadIdx.x); q < r_end; q += kUnitThreads) {
      const int row = physical_row<Sync>(q, r_end, R);
      const __half* p = a.w2t + static_cast<size_t>(row) * a.d + c0;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
      if (row >= 0) asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(p), "r"(bytes) : "memory");
#endif
    }
  }

  // Physical W2T row of logical row q, or -1 when q is past the split. Written so the division is
  // unconditional and only the idx load is predicated: a branch here would split the unrolled load stream into
  // basic blocks that ptxas does not schedule across.
  template <class Sync>
  __device__ __forceinline__ int physical_row(int q, int r_end, int rows_per_index) const {
    const bool ok = q < r_end;
    if constexpr (kUnitRows) {
      return ok ? Sync::load(a.idx + q) : -1;
    } else {
      const int head = q / rows_per_index;
      const int offset = q - head * rows_per_index;
      const int base = ok ? Sync::load(a.idx + head) : -1;
      return ok ? base * rows_per_index + offset : -1;
    }
  }

  // out[col..col+7] = resid + b2 + v for one batch row (fp32 sum, one fp16 rounding); kRowStats: the sum and
  // the sum of squares of the 8 rounded values into item_stats[b][item of col in its slice].
  __device__ __forceinline__ void store_out8(int b, int col, const float (&v)[8], float2* item_stats) const {
    float s[8];
#pragma unroll
    for (int i = 0; i < 8; ++i) s[i] = v[i];
    if (a.b2 != nullptr) {
      const uint4 bb = __ldg(reinterpret_cast<const uint4*>(a.b2 + col));
      const __half* bh = reinterpret_cast<const __half*>(&bb);
#pragma unroll
      for (int i = 0; i < 8; ++i) s[i] += __half2float(bh[i]);
    }
    const size_t off = static_cast<size_t>(b) * a.d + col;
    if (a.resid != nullptr) {
      // L2, not the read-only path: resid may alias out, and another CTA of a persistent launch wrote it.
      const uint4 rr = __ldcg(reinterpret_cast<const uint4*>(a.resid + off));
      const __half* rh = reinterpret_cast<const __half*>(&rr);
#pragma unroll
      for (int i = 0; i < 8; ++i) s[i] += __half2float(rh[i]);
    }
    const uint4 packed = pack_half8(s);
    *reinterpret_cast<uint4*>(a.out + off) = packed;
    if constexpr (kRowStats) {
      float f[8], sum = 0.f, sq = 0.f;
      half8_to_float(packed, f);
#pragma unroll
      for (int i = 0; i < 8; ++i) {
        sum += f[i];
        sq = fmaf(f[i], f[i], sq);
      }
      item_stats[b * kItemsPerRow + (col % kSparseMlpDownUnitCols) / 8] = make_float2(sum, sq);
    }
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
