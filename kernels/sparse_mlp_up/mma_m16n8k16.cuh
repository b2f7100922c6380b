// mma_m16n8k16.cuh: the few device primitives the sparse MLP, fused MLP and predictor kernels share: 16-byte
// streaming loads, half2 packing, fp32 vector reductions into L2, and one warp-wide fp16 tensor-core MMA with
// fp32 accumulation (mma.sync m16n8k16, sm_80+). Kept beside sparse_mlp_up because that op owns the row-dot
// core; a candidate for kernels/common.cuh.
//
// Fragment layout of mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 (PTX ISA), lane = 4*g + t:
//   A (16x16): a0 = A[g][2t..2t+1], a1 = A[g+8][2t..2t+1], a2 = A[g][2t+8..2t+9], a3 = A[g+8][2t+8..2t+9]
//   B (16x8):  b0 = B[2t..2t+1][g], b1 = B[2t+8..2t+9][g]
//   D (16x8):  d0 = D[g][2t], d1 = D[g][2t+1], d2 = D[g+8][2t], d3 = D[g+8][2t+1]
// Lower 16 bits of a packed register hold the element with the smaller k index. Because a dot product does
// not care about the order of its terms, the kernels relabel k freely (the same relabelling on A and B) so
// that each lane's operands come from one contiguous 16-byte load.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

namespace dv::kernels {

__device__ __forceinline__ uint4 zero_u4() { return make_uint4(0u, 0u, 0u, 0u); }

// Weights are read exactly once: bypass L1 so that it keeps the small reused operands (x, h, idx).
__device__ __forceinline__ uint4 ld_stream_u4(const void* ptr) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(ptr));
  return v;
}

// The streaming load for weights issued before a PDL wait (griddepcontrol.wait, an acquire): ptxas may sink a
// read-only (.nc) load below the wait, where it no longer overlaps the previous kernel, and does so in
// sparse_mlp_down (CUDA 13, SASS: ACQBULK first); it keeps a strong (relaxed, gpu-scope) load on its side of the
// wait. Served from L2 like the streaming load (a gpu-scope load skips L1); weights are read-only, so the value
// is the same. tests/kernels/pdl_prefetch_sass_test.py checks the order in the built objects.
__device__ __forceinline__ uint4 ld_before_wait_u4(const void* ptr) {
  uint4 v;
  asm volatile("ld.relaxed.gpu.global.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
      : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
      : "l"(ptr));
  return v;
}

