// fused_mlp_op.cuh: FusedMlpOp<BT>, the fused MLP block as a work-unit op (kernels/common/work_units.cuh);
// run() is one unit of the design in fused_mlp.cuh (slice of neurons: fc1 + ReLU + fc2, fixed-point
// reductions or ordered partials, last arrivers per 64-column chunk finalize). BT = batch tile (8, 16 or 32).
// MMA fragment conventions and the k relabelling are mma_m16n8k16.cuh's: fc1 is row_dot's (A = x rows,
// B = W1 rows, a lane's 16-byte load feeds two k-steps), fc2 is sparse_mlp_down's (A = h, B = four W2T rows
// transposed into k-pairs with byte permutes, a warp owns 64 output columns).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "kernels/common/fixed_sum.cuh"
#include "kernels/common/work_units.cuh"
#include "kernels/fused_mlp/fused_mlp.cuh"
#if defined(__CUDACC__)
#include "kernels/fused_mlp/fused_mlp_smem.cuh"
#include "kernels/fused_mlp/fused_mlp_sums.cuh"
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"
#endif

namespace dv::kernels {

#if defined(__CUDACC__)
__device__ __forceinline__ void prefetch_l1(const void* p) { asm volatile("prefetch.global.L1 [%0];" ::"l"(p)); }
#endif

// The struct is host-visible (fields, max_units(), kSmemBytes); its device body sits under __CUDACC__.
template <int BT>
struct FusedMlpOp {
  static constexpr int kSmemBytes = kUnitSmemMax;

  FusedMlpArgs a;
  int units = 1;         // the plan's U
  bool stage_x = false;  // the plan's: x copied to shared memory (always when LN is fused)

  __host__ __device__ int max_units() const { return units; }

#if defined(__CUDACC__)
  using L = FusedMlpLayout<BT>;
  // 32-column W1 chunks per fc1 pipeline step (x2: double-buffered): 8 loads of 16 bytes in flight per lane;
  // 4 at BT = 32, whose 4 x rows per chunk and 64 fc2 accumulators leave no registers for more.
  static constexpr int MT = L::kMTiles, XG = L::kXGroups, U = BT == 32 ? 2 : 4;
  static_assert(L::kXBytes >= kOrderedSumSmemBytes, "the ordered finalize stages its sums where x was");
  static_assert(L::kB1Off == L::kIdxOff + kFusedMlpSliceCap * 4 &&
                    kFusedMlpOrderedMaxD / kFusedMlpColChunk == 2 * kFusedMlpSliceCap,
                "the ordered finalize lists up to d / 64 chunks where idx and b1 were");

  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    int* idx_s = reinterpret_cast<int*>(smem + L::kIdxOff);
    float* b1_s = reinterpret_cast<float*>(smem + L::kB1Off);
    __half* h_s = reinterpret_cast<__half*>(smem + L::kHOff);
    float* partial = reinterpret_cast<float*>(smem + L::kPartialOff);
    float* red = reinterpret_cast<float*>(smem + L::kRedOff);
    float* mean = reinterpret_cast<float*>(smem + L::kStatOff);
    __half* x_s = reinterpret_cast<__half*>(smem + L::kXOff);
    const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;

    // 1. Independent of this step: the LN weights into L1.
    if (a.gamma != nullptr)
      for (int c = 8 * tid; c < a.d; c += 8 * kUnitThreads) {
        prefetch_l1(a.gamma + c);
        prefetch_l1(a.beta + c);
      }

    // 2. The selection: this unit's slice [n0, n0 + len) of idx, and b1 at those rows. The barrier first: in
    // the persistent kernel the CTA's previous unit may still read idx_s / h_s in its slower warps.
    __syncthreads();
    sync.indices();
    const int k = a.k_dev != nullptr ? min(max(__ldcg(a.k_dev), 0), a.max_k) : a.max_k;
    const int n0 = static_cast<int>(static_cast<long long>(unit) * k / units);
    const int len = static_cast<int>(static_cast<long long>(unit + 1) * k / units) - n0;
    for (int j = tid; j < len; j += kUnitThreads) {
      const int row = a.idx != nullptr ? __ldcg(a.idx + n0 + j) : n0 + j;
      idx_s[j] = row;
      b1_s[j] = a.b1 != nullptr ? __half2float(a.b1[row]) : 0.f;
    }
    __syncthreads();

