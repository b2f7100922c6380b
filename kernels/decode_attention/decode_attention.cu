// decode_attention.cu: split-sequence single-query attention for the selected heads (see the .cuh).
// One block (128 threads) per (split, head slot, batch row). A group of kTpk threads (2 for head_dim 16, 4 for
// 32, 8 for 64, 16 for 80 and 128) owns one key at a time, each thread 8 of its dims (one 16-byte load; for 80 six lanes of
// the 16 idle); the dot product is finished with xor-shuffles inside the group. Eight keys per group are
// loaded before the first use.
#include "kernels/decode_attention/decode_attention.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/pdl.cuh"

namespace dv {
namespace {

constexpr int kThreads = 128;
constexpr int kUnroll = 8;
constexpr int kMinChunk = kDecodeAttentionMinChunk;
constexpr int kMaxChunk = kDecodeAttentionMaxChunk;

// Floats per split partial: unnormalised output, max, sum.
constexpr int partial_stride(int head_dim) { return head_dim + 2; }

union Vec8 {
  uint4 u;
  __half2 h2[4];
};

__device__ __forceinline__ void to_float8(const uint4& u, float (&f)[8]) {
  Vec8 v;
  v.u = u;
#pragma unroll
  for (int j = 0; j < 4; ++j) {
    const float2 p = __half22float2(v.h2[j]);
    f[2 * j] = p.x;
    f[2 * j + 1] = p.y;
  }
}

// Block-wide reduction (max or sum) of one float per thread; every thread gets the result.
template <bool kMax>
__device__ __forceinline__ float block_reduce(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) {
    const float w = __shfl_xor_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, w) : v + w;
  }
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = scratch[0];
#pragma unroll
  for (int w = 1; w < kThreads / 32; ++w) v = kMax ? fmaxf(v, scratch[w]) : v + scratch[w];
  __syncthreads();  // scratch is reused by the next reduction
  return v;
}

