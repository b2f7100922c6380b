// sparse_mlp_down.cu: the gathered, transposed fc2 kernel (design and byte count in sparse_mlp_down.cuh).
#include "kernels/sparse_mlp_down/sparse_mlp_down.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/pdl.cuh"
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"

namespace dv::kernels {
namespace {

constexpr int kWarps = 4;
constexpr int kColsPerWarp = 64;
constexpr int kColsPerBlock = kWarps * kColsPerWarp;
constexpr int kStepRows = 16;   // MMA k dimension
constexpr int kUnroll = 2;      // steps whose loads are in flight together: 8 x 16 bytes per lane
// Two waves at 4 resident blocks per SM on the 132-SM H100 (the B <= 16 kernel's occupancy).
constexpr int kTargetBlocks = 1056;

// MT = 16-row batch tiles (B <= 16: 1, B <= 32: 2). The minimum-blocks bound keeps ptxas from trading loads
// in flight for occupancy (see row_dot.cuh) while leaving room for the 32*MT accumulators.
template <int MT>
struct DownTraits {
  static constexpr int kMinBlocks = MT == 1 ? 4 : 2;
};

// Physical W2T row of logical row q, or -1 when q is past the split. kUnitRows: rows_per_index == 1 known at
// compile time. Written so the division is unconditional and only the idx load is predicated: a branch here
// would split the unrolled load stream into basic blocks that ptxas does not schedule across.
template <bool kUnitRows>
__device__ __forceinline__ int physical_row(const int* idx, int q, int r_end, int rows_per_index) {
  const bool ok = q < r_end;
  if constexpr (kUnitRows) {
    return ok ? __ldg(idx + q) : -1;
  } else {
    const int head = q / rows_per_index;
    const int offset = q - head * rows_per_index;
    const int base = ok ? __ldg(idx + head) : -1;
    return ok ? base * rows_per_index + offset : -1;
  }
}

// out[col..col+7] = resid + b2 + v for one batch row (fp32 sum, one fp16 rounding).
__device__ __forceinline__ void store_out8(const SparseMlpDownArgs& a, int b, int col, const float (&v)[8]) {
  float s[8];
#pragma unroll
  for (int i = 0; i < 8; ++i) s[i] = v[i];
  if (a.b2 != nullptr) {
    const uint4 bb = *reinterpret_cast<const uint4*>(a.b2 + col);
    const __half* bh = reinterpret_cast<const __half*>(&bb);
#pragma unroll
    for (int i = 0; i < 8; ++i) s[i] += __half2float(bh[i]);
  }
  const size_t off = static_cast<size_t>(b) * a.d + col;
  if (a.resid != nullptr) {
    // Plain load, not the read-only path: resid may alias out.
    const uint4 rr = *reinterpret_cast<const uint4*>(a.resid + off);
    const __half* rh = reinterpret_cast<const __half*>(&rr);
#pragma unroll
    for (int i = 0; i < 8; ++i) s[i] += __half2float(rh[i]);
  }
  *reinterpret_cast<uint4*>(a.out + off) = pack_half8(s);
}

template <int MT, bool kUnitRows>
__global__ void __launch_bounds__(kWarps * 32, DownTraits<MT>::kMinBlocks)
    sparse_mlp_down_kernel(SparseMlpDownArgs a) {
  pdl_begin();
  constexpr int U = kUnroll;
  const int R = a.rows_per_index;
  const int krows = (a.k_dev != nullptr ? min(max(*a.k_dev, 0), a.max_k) : a.max_k) * R;
  const int per_split = (krows + gridDim.y - 1) / gridDim.y;
  const int rows_per_split = (per_split + kStepRows - 1) / kStepRows * kStepRows;
  const int r_begin = min(static_cast<int>(blockIdx.y) * rows_per_split, krows);
  const int r_end = min(r_begin + rows_per_split, krows);

  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int g = lane >> 2, t = lane & 3;
  const int cb = blockIdx.x * kColsPerBlock + warp * kColsPerWarp;
  const bool col_ok = cb + 8 * g < a.d;
  const __half* wcol = a.w2t + (col_ok ? cb + 8 * g : 0);

  float acc[MT][8][4];
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int i = 0; i < 8; ++i)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][i][e] = 0.f;

