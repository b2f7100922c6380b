// read_pattern_bench.cu: how fast the GPU streams the same weight bytes under the decode kernels' access
// patterns, with no arithmetic but an xor to keep the loads live. It answers one question the kernel rows
// cannot: is the ~70 % of copy bandwidth sparse_qkv reaches (where cuBLAS's dense QKV GEMM reaches ~88 %) the
// cost of its addresses, or of its work around them?
//   rows64   sparse_qkv's pattern: a unit (CTA of 8 warps, 2 an SM) owns 16 rows of d halves; its warps split d
//            into 32-column chunks; per chunk a lane (g, t) loads 16 bytes at column 8t of rows g and g + 8, so
//            one load instruction reads 8 rows x 64 contiguous bytes, rows d * 2 bytes apart. 4 chunks in flight.
//   tiled    the same units, warps, loads in flight and bytes, with the 16 x 32 block of each chunk stored
//            contiguously (1 KB): one load instruction reads 512 contiguous bytes.
//   linear   a grid-stride copy-like read of the same bytes: 2 CTAs an SM, each warp 512 contiguous bytes an
//            instruction, 4 in flight.
// Sizes: the weight bytes of sparse_qkv at heads 50 % and of the sparse MLP at 10 % (rows x d of each OPT
// shape). L2 flushed before every repetition (bench_timer.h). Prints us, GB/s and % of copy.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "kernels/bench/bench_device.cuh"
#include "kernels/bench/bench_timer.h"
#include "kernels/common/cuda_check.h"
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"

namespace {

using dv::kernels::ld_stream_u4;
constexpr int kThreads = 256, kUnroll = 4;

__device__ __forceinline__ uint32_t fold(uint4 v) { return v.x ^ v.y ^ v.z ^ v.w; }

// kTiled: unit u's chunk kc is the contiguous block w + (u * nk + kc) * 512 halves, row r at r * 32.
template <bool kTiled>
__global__ void __launch_bounds__(kThreads, 2) unit_read_kernel(const __half* w, int d, unsigned* sink) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int nk = d / 32, kc0 = warp * nk / 8, kc1 = (warp + 1) * nk / 8;
  const size_t unit = blockIdx.x;
  const __half* base = w + unit * 16 * static_cast<size_t>(d);
  const __half* p0 = kTiled ? base + g * 32 + t * 8 : base + static_cast<size_t>(g) * d + t * 8;
  const size_t row8 = kTiled ? 8 * 32 : 8 * static_cast<size_t>(d), step = kTiled ? 512 : 32;
  uint32_t acc = 0;
  for (int kc = kc0; kc < kc1; kc += kUnroll) {
    uint4 a[kUnroll], b[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const bool on = kc + u < kc1;
      a[u] = on ? ld_stream_u4(p0 + (kc + u) * step) : dv::kernels::zero_u4();
      b[u] = on ? ld_stream_u4(p0 + row8 + (kc + u) * step) : dv::kernels::zero_u4();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc ^= fold(a[u]) ^ fold(b[u]);
  }
  if (acc == 0x9E3779B9u) atomicAdd(sink, 1u);  // practically never: keeps the loads
}

__global__ void __launch_bounds__(kThreads, 2) linear_read_kernel(const uint4* w, size_t n16, unsigned* sink) {
  uint32_t acc = 0;
  const size_t stride = static_cast<size_t>(gridDim.x) * kThreads;
  size_t i = static_cast<size_t>(blockIdx.x) * kThreads + threadIdx.x;
  for (; i + (kUnroll - 1) * stride < n16; i += kUnroll * stride) {
    uint4 v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) v[u] = ld_stream_u4(w + i + u * stride);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc ^= fold(v[u]);
  }
  for (; i < n16; i += stride) acc ^= fold(ld_stream_u4(w + i));
  if (acc == 0x9E3779B9u) atomicAdd(sink, 1u);
}

struct Case {
  const char* what;
  int rows, d;
};

