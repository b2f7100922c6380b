// decode_attention_op.cuh: decode_attention (contract in decode_attention.cuh) as a work-unit op
// (kernels/common/work_units.cuh): the graph path launches it one CTA per unit (decode_attention.cu), the
// persistent decode kernel runs the same run() from its instruction lists.
// Unit u = (b * max_heads + slot) * max_splits + split: a head's splits are neighbours, so they run together
// and its last arriver merges soon after the first. In a unit, groups of kTpk lanes (the power of two >=
// hd / 8: 2 for head_dim 16, 4 for 32, 8 for 64, 16 for 80 and 128) own one key at a time, each lane 8 of its
// dims (one 16-byte load; for 80 six lanes of the 16 idle); the dot product is finished with xor-shuffles
// inside the group. kUnroll keys per group are loaded before the first use (256 keys of 2 * hd bytes in flight
// per unit at head_dim 128). q, K and V are this step's inputs (the QKV op wrote q and the newest rows) and
// are read through the Sync's load policy; the split partials through L2 (other units wrote them).
// The struct is host-visible (fields, max_units(), kSmemBytes); its device body sits under __CUDACC__.
#pragma once

#include <cuda_fp16.h>

#include <cstddef>
#include <cstdint>

#include "kernels/common/work_units.cuh"
#include "kernels/decode_attention/decode_attention.cuh"
#if defined(__CUDACC__)
#include "kernels/common/half8.cuh"
#endif

namespace dv::kernels {

struct DecodeAttentionOp {
  static constexpr int kUnroll = 8;
  static constexpr int kRedFloats = 2048;  // [kGroups][hd] output partials: kUnitThreads / kTpk * hd <= 2048
  // Scores of one chunk, the groups' output partials, the block reduction's scratch and the merge flag.
  static constexpr int kSmemBytes = kDecodeAttentionMaxChunk * 4 + kRedFloats * 4 + 64;

  DecodeAttentionArgs a;

  __host__ __device__ int max_units() const { return a.batch * a.max_heads * a.max_splits; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    switch (a.head_dim) {
      case 16: run_hd<16>(unit, smem, sync); break;
      case 32: run_hd<32>(unit, smem, sync); break;
      case 64: run_hd<64>(unit, smem, sync); break;
      case 80: run_hd<80>(unit, smem, sync); break;
      default: run_hd<128>(unit, smem, sync); break;
    }
  }

 private:
  // Unit-wide reduction (max or sum) of one float per thread; every thread gets the result.
  template <bool kMax>
  __device__ static float block_reduce(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) {
      const float w = __shfl_xor_sync(0xffffffffu, v, o);
      v = kMax ? fmaxf(v, w) : v + w;
    }
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    v = scratch[0];
#pragma unroll
    for (int w = 1; w < kUnitThreads / 32; ++w) v = kMax ? fmaxf(v, scratch[w]) : v + scratch[w];
    __syncthreads();  // scratch is reused by the next reduction
    return v;
  }