  // Physical rows of this lane's 4 rows in each of the U steps; -1 past the split. Loaded one iteration
  // ahead so the idx -> address -> weight chain costs one latency only once.
  int next_rows[U][4];
#pragma unroll
  for (int u = 0; u < U; ++u)
#pragma unroll
    for (int r = 0; r < 4; ++r) {
      const int q = r_begin + kStepRows * u + 4 * t + r;
      next_rows[u][r] = physical_row<kUnitRows>(a.idx, q, r_end, R);
    }

  for (int q0 = r_begin; q0 < r_end; q0 += kStepRows * U) {
    uint4 wv[U][4];
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int row = next_rows[u][r];
        wv[u][r] = (row >= 0 && col_ok) ? ld_stream_u4(wcol + static_cast<size_t>(row) * a.d) : zero_u4();
      }
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
            hv = __ldg(reinterpret_cast<const uint2*>(a.h + static_cast<size_t>(b) * a.ld_h + q));
          av[u][mt][hb] = hv.x & keep_lo;
          av[u][mt][2 + hb] = hv.y & keep_hi;
        }
    }
#pragma unroll
    for (int u = 0; u < U; ++u)
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int q = q0 + kStepRows * (U + u) + 4 * t + r;
        next_rows[u][r] = physical_row<kUnitRows>(a.idx, q, r_end, R);
      }
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
  if (gridDim.y == 1) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int hb = 0; hb < 2; ++hb)
#pragma unroll
        for (int ch = 0; ch < 2; ++ch) {
          const int b = 16 * mt + g + 8 * hb, col = cb + 16 * t + 8 * ch;
          if (b >= a.B || col >= a.d) continue;
          float v[8];
#pragma unroll
          for (int i = 0; i < 8; ++i) v[i] = acc[mt][i][2 * hb + ch];
          store_out8(a, b, col, v);
        }
    return;
  }

  float* ws = static_cast<float*>(a.workspace);
  int* counters = reinterpret_cast<int*>(ws + static_cast<size_t>(a.B) * a.d);
  if (r_begin < r_end) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int hb = 0; hb < 2; ++hb)
#pragma unroll
        for (int ch = 0; ch < 2; ++ch) {
          const int b = 16 * mt + g + 8 * hb, col = cb + 16 * t + 8 * ch;
          if (b >= a.B || col >= a.d) continue;
          float* dst = ws + static_cast<size_t>(b) * a.d + col;
          const int e = 2 * hb + ch;
          red_add_v4(dst, acc[mt][0][e], acc[mt][1][e], acc[mt][2][e], acc[mt][3][e]);
          red_add_v4(dst + 4, acc[mt][4][e], acc[mt][5][e], acc[mt][6][e], acc[mt][7][e]);
        }
  }
  // Last-arriving block of this column slice finalizes it (threadFenceReduction pattern).
  __shared__ bool is_last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) is_last = atomicAdd(counters + blockIdx.x, 1) == static_cast<int>(gridDim.y) - 1;
  __syncthreads();
  if (!is_last) return;
  __threadfence();
  const int slice0 = blockIdx.x * kColsPerBlock;
  for (int e = threadIdx.x; e < a.B * (kColsPerBlock / 8); e += blockDim.x) {
    const int b = e / (kColsPerBlock / 8), col = slice0 + 8 * (e % (kColsPerBlock / 8));
    if (col >= a.d) continue;
    float4* src = reinterpret_cast<float4*>(ws + static_cast<size_t>(b) * a.d + col);
    const float4 lo = __ldcg(src), hi = __ldcg(src + 1);
    const float v[8] = {lo.x, lo.y, lo.z, lo.w, hi.x, hi.y, hi.z, hi.w};
    store_out8(a, b, col, v);
    __stcg(src, make_float4(0.f, 0.f, 0.f, 0.f));
    __stcg(src + 1, make_float4(0.f, 0.f, 0.f, 0.f));
  }
  if (threadIdx.x == 0) counters[blockIdx.x] = 0;
}

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

}  // namespace

