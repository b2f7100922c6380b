// engine_kernels.cu: see engine_kernels.cuh.
#include "engine/cuda/engine_kernels.cuh"

#include <algorithm>

#include "kernels/common/cuda_check.h"

namespace dv::engine {
namespace {

constexpr int kThreads = 256;

int blocks_for(size_t n) { return static_cast<int>(std::max<size_t>(1, std::min<size_t>((n + kThreads - 1) / kThreads, 1u << 20))); }

// 8 halves + 8 halves in fp32, rounded once.
__device__ __forceinline__ uint4 add8(uint4 a, uint4 b) {
  const __half2* x = reinterpret_cast<const __half2*>(&a);
  const __half2* y = reinterpret_cast<const __half2*>(&b);
  uint4 r;
  __half2* o = reinterpret_cast<__half2*>(&r);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 fx = __half22float2(x[i]), fy = __half22float2(y[i]);
    o[i] = __floats2half2_rn(fx.x + fy.x, fx.y + fy.y);
  }
  return r;
}

__global__ void kv_append_kernel(KvAppendArgs a) {
  const int pos = *a.pos;
  if (pos < 0 || pos >= a.max_len) return;
  const int vec = a.head_dim / 8;
  const size_t n = static_cast<size_t>(a.batch) * a.num_heads * 3 * vec;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const int v = static_cast<int>(i % vec);
    const size_t rest = i / vec;  // (b * H + h) * 3 + part
    const int part = static_cast<int>(rest % 3);
    const size_t bh = rest / 3;
    const int h = static_cast<int>(bh % a.num_heads);
    const uint4 x = reinterpret_cast<const uint4*>(a.qkv)[i];
    const uint4 bias = reinterpret_cast<const uint4*>(a.b_qkv)[(static_cast<size_t>(h) * 3 + part) * vec + v];
    const uint4 y = add8(x, bias);
    if (part == 0) {
      reinterpret_cast<uint4*>(a.q)[bh * vec + v] = y;
    } else {
      __half* cache = part == 1 ? a.k_cache : a.v_cache;
      reinterpret_cast<uint4*>(cache)[(bh * a.max_len + pos) * vec + v] = y;
    }
  }
}

__global__ void prefill_qkv_kernel(PrefillQkvArgs a) {
  const int vec = a.head_dim / 8;
  const size_t n = static_cast<size_t>(a.rows) * a.tokens * a.num_heads * 3 * vec;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const int v = static_cast<int>(i % vec);
    size_t rest = i / vec;  // ((b * T + t) * H + h) * 3 + part
    const int part = static_cast<int>(rest % 3);
    rest /= 3;
    const int h = static_cast<int>(rest % a.num_heads);
    rest /= a.num_heads;
    const int t = static_cast<int>(rest % a.tokens);
    const size_t b = rest / a.tokens;
    const uint4 x = reinterpret_cast<const uint4*>(a.qkv)[i];
    const uint4 bias = reinterpret_cast<const uint4*>(a.b_qkv)[(static_cast<size_t>(h) * 3 + part) * vec + v];
    const uint4 y = add8(x, bias);
    const size_t bh = b * a.num_heads + h;
    if (part == 0) {
      reinterpret_cast<uint4*>(a.q)[(bh * a.tokens + t) * vec + v] = y;
    } else {
      __half* cache = part == 1 ? a.k_cache : a.v_cache;
      reinterpret_cast<uint4*>(cache)[(bh * a.max_len + t) * vec + v] = y;
    }
  }
}

__global__ void set_position_kernel(int* pos, int* positions, int batch, int value, int add) {
  const int p = add ? *pos + 1 : value;
  // One block: every thread reads *pos before thread 0 overwrites it.
  __syncthreads();
  if (threadIdx.x == 0) *pos = p;
  for (int b = threadIdx.x; b < batch; b += blockDim.x) positions[b] = p;
}

