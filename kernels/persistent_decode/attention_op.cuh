// attention_op.cuh: the persistent decode kernel's single-query attention over the KV cache for a list of
// heads (all heads on the dense path), split over the sequence:
//   out[b, h] = softmax(q[b, h] . K[b, h, 0..len)^T / sqrt(hd)) V[b, h, 0..len),  len = *pos + 1,
//   h = heads[slot] for slot < min(*count, max_heads); fp32 scores and sums, fp16 in and out.
// Unit u = ((b * max_heads + slot) * splits + split). At run time a head's len keys are cut into
// n = min(splits, ceil(len / 64)) chunks (host: ceil(max_len / splits) <= 1024, the score buffer); a unit
// writes its chunk's (unnormalised output, max, sum) to `partials`, and the last of a head's n units (an
// arrival ticket it resets) merges them; with n == 1 the unit writes out directly. No unit waits for another.
// Access pattern: groups of tpk lanes (the power of two >= hd / 8) own one key at a time, 16 bytes a lane,
// four keys a group in flight; K then V of [s0, s1) read once through L2 (ld.global.cg: this step's QKV op
// wrote the newest rows). Bytes: 2 * len * hd * 2 per (b, head) + q, out and (hd + 2) floats per split.
// MARKED FOR REPLACEMENT by the attention helper's op (head gather and catch-up fused in).
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/persistent_decode/op_common.h"

namespace dv::kernels {

constexpr int kAttnMinChunk = 64;
constexpr int kAttnMaxChunk = 1024;
constexpr int kAttnUnroll = 4;

struct AttentionOp {
  // Scores [1024] + per-group output partials (<= 8 KB for every head_dim) + block reduction scratch.
  static constexpr int kSmemBytes = kAttnMaxChunk * 4 + 8192 + 64;

  __half* out = nullptr;            // [B, H, hd]
  float* partials = nullptr;        // [B * max_heads * splits * (hd + 2)]
  int* tickets = nullptr;           // [B * max_heads], zero between launches
  const __half* q = nullptr;        // [B, H, hd] unscaled
  const __half* k_cache = nullptr;  // [B, H, max_len, hd]
  const __half* v_cache = nullptr;
  const int* heads = nullptr;       // [max_heads]
  const int* count = nullptr;       // device scalar
  const int* pos = nullptr;         // device scalar
  int B = 0, num_heads = 0, head_dim = 0, max_len = 0, max_heads = 0, splits = 1;

  DV_OP_HD int max_units() const { return B * max_heads * splits; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    switch (head_dim) {
      case 16: run_hd<16>(unit, smem, sync); break;
      case 32: run_hd<32>(unit, smem, sync); break;
      case 64: run_hd<64>(unit, smem, sync); break;
      case 80: run_hd<80>(unit, smem, sync); break;
      default: run_hd<128>(unit, smem, sync); break;
    }
  }

 private:
  template <bool kMax>
  __device__ static float block_reduce(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) {
      const float w = __shfl_xor_sync(0xFFFFFFFFu, v, o);
      v = kMax ? fmaxf(v, w) : v + w;
    }
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    v = scratch[0];
    for (int w = 1; w < kOpThreads / 32; ++w) v = kMax ? fmaxf(v, scratch[w]) : v + scratch[w];
    __syncthreads();
    return v;
  }