    // fc1 layout: wn_count warps along the slice's 8-neuron tiles x wd_count along d (product 8). With more
    // than 8 tiles every warp owns whole tiles (rounds of 8 tiles, no cross-warp reduction); with fewer, the
    // warps sharing a tile sum their partial dot products in shared memory.
    const int ntiles = (len + 7) / 8;
    int wn_count = 1;
    while (wn_count < ntiles && wn_count < 8) wn_count *= 2;
    const int wd_count = 8 / wn_count;
    const int wn = warp % wn_count, wd = warp / wn_count;
    const int chunks = (a.d + 31) / 32;
    const int c_begin = wd * chunks / wd_count, c_end = (wd + 1) * chunks / wd_count;
    const int spr = (c_end - c_begin + U - 1) / U;  // pipeline steps per round
    const int rounds = wn < ntiles ? (ntiles - wn + wn_count - 1) / wn_count : 0;
    const int steps = rounds * spr;

    // W1 loads of pipeline step s: lane (g, t) reads 16 bytes of neuron 8*tile + g per 32-column chunk.
    auto w1_load = [&](int s, uint4(&w)[U]) {
      const int r = s / spr, c = c_begin + (s - r * spr) * U;
      const int j = 8 * (wn + r * wn_count) + g;
      const bool ok = j < len;
      const __half* wrow = a.w1 + static_cast<size_t>(ok ? idx_s[j] : 0) * a.d + 8 * t;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int col = (c + u) * 32;
        w[u] = ok && c + u < c_end && col + 8 * t < a.d ? ld_stream_u4(wrow + col) : zero_u4();
      }
    };
    uint4 w_next[U];
    if (steps > 0) w1_load(0, w_next);  // weights in flight before the wait

    // 3. The inputs: x, written by the previous op.
    sync.inputs();
    if (stage_x) fused_mlp_stage_x(a, x_s, red, mean, mean + BT);
    const __half* xa = stage_x ? x_s : a.x;  // shared, or global through the Sync's load policy
    const size_t xld = stage_x ? a.d + kFusedMlpXPad : a.d;
    const __half* xrow[XG];
    bool xok[XG];
#pragma unroll
    for (int q = 0; q < XG; ++q) {
      xok[q] = g + 8 * q < a.B;
      xrow[q] = xa + (xok[q] ? g + 8 * q : 0) * xld + 8 * t;
    }

