// row_ops.cuh: the persistent decode kernel's per-row ops, one unit per batch row:
//   EmbedOp      out[b] = word_embed[tokens[b]] (+ pos_embed[positions[b] + 2]); a token or position out of
//                range writes a NaN row (a kernel cannot throw: NaN reaches the logits instead of a wrong row);
//   LayerNormOp  s = x (+ residual) (+ bias), rounded to fp16; sum_out = s (optional); y = LN(s) * gamma + beta
//                (fp32 statistics, two passes over registers): the final layer norm, and post-LN models' norms
//                after each block (pre-LN layers normalize inside their QKV and MLP ops);
//   ArgmaxOp     tokens[b] = the row of the packed maximum the LM head's units left in argmax[b]
//                (row_gemv_op.cuh, kLogits), then argmax[b] = 0 for the next step: the greedy next token
//                written where the next step's embedding reads it, so decoding needs no host in the loop.
// Access pattern: 16-byte vectors along d, each input read once and each output written once (B * d * 2
// bytes each); inputs written inside the kernel are read with ld.global.cg.
#pragma once

#include <cuda_fp16.h>

#include <cstdint>

#include "kernels/persistent_decode/op_common.h"

namespace dv::kernels {

constexpr int kRowOpMaxVecs = 6;  // 16-byte vectors per thread: d <= 256 * 6 * 8 = 12288 (opt-175b)
constexpr unsigned kHalfNaN2 = 0x7E007E00u;  // eight fp16 quiet NaNs in a 16-byte vector

struct EmbedOp {
  static constexpr int kSmemBytes = 0;
  __half* out = nullptr;                // [B, d]
  const int* tokens = nullptr;          // [B]
  const int* positions = nullptr;       // [B], read with pos_embed
  const __half* word_embed = nullptr;   // [vocab, d]
  const __half* pos_embed = nullptr;    // [max_positions + 2, d] or nullptr (added after project_in)
  int B = 0, vocab = 0, d = 0, max_positions = 0;

  DV_OP_HD int max_units() const { return B; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int b, char*, const Sync& sync) const {
    sync.inputs();  // tokens: the previous step's argmax or an upload, both before this launch
    const int tok = __ldcg(tokens + b);
    const int p = pos_embed != nullptr ? __ldcg(positions + b) : 0;
    const bool ok = tok >= 0 && tok < vocab && p >= 0 && p < max_positions;
    const uint4* w = reinterpret_cast<const uint4*>(word_embed + static_cast<size_t>(ok ? tok : 0) * d);
    const uint4* pe =
        pos_embed != nullptr ? reinterpret_cast<const uint4*>(pos_embed + static_cast<size_t>(p + 2) * d) : nullptr;
    uint4* o = reinterpret_cast<uint4*>(out + static_cast<size_t>(b) * d);
    for (int i = threadIdx.x; i < d / 8; i += kOpThreads) {
      uint4 v = make_uint4(kHalfNaN2, kHalfNaN2, kHalfNaN2, kHalfNaN2);
      if (ok) {
        v = w[i];
        if (pe != nullptr) {
          const uint4 a = pe[i];
          __half2* vh = reinterpret_cast<__half2*>(&v);
          const __half2* ah = reinterpret_cast<const __half2*>(&a);
#pragma unroll
          for (int j = 0; j < 4; ++j) {
            const float2 x = __half22float2(vh[j]), y = __half22float2(ah[j]);
            vh[j] = __floats2half2_rn(x.x + y.x, x.y + y.y);
          }
        }
      }
      o[i] = v;
    }
  }
#endif  // __CUDACC__
};

struct LayerNormOp {
  static constexpr int kSmemBytes = 64;
  __half* y = nullptr;                // [B, d]
  __half* sum_out = nullptr;          // [B, d] or nullptr
  const __half* x = nullptr;          // [B, d]
  const __half* residual = nullptr;   // [B, d] or nullptr
  const __half* bias = nullptr;       // [d] or nullptr
  const __half* gamma = nullptr;      // [d]
  const __half* beta = nullptr;       // [d]
  int B = 0, d = 0;
  float eps = 1e-5f;