// The 8-byte form of ld_before_wait_u4, for int8 weight rows.
__device__ __forceinline__ uint2 ld_before_wait_u2(const void* ptr) {
  uint2 v;
  asm volatile("ld.relaxed.gpu.global.L1::no_allocate.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(ptr));
  return v;
}

// The 8-byte form, for int8 weight rows (8 columns a lane, as the 16-byte fp16 load).
__device__ __forceinline__ uint2 ld_stream_u2(const void* ptr) {
  uint2 v;
  asm volatile("ld.global.nc.L1::no_allocate.v2.u32 {%0, %1}, [%2];" : "=r"(v.x), "=r"(v.y) : "l"(ptr));
  return v;
}

// Small operands reused by many warps: through the read-only cache.
__device__ __forceinline__ uint4 ld_cached_u4(const void* ptr) {
  uint4 v;
  asm volatile("ld.global.nc.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(ptr));
  return v;
}

__device__ __forceinline__ uint32_t u4_word(const uint4& v, int i) {
  return i == 0 ? v.x : (i == 1 ? v.y : (i == 2 ? v.z : v.w));
}

__device__ __forceinline__ uint32_t pack_half2(__half lo, __half hi) {
  return static_cast<uint32_t>(__half_as_ushort(lo)) | (static_cast<uint32_t>(__half_as_ushort(hi)) << 16);
}

// Eight fp32 values rounded to fp16 (round to nearest), packed in order into one 16-byte vector.
__device__ __forceinline__ uint4 pack_half8(const float (&v)[8]) {
  return make_uint4(pack_half2(__float2half_rn(v[0]), __float2half_rn(v[1])),
                    pack_half2(__float2half_rn(v[2]), __float2half_rn(v[3])),
                    pack_half2(__float2half_rn(v[4]), __float2half_rn(v[5])),
                    pack_half2(__float2half_rn(v[6]), __float2half_rn(v[7])));
}

// Element i (0..7) of two 8-half vectors, packed as (lo.i, hi.i): a column of two consecutive rows.
__device__ __forceinline__ uint32_t pack_column(const uint4& lo, const uint4& hi, int i) {
  const uint32_t a = u4_word(lo, i >> 1);
  const uint32_t b = u4_word(hi, i >> 1);
  return (i & 1) ? __byte_perm(a, b, 0x7632) : __byte_perm(a, b, 0x5410);
}

// d += A * B for one 16x8x16 tile, fp16 operands, fp32 accumulators.
__device__ __forceinline__ void mma_16816(float (&d)[4], uint32_t a0, uint32_t a1, uint32_t a2, uint32_t a3,
                                          uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
}

// One 32-column chunk of a row-dot tile (row_dot.cuh, lowrank_predictor/predictor_dot.cuh): acc[nt][mt] +=
// the MMAs of x batch rows 16*mt.. (lane g loads x rows g + 8q into xv[q]) with weight rows 8*nt + g (wv[nt]),
// each lane's 16-byte loads split into two k-steps by the relabelling described in those headers.
template <int NT, int MT, int XG>
__device__ __forceinline__ void mma_chunk(float (&acc)[NT][MT][4], const uint4 (&xv)[XG], const uint4 (&wv)[NT]) {
#pragma unroll
  for (int s = 0; s < 2; ++s) {
#pragma unroll
    for (int mt = 0; mt < MT; ++mt) {
      const uint32_t a0 = u4_word(xv[2 * mt], 2 * s);
      const uint32_t a2 = u4_word(xv[2 * mt], 2 * s + 1);
      const uint32_t a1 = 2 * mt + 1 < XG ? u4_word(xv[2 * mt + 1 < XG ? 2 * mt + 1 : 0], 2 * s) : 0u;
      const uint32_t a3 = 2 * mt + 1 < XG ? u4_word(xv[2 * mt + 1 < XG ? 2 * mt + 1 : 0], 2 * s + 1) : 0u;
#pragma unroll
      for (int nt = 0; nt < NT; ++nt)
        mma_16816(acc[nt][mt], a0, a1, a2, a3, u4_word(wv[nt], 2 * s), u4_word(wv[nt], 2 * s + 1));
    }
  }
}

// A lane's accumulators into its warp's fp32 slab: D element e of tile (nt, mt) is batch row
// 16*mt + g + 8*(e >> 1) and entry 8*nt + 2t + (e & 1); batch rows >= BT (MMA padding) are dropped.
// at(entry, b) returns the slab's float&.
template <int BT, int NT, int MT, class At>
__device__ __forceinline__ void store_mma_tiles(const float (&acc)[NT][MT][4], At&& at) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int nt = 0; nt < NT; ++nt)
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int b = 16 * mt + g + 8 * (e >> 1);
        if (b < BT) at(8 * nt + 2 * t + (e & 1), b) = acc[nt][mt][e];
      }
}

// The down-projection layout (sparse_mlp_down, fused_mlp's fc2): a warp's acc[MT][8][4] over 64 output
// columns from cb holds column col + i of batch row b in acc[mt][i][e]. Calls f(mt, b, col, e) for each of the
// lane's (batch row, 8-column group) with b < B and col < d: b = 16mt + g + 8hb, col = cb + 16t + 8ch,
// e = 2hb + ch.
template <int MT, class F>
__device__ __forceinline__ void for_each_acc8(int B, int d, int cb, F&& f) {
  const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
  for (int mt = 0; mt < MT; ++mt)
#pragma unroll
    for (int hb = 0; hb < 2; ++hb)
#pragma unroll
      for (int ch = 0; ch < 2; ++ch) {
        const int b = 16 * mt + g + 8 * hb, col = cb + 16 * t + 8 * ch;
        if (b < B && col < d) f(mt, b, col, 2 * hb + ch);
      }
}

}  // namespace dv::kernels