    // fc1: acc[mt][e] = batch row 16mt + g + 8(e >> 1), neuron 2t + (e & 1) of the tile.
    float acc[MT][4];
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int e = 0; e < 4; ++e) acc[mt][e] = 0.f;
    for (int s = 0; s < steps; ++s) {
      uint4 w[U];
#pragma unroll
      for (int u = 0; u < U; ++u) w[u] = w_next[u];
      if (s + 1 < steps) w1_load(s + 1, w_next);
      const int r = s / spr, c = c_begin + (s - r * spr) * U;
#pragma unroll
      for (int u = 0; u < U; ++u) {
        const int col = (c + u) * 32;
        const bool cok = c + u < c_end && col + 8 * t < a.d;
        uint4 xv[XG];
#pragma unroll
        for (int q = 0; q < XG; ++q)
          xv[q] = !(cok && xok[q]) ? zero_u4()
                  : stage_x        ? *reinterpret_cast<const uint4*>(xrow[q] + col)
                                   : Sync::load(reinterpret_cast<const uint4*>(xrow[q] + col));
#pragma unroll
        for (int k2 = 0; k2 < 2; ++k2)
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) {
            const uint32_t a1 = 2 * mt + 1 < XG ? u4_word(xv[2 * mt + 1 < XG ? 2 * mt + 1 : 0], 2 * k2) : 0u;
            const uint32_t a3 = 2 * mt + 1 < XG ? u4_word(xv[2 * mt + 1 < XG ? 2 * mt + 1 : 0], 2 * k2 + 1) : 0u;
            mma_16816(acc[mt], u4_word(xv[2 * mt], 2 * k2), a1, u4_word(xv[2 * mt], 2 * k2 + 1), a3,
                      u4_word(w[u], 2 * k2), u4_word(w[u], 2 * k2 + 1));
          }
      }
      if (wd_count == 1 && s - r * spr == spr - 1) {  // the warp's tile is complete: bias, ReLU, into h
        store_h(h_s, b1_s, acc, 8 * (wn + r * wn_count), len);
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc[mt][e] = 0.f;
      }
    }

    // fc2 walk: warp w takes the 64-column chunks w, w + 8, ... rotated by the unit, and for each the slice's
    // rows in k-steps of 16. Its first W2T loads go out now: they do not depend on h.
    const int ksteps = (len + 15) / 16;
    const int ccount = (a.d + kFusedMlpColChunk - 1) / kFusedMlpColChunk;
    const int rot = unit % ccount;
    const int my_cc = warp < ccount ? (ccount - warp + 7) / 8 : 0;
    const int iters = my_cc * ksteps;
    auto chunk_of = [&](int i) {
      const int j = warp + 8 * i + rot;
      return j >= ccount ? j - ccount : j;
    };
    // Lane (g, t) reads columns 8g..8g+7 of slice rows 16*st + 4t + r, r < 4.
    auto w2_load = [&](int it, uint4(&w)[4]) {
      const int i = it / ksteps, st = it - i * ksteps;
      const int col = chunk_of(i) * kFusedMlpColChunk + 8 * g;
#pragma unroll
      for (int r = 0; r < 4; ++r) {
        const int q = 16 * st + 4 * t + r;
        w[r] = q < len && col < a.d ? ld_stream_u4(a.w2t + static_cast<size_t>(idx_s[q]) * a.d + col) : zero_u4();
      }
    };
    uint4 w2_next[4];
    if (iters > 0) w2_load(0, w2_next);

    if (wd_count > 1 && wn < ntiles) {
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int b = 16 * mt + g + 8 * (e >> 1);
          if (b < BT) partial[(warp * 8 + 2 * t + (e & 1)) * (BT + 1) + b] = acc[mt][e];
        }
    }
    __syncthreads();
    if (wd_count > 1) {
      for (int e = tid; e < ntiles * 8 * BT; e += kUnitThreads) {
        const int b = e % BT, n = e / BT, tile = n / 8, r = n % 8;
        float v = 0.f;
        for (int p = 0; p < wd_count; ++p) v += partial[((p * wn_count + tile) * 8 + r) * (BT + 1) + b];
        h_s[b * L::kHLd + n] = __float2half_rn(b < a.B ? h_value(v, b1_s, n, len) : 0.f);
      }
    }
    // fc2 reads whole k-steps of 16: neurons past the last tile are zero.
    for (int e = tid; e < (16 * ksteps - 8 * ntiles) * BT; e += kUnitThreads)
      h_s[(e % BT) * L::kHLd + 8 * ntiles + e / BT] = __float2half_rn(0.f);
    // Ordered scheme: this unit's rows of the partials area, parked where the LN statistics were (8-byte
    // aligned) and read back (volatile: not hoisted) at each chunk's end; a pointer kept in registers through
    // the fc2 loop made ptxas spill at BT = 32.
    float* volatile* rows_s = reinterpret_cast<float* volatile*>(mean);
    if (a.ordered_sums && tid == 0) *rows_s = fused_mlp_partials(a) + static_cast<size_t>(unit) * a.B * a.d;
    __syncthreads();

    // fc2: acc2[mt][i][2hb + ch] = column cb + 16t + 8ch + i of batch row 16mt + g + 8hb. kScheme: 0 fixed,
    // 1 ordered, 2 either (a run-time branch at each chunk's end). BT = 32 compiles one walk per scheme: one
    // loop holding both kinds of chunk writes spilled there; the smaller tiles (and the persistent kernel's
    // BT = 8, whose other ops ptxas allocated worse beside two walks) keep one loop.
    FixedSum* ws = static_cast<FixedSum*>(a.workspace);
    auto fc2_walk = [&](auto scheme) {
      constexpr int kScheme = decltype(scheme)::value;
      const bool ordered = kScheme == 2 ? a.ordered_sums : kScheme == 1;
      float acc2[MT][8][4];
#pragma unroll
      for (int mt = 0; mt < MT; ++mt)
#pragma unroll
        for (int i = 0; i < 8; ++i)
#pragma unroll
          for (int e = 0; e < 4; ++e) acc2[mt][i][e] = 0.f;
      for (int it = 0; it < iters; ++it) {
        uint4 w[4];
#pragma unroll
        for (int r = 0; r < 4; ++r) w[r] = w2_next[r];
        if (it + 1 < iters) w2_load(it + 1, w2_next);
        const int i = it / ksteps, st = it - i * ksteps;
        // A: batch rows g, g + 8 of each 16-row tile; logical k {2t, 2t+1, 2t+8, 2t+9} = slice rows 4t..4t+3.
        uint32_t av[MT][4];
#pragma unroll
        for (int mt = 0; mt < MT; ++mt)
#pragma unroll
          for (int hb = 0; hb < 2; ++hb) {
            const int b = 16 * mt + g + 8 * hb;
            const uint2 hv = b < BT ? *reinterpret_cast<const uint2*>(h_s + b * L::kHLd + 16 * st + 4 * t)
                                    : make_uint2(0u, 0u);
            av[mt][hb] = hv.x;
            av[mt][2 + hb] = hv.y;
          }
#pragma unroll
        for (int i8 = 0; i8 < 8; ++i8) {
          const uint32_t b0 = pack_column(w[0], w[1], i8), b1 = pack_column(w[2], w[3], i8);
#pragma unroll
          for (int mt = 0; mt < MT; ++mt) mma_16816(acc2[mt][i8], av[mt][0], av[mt][1], av[mt][2], av[mt][3], b0, b1);
        }
        if (st == ksteps - 1) {
          const int cb = chunk_of(i) * kFusedMlpColChunk;
          if (ordered) {
            float* rows = *rows_s;
            for_each_acc8<MT>(a.B, a.d, cb, [&](int mt, int b, int col, int e) {
              store_partials8(rows + static_cast<size_t>(b) * a.d + col, acc2[mt], e);
            });
          } else {
            for_each_acc8<MT>(a.B, a.d, cb, [&](int mt, int b, int col, int e) {
              FixedSum* dst = ws + static_cast<size_t>(b) * a.d + col;
              red_add_fixed_v4(dst, acc2[mt][0][e], acc2[mt][1][e], acc2[mt][2][e], acc2[mt][3][e]);
              red_add_fixed_v4(dst + 4, acc2[mt][4][e], acc2[mt][5][e], acc2[mt][6][e], acc2[mt][7][e]);
            });
          }
#pragma unroll
          for (int mt = 0; mt < MT; ++mt)
#pragma unroll
            for (int i8 = 0; i8 < 8; ++i8)
#pragma unroll
              for (int e = 0; e < 4; ++e) acc2[mt][i8][e] = 0.f;
        }
      }
    };
    if constexpr (BT == 32) {
      if (a.ordered_sums) {
        fc2_walk(std::integral_constant<int, 1>{});
      } else {
        fc2_walk(std::integral_constant<int, 0>{});
      }
    } else {
      fc2_walk(std::integral_constant<int, 2>{});
    }

    // Arrivals: every unit counts every chunk (empty slices too), after its reductions (or partials) are
    // visible; the warp that completes a chunk's count finalizes that chunk (threadFenceReduction, per warp),
    // or, ordered, hands it to its whole CTA (a chunk's ordered sum reads U*B*256 bytes: too much for a warp).
    __threadfence();
    int* counters = reinterpret_cast<int*>(ws + static_cast<size_t>(kSplitSumMaxRows) * a.d);
    if (a.ordered_sums) {
      // The chunks this unit completes, listed where idx and b1 were, then finalized by the whole CTA.
      int* won = idx_s;
      int* won_count = reinterpret_cast<int*>(red);
      __syncthreads();  // every warp's partials are stored and fenced, and its fc2 walk (idx_s) is over
      if (tid == 0) *won_count = 0;
      __syncthreads();
      for (int i = lane; i < my_cc; i += 32) {
        const int cc = chunk_of(i);
        if (atomicAdd(counters + cc, 1) == units - 1) won[atomicAdd(won_count, 1)] = cc;
      }
      __syncthreads();
      const int n_won = *won_count;
      if (n_won == 0) return;
      __threadfence();
      for (int w = 0; w < n_won; ++w) {
        fused_mlp_finalize_ordered(a, units, won[w] * kFusedMlpColChunk, k, reinterpret_cast<float*>(x_s));
        if (tid == 0) counters[won[w]] = 0;
      }
      return;
    }
    __syncwarp();
    for (int base = 0; base < my_cc; base += 32) {
      const int i = base + lane;
      const int cc = i < my_cc ? chunk_of(i) : 0;
      const bool last = i < my_cc && atomicAdd(counters + cc, 1) == units - 1;
      unsigned mask = __ballot_sync(0xffffffffu, last);
      if (mask != 0) __threadfence();
      while (mask != 0) {
        const int src = __ffs(mask) - 1;
        mask &= mask - 1;
        const int c_last = __shfl_sync(0xffffffffu, cc, src);
        finalize_chunk(ws, c_last * kFusedMlpColChunk, lane);
        if (lane == 0) counters[c_last] = 0;
      }
    }
  }

 private:
  // h of neuron n from its fc1 sum: 0 past the slice, so fc2's MMA sees finite zeros; ReLU keeps NaN (torch.relu).
  __device__ static float h_value(float dot, const float* b1_s, int n, int len) {
    if (n >= len) return 0.f;
    const float v = dot + b1_s[n];
    return v < 0.f ? 0.f : v;
  }

  // One warp's complete tile (8 neurons from n_base) of fc1 sums into h, when no other warp shares it.
  __device__ void store_h(__half* h_s, const float* b1_s, const float (&acc)[MT][4], int n_base, int len) const {
    const int lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int mt = 0; mt < MT; ++mt)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int b = 16 * mt + g + 8 * (e >> 1), n = n_base + 2 * t + (e & 1);
        if (b < BT) h_s[b * L::kHLd + n] = __float2half_rn(b < a.B ? h_value(acc[mt][e], b1_s, n, len) : 0.f);
      }
  }

  // out[b, c0..c0+63] = resid + b2 + the chunk's fp32 sums, one fp16 rounding; the sums are zeroed for the
  // next launch. Called by a whole warp.
  __device__ void finalize_chunk(FixedSum* ws, int c0, int lane) const {
    for (int e = lane; e < a.B * (kFusedMlpColChunk / 8); e += 32) {
      const int b = e / (kFusedMlpColChunk / 8), col = c0 + 8 * (e % (kFusedMlpColChunk / 8));
      if (col >= a.d) continue;
      float v[8];
      take_fixed8(ws + static_cast<size_t>(b) * a.d + col, v);
      fused_mlp_out8(a, b, col, v);
    }
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