  DV_OP_HD int max_units() const { return B; }

#if defined(__CUDACC__)
  __device__ static float block_sum(float v, float* scratch) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xFFFFFFFFu, v, o);
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = v;
    __syncthreads();
    float s = 0.f;
    for (int w = 0; w < kOpThreads / 32; ++w) s += scratch[w];
    __syncthreads();
    return s;
  }

  template <class Sync>
  __device__ void run(int b, char* smem, const Sync& sync) const {
    float* scratch = reinterpret_cast<float*>(smem);
    const int nvec = d / 8;
    const size_t row = static_cast<size_t>(b) * nvec;
    sync.inputs();
    uint4 v[kRowOpMaxVecs];  // s in fp16 (its exact value): half the registers of fp32
    float sum = 0.f;
#pragma unroll
    for (int k = 0; k < kRowOpMaxVecs; ++k) {
      const int c = threadIdx.x + k * kOpThreads;
      if (c >= nvec) continue;
      uint4 in = __ldcg(reinterpret_cast<const uint4*>(x) + row + c);
      if (residual != nullptr || bias != nullptr) {
        const uint4 r = residual != nullptr ? __ldcg(reinterpret_cast<const uint4*>(residual) + row + c)
                                            : make_uint4(0, 0, 0, 0);
        const uint4 bb = bias != nullptr ? reinterpret_cast<const uint4*>(bias)[c] : make_uint4(0, 0, 0, 0);
        __half2* ih = reinterpret_cast<__half2*>(&in);
        const __half2* rh = reinterpret_cast<const __half2*>(&r);
        const __half2* bh = reinterpret_cast<const __half2*>(&bb);
#pragma unroll
        for (int j = 0; j < 4; ++j) {
          const float2 fi = __half22float2(ih[j]), fr = __half22float2(rh[j]), fb = __half22float2(bh[j]);
          ih[j] = __floats2half2_rn(fi.x + fr.x + fb.x, fi.y + fr.y + fb.y);
        }
        if (sum_out != nullptr) reinterpret_cast<uint4*>(sum_out)[row + c] = in;
      }
      v[k] = in;
      const __half2* ih = reinterpret_cast<const __half2*>(&in);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 f = __half22float2(ih[j]);
        sum += f.x + f.y;
      }
    }
    const float inv_d = 1.f / static_cast<float>(d);
    const float mean = block_sum(sum, scratch) * inv_d;
    float sq = 0.f;
#pragma unroll
    for (int k = 0; k < kRowOpMaxVecs; ++k) {
      if (threadIdx.x + k * kOpThreads >= nvec) continue;
      const __half2* vh = reinterpret_cast<const __half2*>(&v[k]);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 f = __half22float2(vh[j]);
        sq += (f.x - mean) * (f.x - mean) + (f.y - mean) * (f.y - mean);
      }
    }
    const float rstd = rsqrtf(block_sum(sq, scratch) * inv_d + eps);
#pragma unroll
    for (int k = 0; k < kRowOpMaxVecs; ++k) {
      const int c = threadIdx.x + k * kOpThreads;
      if (c >= nvec) continue;
      const uint4 gg = reinterpret_cast<const uint4*>(gamma)[c], be = reinterpret_cast<const uint4*>(beta)[c];
      const __half2* gh = reinterpret_cast<const __half2*>(&gg);
      const __half2* bh = reinterpret_cast<const __half2*>(&be);
      const __half2* vh = reinterpret_cast<const __half2*>(&v[k]);
      uint4 o;
      __half2* oh = reinterpret_cast<__half2*>(&o);
#pragma unroll
      for (int j = 0; j < 4; ++j) {
        const float2 fg = __half22float2(gh[j]), fb = __half22float2(bh[j]), f = __half22float2(vh[j]);
        oh[j] = __floats2half2_rn((f.x - mean) * rstd * fg.x + fb.x, (f.y - mean) * rstd * fg.y + fb.y);
      }
      reinterpret_cast<uint4*>(y)[row + c] = o;
    }
  }
#endif  // __CUDACC__
};

struct ArgmaxOp {
  static constexpr int kSmemBytes = 0;
  int* tokens = nullptr;                  // [B] out
  unsigned long long* argmax = nullptr;   // [B] packed maxima, reset to 0 here
  int B = 0;

  DV_OP_HD int max_units() const { return 1; }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int, char*, const Sync& sync) const {
    sync.inputs();
    for (int b = threadIdx.x; b < B; b += kOpThreads) {
      const unsigned long long key = __ldcg(argmax + b);
      tokens[b] = static_cast<int>(0xFFFFFFFFu - static_cast<uint32_t>(key & 0xFFFFFFFFull));
      argmax[b] = 0ull;
    }
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