  __device__ static void widen8(const uint4& u, float (&f)[8]) {
    const __half2* h2 = reinterpret_cast<const __half2*>(&u);
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const float2 p = __half22float2(h2[j]);
      f[2 * j] = p.x;
      f[2 * j + 1] = p.y;
    }
  }

  template <int HD, class Sync>
  __device__ void run_hd(int unit, char* smem, const Sync& sync) const {
    constexpr int kVecs = HD / 8;
    constexpr int kTpk = kVecs <= 2 ? 2 : kVecs <= 4 ? 4 : kVecs <= 8 ? 8 : 16;
    constexpr int kGroups = kOpThreads / kTpk;
    constexpr int kStride = HD + 2;
    static_assert(kGroups * HD * 4 <= 8192, "output partials exceed their shared memory");
    float* scores = reinterpret_cast<float*>(smem);
    float* red_o = scores + kAttnMaxChunk;   // [kGroups][HD]
    float* scratch = red_o + 2048;           // [8] + the merge flag
    int* is_last = reinterpret_cast<int*>(scratch + 8);

    const int split = unit % splits, bs = unit / splits, slot = bs % max_heads, b = bs / max_heads;
    const int p = *pos;
    if (p < 0 || p >= max_len) return;
    sync.indices();
    if (slot >= min(max(__ldcg(count), 0), max_heads)) return;
    const int h = __ldcg(heads + slot);
    if (h < 0 || h >= num_heads) return;
    const int len = p + 1;
    const int nsplit = min(splits, (len + kAttnMinChunk - 1) / kAttnMinChunk);
    if (split >= nsplit) return;
    const int chunk = (len + nsplit - 1) / nsplit;
    const int s0 = split * chunk, s1 = min(len, s0 + chunk);

    const size_t bh = static_cast<size_t>(b) * num_heads + h;
    const uint4* kb = reinterpret_cast<const uint4*>(k_cache + bh * max_len * HD);
    const uint4* vb = reinterpret_cast<const uint4*>(v_cache + bh * max_len * HD);
    const int grp = threadIdx.x / kTpk, sub = threadIdx.x % kTpk;
    const bool lane_on = sub < kVecs;
    sync.inputs();

    float qf[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    if (lane_on) widen8(__ldcg(reinterpret_cast<const uint4*>(q + bh * HD) + sub), qf);
    const float scale = rsqrtf(static_cast<float>(HD));
#pragma unroll
    for (int j = 0; j < 8; ++j) qf[j] *= scale;

    float mloc = -INFINITY;
    for (int base = s0; base < s1; base += kGroups * kAttnUnroll) {
      uint4 kv[kAttnUnroll];
#pragma unroll
      for (int u = 0; u < kAttnUnroll; ++u) {
        const int i = base + u * kGroups + grp;
        kv[u] = lane_on && i < s1 ? __ldcg(kb + static_cast<size_t>(i) * kVecs + sub) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < kAttnUnroll; ++u) {
        float kf[8];
        widen8(kv[u], kf);
        float dot = 0.f;
#pragma unroll
        for (int j = 0; j < 8; ++j) dot = fmaf(qf[j], kf[j], dot);
#pragma unroll
        for (int o = 1; o < kTpk; o <<= 1) dot += __shfl_xor_sync(0xFFFFFFFFu, dot, o);
        const int i = base + u * kGroups + grp;
        if (i < s1) {
          if (sub == 0) scores[i - s0] = dot;
          mloc = fmaxf(mloc, dot);
        }
      }
    }
    const float m = block_reduce<true>(mloc, scratch);  // its barrier publishes scores
    float lsum = 0.f;
    for (int i = threadIdx.x; i < s1 - s0; i += kOpThreads) {
      const float e = __expf(scores[i] - m);
      scores[i] = e;
      lsum += e;
    }
    const float l = block_reduce<false>(lsum, scratch);

    float o[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    for (int base = s0; base < s1; base += kGroups * kAttnUnroll) {
      uint4 vv[kAttnUnroll];
#pragma unroll
      for (int u = 0; u < kAttnUnroll; ++u) {
        const int i = base + u * kGroups + grp;
        vv[u] = lane_on && i < s1 ? __ldcg(vb + static_cast<size_t>(i) * kVecs + sub) : make_uint4(0, 0, 0, 0);
      }
#pragma unroll
      for (int u = 0; u < kAttnUnroll; ++u) {
        const int i = base + u * kGroups + grp;
        const float pr = i < s1 ? scores[i - s0] : 0.f;
        float vf[8];
        widen8(vv[u], vf);
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
      for (int gi = 0; gi < kGroups; ++gi) acc += red_o[gi * HD + threadIdx.x];

    if (nsplit == 1) {
      if (threadIdx.x < HD) out[bh * HD + threadIdx.x] = __float2half(acc / l);
      return;
    }
    const size_t head_slot = static_cast<size_t>(b) * max_heads + slot;
    float* parts = partials + head_slot * splits * kStride;
    float* mine = parts + static_cast<size_t>(split) * kStride;
    if (threadIdx.x < HD) mine[threadIdx.x] = acc;
    if (threadIdx.x == 0) {
      mine[HD] = m;
      mine[HD + 1] = l;
    }
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) *is_last = atomicAdd(tickets + head_slot, 1) == nsplit - 1;
    __syncthreads();
    if (*is_last == 0) return;
    __threadfence();
    if (threadIdx.x < HD) {
      float mmax = -INFINITY;
      for (int s = 0; s < nsplit; ++s) mmax = fmaxf(mmax, __ldcg(parts + s * kStride + HD));
      float num = 0.f, den = 0.f;
      for (int s = 0; s < nsplit; ++s) {
        const float* ps = parts + s * kStride;
        const float w = __expf(__ldcg(ps + HD) - mmax);
        num += w * __ldcg(ps + threadIdx.x);
        den += w * __ldcg(ps + HD + 1);
      }
      out[bh * HD + threadIdx.x] = __float2half(num / den);
    }
    if (threadIdx.x == 0) tickets[head_slot] = 0;
  }
#endif  // __CUDACC__
};

// Host plan: splits so that about `target_units` units exist, no chunk above 1024 keys at max_len and none
// under 64 keys.
inline int attention_splits(int B, int max_heads, int max_len, int target_units) {
  const int per_split = B * (max_heads > 0 ? max_heads : 1);
  int s = (target_units + per_split - 1) / per_split;
  const int by_len = (max_len + kAttnMinChunk - 1) / kAttnMinChunk;
  s = s < by_len ? s : by_len;
  const int min_s = (max_len + kAttnMaxChunk - 1) / kAttnMaxChunk;
  s = s > min_s ? s : min_s;
  return s < 1 ? 1 : s;
}

}  // namespace dv::kernels