template <int kHeadDim>
__global__ void __launch_bounds__(kThreads) decode_attention_kernel(DecodeAttentionArgs a) {
  kernels::pdl_begin();
  constexpr int kVecs = kHeadDim / 8;                  // 16-byte vectors per key
  // Threads per key: the power of two >= kVecs (2 for head_dim 16, 4 for 32, 8 for 64, 16 for 80 and 128).
  constexpr int kTpk = kVecs <= 2 ? 2 : kVecs <= 4 ? 4 : kVecs <= 8 ? 8 : 16;
  constexpr int kGroups = kThreads / kTpk;             // keys per block per unroll step
  constexpr int kPartialStride = partial_stride(kHeadDim);
  static_assert(kHeadDim % 8 == 0 && kVecs <= 16 && kHeadDim <= kThreads, "unsupported head_dim");
  __shared__ float scores[kMaxChunk];
  __shared__ float red_o[kGroups][kHeadDim];
  __shared__ float scratch[kThreads / 32];
  __shared__ int is_last;

  const int pos = *a.pos;
  if (pos < 0 || pos >= a.max_len) return;
  const int split = blockIdx.x, slot = blockIdx.y, b = blockIdx.z;
  if (slot >= min(*a.num_selected, a.max_heads)) return;
  const int h = a.heads[slot];
  if (h < 0 || h >= a.num_heads) return;
  const int len = pos + 1;
  const int nsplit = min(a.max_splits, (len + kMinChunk - 1) / kMinChunk);
  if (split >= nsplit) return;
  const int chunk = (len + nsplit - 1) / nsplit;
  const int s0 = split * chunk, s1 = min(len, s0 + chunk);  // s0 >= s1: an empty split

  const size_t bh = static_cast<size_t>(b) * a.num_heads + h;
  const __half* kbase = a.k_cache + bh * a.max_len * kHeadDim;
  const __half* vbase = a.v_cache + bh * a.max_len * kHeadDim;
  const int grp = threadIdx.x / kTpk, sub = threadIdx.x % kTpk;
  const bool lane_on = sub < kVecs;  // false only for the idle lanes of head_dim 80

  float qf[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  if (lane_on) to_float8(reinterpret_cast<const uint4*>(a.q + bh * kHeadDim)[sub], qf);
  const float scale = rsqrtf(static_cast<float>(kHeadDim));
#pragma unroll
  for (int j = 0; j < 8; ++j) qf[j] *= scale;

  // Scores. `base` is block-uniform, so every lane reaches the shuffles.
  float mloc = -INFINITY;
  for (int base = s0; base < s1; base += kGroups * kUnroll) {
    uint4 kv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * kGroups + grp;
      kv[u] = lane_on && i < s1 ? reinterpret_cast<const uint4*>(kbase + static_cast<size_t>(i) * kHeadDim)[sub]
                                : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      float kf[8];
      to_float8(kv[u], kf);
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
  for (int i = threadIdx.x; i < s1 - s0; i += kThreads) {
    const float p = __expf(scores[i] - m);
    scores[i] = p;
    lsum += p;
  }
  const float l = block_reduce<false>(lsum, scratch);

  float o[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
  for (int base = s0; base < s1; base += kGroups * kUnroll) {
    uint4 vv[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * kGroups + grp;
      vv[u] = lane_on && i < s1 ? reinterpret_cast<const uint4*>(vbase + static_cast<size_t>(i) * kHeadDim)[sub]
                                : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int i = base + u * kGroups + grp;
      const float p = i < s1 ? scores[i - s0] : 0.f;
      float vf[8];
      to_float8(vv[u], vf);
#pragma unroll
      for (int j = 0; j < 8; ++j) o[j] = fmaf(p, vf[j], o[j]);
    }
  }
  if (lane_on) {
#pragma unroll
    for (int j = 0; j < 8; ++j) red_o[grp][sub * 8 + j] = o[j];
  }
  __syncthreads();
  float acc = 0.f;
  if (threadIdx.x < kHeadDim) {
#pragma unroll
    for (int g = 0; g < kGroups; ++g) acc += red_o[g][threadIdx.x];
  }

  // The head's output goes to its slot's columns of the compact [B, ld_out] input of the out-projection.
  __half* out = a.out + static_cast<size_t>(b) * a.ld_out + static_cast<size_t>(slot) * kHeadDim;
  if (nsplit == 1) {
    if (threadIdx.x < kHeadDim) out[threadIdx.x] = __float2half(acc / l);
    return;
  }
  const size_t head_slot = static_cast<size_t>(b) * a.max_heads + slot;
  float* parts = a.partials + head_slot * a.max_splits * kPartialStride;
  float* mine = parts + static_cast<size_t>(split) * kPartialStride;
  if (threadIdx.x < kHeadDim) mine[threadIdx.x] = acc;
  if (threadIdx.x == 0) {
    mine[kHeadDim] = m;
    mine[kHeadDim + 1] = l;
  }
  // Last-block merge (threadFenceReduction): publish the partial, then take a ticket.
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) is_last = atomicAdd(a.tickets + head_slot, 1) == nsplit - 1;
  __syncthreads();
  if (!is_last) return;
  __threadfence();
  if (threadIdx.x < kHeadDim) {
    float mmax = -INFINITY;
    for (int s = 0; s < nsplit; ++s) mmax = fmaxf(mmax, __ldcg(parts + s * kPartialStride + kHeadDim));
    float num = 0.f, den = 0.f;
    for (int s = 0; s < nsplit; ++s) {
      const float* p = parts + s * kPartialStride;
      const float w = __expf(__ldcg(p + kHeadDim) - mmax);  // 0 for an empty split (max -inf)
      num += w * __ldcg(p + threadIdx.x);
      den += w * __ldcg(p + kHeadDim + 1);
    }
    out[threadIdx.x] = __float2half(num / den);
  }
  if (threadIdx.x == 0) a.tickets[head_slot] = 0;
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

int min_splits(int max_len) { return (max_len + kMaxChunk - 1) / kMaxChunk; }

bool supported(int head_dim) {
  return head_dim == 16 || head_dim == 32 || head_dim == 64 || head_dim == 80 || head_dim == 128;
}

}  // namespace

int decode_attention_max_splits(int batch, int max_heads, int max_len, int num_sms) {
  const int blocks_per_split = std::max(1, batch * std::max(max_heads, 1));
  // Four 128-thread blocks per SM when every head slot is used; with fewer heads selected the surplus split
  // blocks exit at once.
  int s = (4 * std::max(num_sms, 1) + blocks_per_split - 1) / blocks_per_split;
  s = std::min(s, std::max(1, (max_len + kMinChunk - 1) / kMinChunk));  // no split under kMinChunk keys
  s = std::max(s, min_splits(max_len));
  return std::clamp(s, 1, kDecodeAttentionMaxSplits);
}

size_t decode_attention_partials_floats(int batch, int max_heads, int max_splits, int head_dim) {
  return static_cast<size_t>(batch) * std::max(max_heads, 1) * max_splits * partial_stride(head_dim);
}

void launch_decode_attention(const DecodeAttentionArgs& a, cudaStream_t stream) {
  DV_CHECK(supported(a.head_dim), "decode_attention: head_dim {} unsupported (16, 32, 64, 80 or 128)", a.head_dim);
  DV_CHECK(a.batch > 0 && a.num_heads > 0 && a.max_len > 0,
           "decode_attention: batch = {}, num_heads = {}, max_len = {} must be positive", a.batch, a.num_heads,
           a.max_len);
  DV_CHECK(a.max_heads >= 0 && a.max_heads <= a.num_heads, "decode_attention: max_heads = {} outside [0, {}]",
           a.max_heads, a.num_heads);
  DV_CHECK(a.ld_out >= a.max_heads * a.head_dim, "decode_attention: ld_out = {} is less than max_heads x head_dim = {}",
           a.ld_out, a.max_heads * a.head_dim);
  DV_CHECK(a.max_splits >= min_splits(a.max_len) && a.max_splits <= kDecodeAttentionMaxSplits,
           "decode_attention: max_splits = {} must be in [{}, {}] for max_len {} (use decode_attention_max_splits)",
           a.max_splits, min_splits(a.max_len), kDecodeAttentionMaxSplits, a.max_len);
  DV_CHECK(a.out && a.partials && a.tickets && a.q && a.k_cache && a.v_cache && a.heads && a.num_selected && a.pos,
           "decode_attention: every pointer must be non-null");
  DV_CHECK(aligned16(a.q) && aligned16(a.k_cache) && aligned16(a.v_cache),
           "decode_attention: q, k_cache and v_cache must be 16-byte aligned (16-byte vector access)");
  if (a.max_heads == 0) return;
  const dim3 grid(a.max_splits, a.max_heads, a.batch);
  switch (a.head_dim) {
    case 16: kernels::launch_kernel_pdl(decode_attention_kernel<16>, grid, kThreads, 0, stream, a); break;
    case 32: kernels::launch_kernel_pdl(decode_attention_kernel<32>, grid, kThreads, 0, stream, a); break;
    case 64: kernels::launch_kernel_pdl(decode_attention_kernel<64>, grid, kThreads, 0, stream, a); break;
    case 80: kernels::launch_kernel_pdl(decode_attention_kernel<80>, grid, kThreads, 0, stream, a); break;
    default: kernels::launch_kernel_pdl(decode_attention_kernel<128>, grid, kThreads, 0, stream, a); break;
  }
  DV_CUDA_LAUNCH_CHECK("decode_attention_kernel");
}

}  // namespace dv
