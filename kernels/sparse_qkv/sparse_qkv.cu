// sparse_qkv.cu: selected-head Q/K/V projection with K/V catch-up (see sparse_qkv.cuh for the contract).
// Tensor-core GEMV: the weight tile is the MMA's A operand loaded straight from global memory. Each thread
// loads 8 consecutive k of a weight row (one 16-byte load) and the same 8 k of its input column, and the
// two are split over two m16n8k16 MMAs; the k order inside a fragment does not matter for a dot product as
// long as A and B use the same one, which they do because the fragment's k indices depend only on the
// thread's position in its quad. No shared-memory staging, no ldmatrix.
#include "kernels/sparse_qkv/sparse_qkv.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/pdl.cuh"

namespace dv {
namespace {

constexpr int kRows = kSparseQkvSlotRows;  // weight rows per block (MMA M)
constexpr int kWarps = 4;                             // split d four ways
constexpr int kThreads = 32 * kWarps;
constexpr int kTiles = 4;          // n8 tiles per pass
constexpr int kCols = 8 * kTiles;  // input columns per pass over the weights

// Streamed weights: read once, keep them out of L1.
__device__ __forceinline__ uint4 ld_stream(const __half* p) {
  uint4 v;
  asm("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(p));
  return v;
}

__device__ __forceinline__ void mma_16816(float (&c)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t b0, uint32_t b1) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// Input column slice, or zeros for a column past the last one.
__device__ __forceinline__ uint4 load_x(const __half* p, int offset) {
  return p ? *reinterpret_cast<const uint4*>(p + offset) : make_uint4(0, 0, 0, 0);
}

// Rows g and g+8 of the tile (w0, w1) times input column g (x): 32 k, two MMAs.
__device__ __forceinline__ void mma_chunk(float (&c)[4], const uint4& w0, const uint4& w1, const uint4& x) {
  mma_16816(c, w0.x, w1.x, w0.y, w1.y, x.x, x.y);
  mma_16816(c, w0.z, w1.z, w0.w, w1.w, x.z, x.w);
}

// Three blocks per SM: the register budget (168) lets ptxas issue a whole unrolled step's loads (8 weight
// + 16 input vectors) before the first MMA; with the default budget it interleaves them one chunk at a time.
// kHd: head_dim; kUnroll: 32-wide k chunks whose loads are in flight together per warp.
template <int kHd, int kUnroll>
__global__ void __launch_bounds__(kThreads, 3) sparse_qkv_kernel(SparseQkvArgs a) {
  kernels::pdl_begin();
  __shared__ float red[kWarps][kRows][kCols + 1];
  constexpr int hd = kHd;
  const int d = a.num_heads * hd;
  const int B = a.batch;
  const int pos = *a.pos;
  if (pos < 0 || pos >= a.max_len) return;

  // The current input joins the history whatever is selected: the blocks of slot 0 share the copy.
  if (blockIdx.y == 0) {
    const int nvec = d / 8;
    for (int i = blockIdx.x * kThreads + threadIdx.x; i < B * nvec; i += gridDim.x * kThreads) {
      const int b = i / nvec;
      reinterpret_cast<uint4*>(a.x_hist + (static_cast<size_t>(b) * a.max_len + pos) * d)[i - b * nvec] =
          reinterpret_cast<const uint4*>(a.x)[i];
    }
  }
  const int count = min(*a.num_selected, a.max_heads);
  if (static_cast<int>(blockIdx.y) >= count) return;
  const int h = a.heads[blockIdx.y];
  if (h < 0 || h >= a.num_heads) return;

  constexpr int blocks_per_part = hd / kRows;
  const int part = blockIdx.x / blocks_per_part;          // 0 q, 1 k, 2 v
  const int r0 = (blockIdx.x % blocks_per_part) * kRows;  // first row of this block within the part
  const int valid_slot = h * 2 * blocks_per_part + static_cast<int>(blockIdx.x) - blocks_per_part;  // K/V only
  const int t_begin = part == 0 ? pos : min(max(a.kv_valid[valid_slot], 0), pos);
  const int ncols = (pos - t_begin + 1) * B;  // column n = (t - t_begin) * B + b

  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, tq = lane & 3;
  const int nk = d / 32;
  const int kc0 = warp * nk / kWarps, kc1 = (warp + 1) * nk / kWarps;
  const size_t row0 = (static_cast<size_t>(h) * 3 + part) * hd + r0;
  const __half* w0p = a.w_qkv + (row0 + g) * d + tq * 8;
  const __half* w1p = w0p + static_cast<size_t>(8) * d;

  for (int col0 = 0; col0 < ncols; col0 += kCols) {
    const __half* xp[kTiles];
#pragma unroll
    for (int j = 0; j < kTiles; ++j) {
      const int n = col0 + j * 8 + g;
      xp[j] = nullptr;
      if (n < ncols) {
        const int ti = n / B, b = n - ti * B, t = t_begin + ti;
        xp[j] =
            (t == pos ? a.x + static_cast<size_t>(b) * d : a.x_hist + (static_cast<size_t>(b) * a.max_len + t) * d) +
            tq * 8;
      }
    }
    float acc[kTiles][4];
#pragma unroll
    for (int j = 0; j < kTiles; ++j) acc[j][0] = acc[j][1] = acc[j][2] = acc[j][3] = 0.f;

    // Every tile runs unconditionally (columns past ncols load nothing and multiply zeros): tensor-core
    // time is a small fraction of the weight streaming time, and branch-free tiles let all loads issue early.
    int kc = kc0;
    for (; kc + kUnroll <= kc1; kc += kUnroll) {
      uint4 wa[kUnroll], wb[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        wa[u] = ld_stream(w0p + (kc + u) * 32);
        wb[u] = ld_stream(w1p + (kc + u) * 32);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        uint4 xv[kTiles];
#pragma unroll
        for (int j = 0; j < kTiles; ++j) xv[j] = load_x(xp[j], (kc + u) * 32);
#pragma unroll
        for (int j = 0; j < kTiles; ++j) mma_chunk(acc[j], wa[u], wb[u], xv[j]);
      }
    }
    for (; kc < kc1; ++kc) {
      const uint4 wa = ld_stream(w0p + kc * 32), wb = ld_stream(w1p + kc * 32);
      uint4 xv[kTiles];
#pragma unroll
      for (int j = 0; j < kTiles; ++j) xv[j] = load_x(xp[j], kc * 32);
#pragma unroll
      for (int j = 0; j < kTiles; ++j) mma_chunk(acc[j], wa, wb, xv[j]);
    }

    // Accumulator fragment: c0,c1 = (row g, cols 2tq, 2tq+1), c2,c3 = (row g+8, same cols) of tile j.
#pragma unroll
    for (int j = 0; j < kTiles; ++j) {
      const int c = j * 8 + 2 * tq;
      red[warp][g][c] = acc[j][0];
      red[warp][g][c + 1] = acc[j][1];
      red[warp][g + 8][c] = acc[j][2];
      red[warp][g + 8][c + 1] = acc[j][3];
    }
    __syncthreads();
    const __half* bias = a.b_qkv + row0;
    for (int o = threadIdx.x; o < kRows * kCols; o += kThreads) {
      const int r = o % kRows, c = o / kRows, n = col0 + c;
      if (n < ncols) {
        float v = __half2float(bias[r]);
#pragma unroll
        for (int w = 0; w < kWarps; ++w) v += red[w][r][c];
        const int ti = n / B, b = n - ti * B, t = t_begin + ti;
        const size_t bh = static_cast<size_t>(b) * a.num_heads + h;
        if (part == 0) {
          a.q[bh * hd + r0 + r] = __float2half(v);
        } else {
          __half* cache = part == 1 ? a.k_cache : a.v_cache;
          cache[(bh * a.max_len + t) * hd + r0 + r] = __float2half(v);
        }
      }
    }
    __syncthreads();
  }
  // Every thread read kv_valid before the loop's last barrier.
  if (part != 0 && threadIdx.x == 0) a.kv_valid[valid_slot] = pos + 1;
}

__global__ void kv_valid_fill_kernel(int* kv_valid, int n, int value) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) kv_valid[i] = value;
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

void launch_sparse_qkv(const SparseQkvArgs& a, cudaStream_t stream) {
  DV_CHECK(sparse_qkv_supports_head_dim(a.head_dim),
           "sparse_qkv: head_dim {} unsupported (16, 32, 64, 80 or 128)", a.head_dim);
  DV_CHECK(a.num_heads > 0 && a.batch > 0 && a.max_len > 0,
           "sparse_qkv: num_heads = {}, batch = {}, max_len = {} must be positive", a.num_heads, a.batch, a.max_len);
  DV_CHECK(a.num_heads * a.head_dim % 32 == 0, "sparse_qkv: d = {} heads x {} must be a multiple of 32",
           a.num_heads, a.head_dim);
  DV_CHECK(a.max_heads >= 0 && a.max_heads <= a.num_heads, "sparse_qkv: max_heads = {} outside [0, {}]", a.max_heads,
           a.num_heads);
  DV_CHECK(a.q && a.k_cache && a.v_cache && a.x_hist && a.kv_valid && a.x && a.w_qkv && a.b_qkv && a.heads &&
               a.num_selected && a.pos,
           "sparse_qkv: every pointer must be non-null");
  DV_CHECK(aligned16(a.x) && aligned16(a.x_hist) && aligned16(a.w_qkv),
           "sparse_qkv: x, x_hist and w_qkv must be 16-byte aligned (16-byte vector access)");
  const dim3 grid(3 * a.head_dim / kRows, std::max(a.max_heads, 1));
  switch (a.head_dim) {  // head_dim 80 with 4 chunks in flight spills 4 bytes at 168 registers
    case 16: kernels::launch_kernel_pdl(sparse_qkv_kernel<16, 4>, grid, kThreads, 0, stream, a); break;
    case 32: kernels::launch_kernel_pdl(sparse_qkv_kernel<32, 4>, grid, kThreads, 0, stream, a); break;
    case 64: kernels::launch_kernel_pdl(sparse_qkv_kernel<64, 4>, grid, kThreads, 0, stream, a); break;
    case 80: kernels::launch_kernel_pdl(sparse_qkv_kernel<80, 2>, grid, kThreads, 0, stream, a); break;
    default: kernels::launch_kernel_pdl(sparse_qkv_kernel<128, 4>, grid, kThreads, 0, stream, a); break;
  }
  DV_CUDA_LAUNCH_CHECK("sparse_qkv_kernel");
}

void launch_kv_valid_fill(int* kv_valid, int num_heads, int head_dim, int value, cudaStream_t stream) {
  DV_CHECK(kv_valid && num_heads > 0 && sparse_qkv_supports_head_dim(head_dim) && value >= 0,
           "kv_valid_fill: bad arguments (num_heads {}, head_dim {}, value {})", num_heads, head_dim, value);
  const int n = num_heads * sparse_qkv_valid_slots(head_dim);
  kv_valid_fill_kernel<<<(n + 255) / 256, 256, 0, stream>>>(kv_valid, n, value);
  DV_CUDA_LAUNCH_CHECK("kv_valid_fill_kernel");
}

}  // namespace dv