int run() {
  cudaDeviceProp prop{};
  DV_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t stream;
  DV_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const double copy = dv::bench::measure_copy_gbps(size_t{1} << 30, 20, stream);
  fmt::print("read_pattern_bench on {} ({} SMs): copy {:.0f} GB/s\n", prop.name, prop.multiProcessorCount, copy);
  // rows: 3 * hd * heads / 2 for QKV at heads 50 %; ffn / 10 for one MLP matrix at 10 % (rounded to 16).
  const std::vector<Case> cases = {{"opt-1.3b qkv 50%", 3 * 1024, 2048},  {"opt-1.3b mlp 10%", 816, 2048},
                                   {"opt-13b qkv 50%", 3 * 2560, 5120},   {"opt-13b mlp 10%", 2048, 5120},
                                   {"opt-13b qkv 100%", 3 * 5120, 5120},  {"opt-66b qkv 50%", 3 * 4608, 9216},
                                   {"opt-66b mlp 10%", 3680, 9216}};
  size_t max_bytes = 0;
  for (const auto& c : cases) max_bytes = std::max(max_bytes, static_cast<size_t>(c.rows) * c.d * 2);
  __half* w = nullptr;
  unsigned* sink = nullptr;
  void* flush = nullptr;
  const size_t flush_bytes = std::max<size_t>(4 * static_cast<size_t>(prop.l2CacheSize), size_t{128} << 20);
  DV_CUDA_CHECK(cudaMalloc(&w, max_bytes));
  DV_CUDA_CHECK(cudaMalloc(&sink, sizeof(unsigned)));
  DV_CUDA_CHECK(cudaMalloc(&flush, flush_bytes));
  DV_CUDA_CHECK(cudaMemsetAsync(w, 0x11, max_bytes, stream));
  DV_CUDA_CHECK(cudaMemsetAsync(flush, 0x3C, flush_bytes, stream));
  dv::bench::TimerConfig tc;
  tc.stream = stream;
  tc.flush_buf = flush;
  tc.flush_bytes = flush_bytes;
  tc.flush_sink = sink;
  tc.warmup = 3;
  tc.reps = 30;
  const int linear_ctas = 2 * prop.multiProcessorCount;
  fmt::print("{:<18} {:>9} | {:>18} | {:>18} | {:>18}\n", "case", "MB", "rows64 us GB/s %", "tiled us GB/s %",
             "linear us GB/s %");
  for (const auto& c : cases) {
    const size_t bytes = static_cast<size_t>(c.rows) * c.d * 2;
    const int units = c.rows / 16;
    auto cell = [&](auto&& launch) {
      const dv::bench::Timing t = dv::bench::time_op(tc, launch);
      const double gbps = bytes / (t.median_us * 1e3);
      return fmt::format("{:6.1f} {:5.0f} {:3.0f}%", t.median_us, gbps, 100 * gbps / copy);
    };
    const std::string rows64 = cell([&] {
      unit_read_kernel<false><<<units, kThreads, 0, stream>>>(w, c.d, sink);
      DV_CUDA_LAUNCH_CHECK("unit_read_kernel<rows64>");
    });
    const std::string tiled = cell([&] {
      unit_read_kernel<true><<<units, kThreads, 0, stream>>>(w, c.d, sink);
      DV_CUDA_LAUNCH_CHECK("unit_read_kernel<tiled>");
    });
    const std::string linear = cell([&] {
      linear_read_kernel<<<linear_ctas, kThreads, 0, stream>>>(reinterpret_cast<const uint4*>(w), bytes / 16, sink);
      DV_CUDA_LAUNCH_CHECK("linear_read_kernel");
    });
    fmt::print("{:<18} {:9.1f} | {} | {} | {}\n", c.what, bytes / 1e6, rows64, tiled, linear);
  }
  DV_CUDA_CHECK(cudaStreamSynchronize(stream));
  DV_CUDA_CHECK(cudaFree(w));
  DV_CUDA_CHECK(cudaFree(sink));
  DV_CUDA_CHECK(cudaFree(flush));
  DV_CUDA_CHECK(cudaStreamDestroy(stream));
  return 0;
}

}  // namespace

int main() {
  try {
    return run();
  } catch (const dv::Error& e) {
    std::fprintf(stderr, "read_pattern_bench: %s\n", e.what());
    return dv::kErrorExitCode;
  }
}