SparseMlpDownPlan plan_sparse_mlp_down(int B, int d, int max_k, int rows_per_index) {
  SparseMlpDownPlan plan;
  plan.col_blocks = std::max(1, (d + kColsPerBlock - 1) / kColsPerBlock);
  const long long max_rows = static_cast<long long>(std::max(max_k, 0)) * std::max(rows_per_index, 1);
  // Rounded down: at most two full waves of blocks, never a few stragglers in a third wave (a tail of a
  // handful of blocks has too few loads in flight to keep DRAM busy).
  const long long by_parallelism = kTargetBlocks / plan.col_blocks;
  const long long by_rows = max_rows / (kStepRows * kUnroll);             // >= one unrolled iteration each
  const long long by_bytes = max_rows / (8LL * std::max(B, 1));           // reductions <= 1/4 of weight bytes
  plan.splits = static_cast<int>(std::max(1LL, std::min({by_parallelism, by_rows, by_bytes})));
  if (plan.splits > 1)
    plan.workspace_bytes = static_cast<size_t>(B) * d * sizeof(float) + plan.col_blocks * sizeof(int);
  return plan;
}

void launch_sparse_mlp_down(const SparseMlpDownArgs& a, cudaStream_t stream) {
  DV_CHECK(a.B >= 1 && a.B <= 32, "sparse_mlp_down: batch B = {} outside 1..32", a.B);
  DV_CHECK(a.d > 0 && a.d % 8 == 0, "sparse_mlp_down: d = {} must be a positive multiple of 8 (16-byte rows)",
           a.d);
  DV_CHECK(a.rows_per_index >= 1, "sparse_mlp_down: rows_per_index = {} must be >= 1", a.rows_per_index);
  DV_CHECK(a.max_k >= 0 && static_cast<long long>(a.ld_h) >= static_cast<long long>(a.max_k) * a.rows_per_index,
           "sparse_mlp_down: need ld_h ({}) >= max_k ({}) * rows_per_index ({})", a.ld_h, a.max_k,
           a.rows_per_index);
  DV_CHECK(a.ld_h % 4 == 0 && reinterpret_cast<std::uintptr_t>(a.h) % 8 == 0,
           "sparse_mlp_down: ld_h ({}) must be a multiple of 4 and h 8-byte aligned (4 halves per load)", a.ld_h);
  DV_CHECK(a.out != nullptr && a.w2t != nullptr && (a.max_k == 0 || (a.h != nullptr && a.idx != nullptr)),
           "sparse_mlp_down: out, w2t, h and idx must be device pointers, got a null one");
  DV_CHECK(aligned16(a.out) && aligned16(a.w2t) && aligned16(a.resid) && aligned16(a.b2),
           "sparse_mlp_down: out, w2t, resid and b2 must be 16-byte aligned");
  const SparseMlpDownPlan plan = plan_sparse_mlp_down(a.B, a.d, a.max_k, a.rows_per_index);
  DV_CHECK(plan.workspace_bytes == 0 || (a.workspace != nullptr && aligned16(a.workspace)),
           "sparse_mlp_down: this shape needs a 16-byte aligned workspace of {} bytes", plan.workspace_bytes);
  const dim3 grid(static_cast<unsigned>(plan.col_blocks), static_cast<unsigned>(plan.splits));
  const bool unit = a.rows_per_index == 1;
  if (a.B <= 16) {
    if (unit) {
      launch_kernel_pdl(sparse_mlp_down_kernel<1, true>, grid, kWarps * 32, 0, stream, a);
    } else {
      launch_kernel_pdl(sparse_mlp_down_kernel<1, false>, grid, kWarps * 32, 0, stream, a);
    }
  } else if (unit) {
    launch_kernel_pdl(sparse_mlp_down_kernel<2, true>, grid, kWarps * 32, 0, stream, a);
  } else {
    launch_kernel_pdl(sparse_mlp_down_kernel<2, false>, grid, kWarps * 32, 0, stream, a);
  }
  DV_CUDA_LAUNCH_CHECK("sparse_mlp_down");
}

}  // namespace dv::kernels