  template <int HD, class Sync>
  __device__ void run_hd(int unit, char* smem, const Sync& sync) const {
    constexpr int kVecs = HD / 8;
    constexpr int kTpk = kVecs <= 2 ? 2 : kVecs <= 4 ? 4 : kVecs <= 8 ? 8 : 16;
    constexpr int kGroups = kUnitThreads / kTpk;
    constexpr int kStride = HD + 2;  // floats per split partial: unnormalised output, max, sum
    static_assert(kGroups * HD <= kRedFloats, "output partials exceed their shared memory");
    float* scores = reinterpret_cast<float*>(smem);
    float* red_o = scores + kDecodeAttentionMaxChunk;  // [kGroups][HD]
    float* scratch = red_o + kRedFloats;              // [8], then the merge flag
    int* is_last = reinterpret_cast<int*>(scratch + 8);

    const int pos = *a.pos;  // written by the previous step
    if (pos < 0 || pos >= a.max_len) return;
    const int split = unit % a.max_splits, bs = unit / a.max_splits;
    const int slot = bs % a.max_heads, b = bs / a.max_heads;
    sync.indices();
    if (slot >= min(Sync::load(a.num_selected), a.max_heads)) return;
    const int h = Sync::load(a.heads + slot);
    if (h < 0 || h >= a.num_heads) return;
    const int len = pos + 1;
    const int nsplit = min(a.max_splits, (len + kDecodeAttentionMinChunk - 1) / kDecodeAttentionMinChunk);
    if (split >= nsplit) return;
    const int chunk = (len + nsplit - 1) / nsplit;
    const int s0 = split * chunk, s1 = min(len, s0 + chunk);  // s0 >= s1: an empty split

    const size_t bh = static_cast<size_t>(b) * a.num_heads + h;
    const uint4* kb = reinterpret_cast<const uint4*>(a.k_cache + bh * a.max_len * HD);
    const uint4* vb = reinterpret_cast<const uint4*>(a.v_cache + bh * a.max_len * HD);
    const int grp = threadIdx.x / kTpk, sub = threadIdx.x % kTpk;
    const bool lane_on = sub < kVecs;  // false only for the idle lanes of head_dim 80
    sync.inputs();

    float qf[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    if (lane_on) half8_to_float(Sync::load(reinterpret_cast<const uint4*>(a.q + bh * HD) + sub), qf);
    const float scale = rsqrtf(static_cast<float>(HD));
#pragma unroll
    for (int j = 0; j < 8; ++j) qf[j] *= scale;

    // Scores. `base` is unit-uniform, so every lane reaches the shuffles.
    float mloc = -INFINITY;
    for (int base = s0; base < s1; base += kGroups * kUnroll) {
      uint4 kv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = base + u * kGroups + grp;
        kv[u] = lane_on && i < s1 ? Sync::load(kb + static_cast<size_t>(i) * kVecs + sub) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        float kf[8];
        half8_to_float(kv[u], kf);
        float dot = 0.f;
#pragma unroll
        for (int j = 0; j < 8; ++j) dot = fmaf(qf[j], kf[j], dot);
#pragma unroll
        for (int o = 1; o < kTpk; o <<= 1) dot += __shfl_xor_sync(0xffffffffu, dot, o);
        const int i = base + u * kGroups + grp;
        if (i < s1) {
          if (sub == 0) scores[i - s0] = dot;
          mloc = fmaxf(mloc, dot);
        }
      }
    }
    const float m = block_reduce<true>(mloc, scratch);  // its barrier also publishes `scores`
    float lsum = 0.f;
    for (int i = threadIdx.x; i < s1 - s0; i += kUnitThreads) {
      const float e = __expf(scores[i] - m);
      scores[i] = e;
      lsum += e;
    }
    const float l = block_reduce<false>(lsum, scratch);

    float o[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    for (int base = s0; base < s1; base += kGroups * kUnroll) {
      uint4 vv[kUnroll];
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = base + u * kGroups + grp;
        vv[u] = lane_on && i < s1 ? Sync::load(vb + static_cast<size_t>(i) * kVecs + sub) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < kUnroll; ++u) {
        const int i = base + u * kGroups + grp;
        const float pr = i < s1 ? scores[i - s0] : 0.f;
        float vf[8];
        half8_to_float(vv[u], vf);
#pragma unroll
        for (int j = 0; j < 8; ++j) o[j] = fmaf(pr, vf[j], o[j]);
      }
    }
    if (lane_on) {
#pragma unroll
      for (int j = 0; j < 8; ++j) red_o[grp * HD + sub * 8 + j] = o[j];
    }
    __syncthreads();
    float acc = 0.f;
    if (threadIdx.x < HD)
      for (int g = 0; g < kGroups; ++g) acc += red_o[g * HD + threadIdx.x];

    // The head's output goes to its slot's columns of the compact [B, ld_out] input of the out-projection.
    __half* out = a.out + static_cast<size_t>(b) * a.ld_out + static_cast<size_t>(slot) * HD;
    if (nsplit == 1) {
      if (threadIdx.x < HD) out[threadIdx.x] = __float2half(acc / l);
      return;
    }
    const size_t head_slot = static_cast<size_t>(b) * a.max_heads + slot;
    float* parts = a.partials + head_slot * a.max_splits * kStride;
    float* mine = parts + static_cast<size_t>(split) * kStride;
    if (threadIdx.x < HD) mine[threadIdx.x] = acc;
    if (threadIdx.x == 0) {
      mine[HD] = m;
      mine[HD + 1] = l;
    }
    // Last-unit merge (threadFenceReduction): publish the partial, then take a ticket.
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) *is_last = atomicAdd(a.tickets + head_slot, 1) == nsplit - 1;
    __syncthreads();
    if (*is_last == 0) return;
    __threadfence();
    if (threadIdx.x < HD) {
      float mmax = -INFINITY;
      for (int s = 0; s < nsplit; ++s) mmax = fmaxf(mmax, __ldcg(parts + s * kStride + HD));
      float num = 0.f, den = 0.f;
      for (int s = 0; s < nsplit; ++s) {
        const float* ps = parts + s * kStride;
        const float w = __expf(__ldcg(ps + HD) - mmax);  // 0 for an empty split (max -inf)
        num += w * __ldcg(ps + threadIdx.x);
        den += w * __ldcg(ps + HD + 1);
      }
      out[threadIdx.x] = __float2half(num / den);
    }
    if (threadIdx.x == 0) a.tickets[head_slot] = 0;
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