__device__ __forceinline__ uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Box-Muller on two 32-bit uniforms of one hash: two normals per hash.
__global__ void fill_normal_kernel(__half* out, size_t n, uint64_t seed, float mean, float std) {
  const size_t pairs = (n + 1) / 2;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < pairs;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const uint64_t r = splitmix64(seed ^ splitmix64(i));
    const float u1 = (static_cast<float>(r >> 40) + 1.f) * (1.f / 16777217.f);  // (0, 1]
    const float u2 = static_cast<float>((r >> 8) & 0xFFFFFFu) * (1.f / 16777216.f);
    const float rad = sqrtf(-2.f * logf(u1));
    float s, c;
    sincospif(2.f * u2, &s, &c);
    out[2 * i] = __float2half(mean + std * rad * c);
    if (2 * i + 1 < n) out[2 * i + 1] = __float2half(mean + std * rad * s);
  }
}

bool aligned16(const void* p) { return (reinterpret_cast<uintptr_t>(p) & 15u) == 0; }

}  // namespace

void launch_kv_append(const KvAppendArgs& a, cudaStream_t stream) {
  DV_CHECK(a.batch > 0 && a.num_heads > 0 && a.head_dim > 0 && a.head_dim % 8 == 0 && a.max_len > 0,
           "kv_append: bad sizes B={} H={} hd={} max_len={}", a.batch, a.num_heads, a.head_dim, a.max_len);
  DV_CHECK(a.q && a.k_cache && a.v_cache && a.qkv && a.b_qkv && a.pos, "kv_append: null pointer");
  DV_CHECK(aligned16(a.q) && aligned16(a.k_cache) && aligned16(a.v_cache) && aligned16(a.qkv) && aligned16(a.b_qkv),
           "kv_append: pointers must be 16-byte aligned");
  const size_t n = static_cast<size_t>(a.batch) * a.num_heads * 3 * (a.head_dim / 8);
  kv_append_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a);
  DV_CUDA_LAUNCH_CHECK("kv_append_kernel");
}

void launch_prefill_qkv(const PrefillQkvArgs& a, cudaStream_t stream) {
  DV_CHECK(a.head_dim % 8 == 0 && a.rows > 0 && a.tokens > 0 && a.tokens <= a.max_len,
           "prefill_qkv: bad sizes rows={} tokens={} head_dim={} max_len={}", a.rows, a.tokens, a.head_dim, a.max_len);
  const size_t n = static_cast<size_t>(a.rows) * a.tokens * a.num_heads * 3 * (a.head_dim / 8);
  prefill_qkv_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a);
  DV_CUDA_LAUNCH_CHECK("prefill_qkv_kernel");
}

void launch_set_position(int* pos, int* positions, int batch, int value, cudaStream_t stream) {
  DV_CHECK(pos && positions && batch > 0 && value >= 0, "set_position: bad arguments");
  set_position_kernel<<<1, 128, 0, stream>>>(pos, positions, batch, value, 0);
  DV_CUDA_LAUNCH_CHECK("set_position_kernel");
}

void launch_advance_position(int* pos, int* positions, int batch, cudaStream_t stream) {
  DV_CHECK(pos && positions && batch > 0, "advance_position: bad arguments");
  set_position_kernel<<<1, 128, 0, stream>>>(pos, positions, batch, 0, 1);
  DV_CUDA_LAUNCH_CHECK("advance_position_kernel");
}

void launch_fill_normal(__half* out, size_t n, uint64_t seed, float mean, float std, cudaStream_t stream) {
  if (n == 0) return;
  DV_CHECK(out != nullptr, "fill_normal: null output");
  fill_normal_kernel<<<blocks_for((n + 1) / 2), kThreads, 0, stream>>>(out, n, seed, mean, std);
  DV_CUDA_LAUNCH_CHECK("fill_normal_kernel");
}

}  // namespace dv::engine
