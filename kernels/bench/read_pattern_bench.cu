// read_pattern_bench.cu: how fast the GPU streams the same weight bytes under the decode kernels' access
// patterns, with no arithmetic but an xor to keep the loads live. It answers what the kernel rows cannot: how much
// of a kernel's distance from copy bandwidth is its addresses alone.
// Row-major patterns, named RxB (one warp load instruction reads R rows x B contiguous bytes, rows d x 2 bytes
// apart; a unit is a CTA of 8 warps, 2 an SM, owning 16 rows of d halves, its warps splitting d; 8 loads of 16
// bytes in flight per lane):
//   8x64 (16 rows)  sparse_qkv's: lane (g, t) reads 16 bytes at column 8t of rows g and g + 8
//   8x64 (8 rows)   row_dot's (the up projection, the predictors): one 8-row group a unit
//   4x128, 2x256, 1x512   the same 16-row units with fewer, longer pieces per load (what a lane remap of the
//                   gathered-row kernels could give; sparse_mlp_down's warps read 128-byte pieces of 4 rows)
//   tiled           the same units, each 16 x 32 block one contiguous KB (sparse_qkv's tiled_weights)
//   linear          a grid-stride read of the same bytes, 512 contiguous bytes a warp load
// Sizes: the weight bytes of sparse_qkv at heads 50 / 100 % and of one sparse MLP matrix at 10 / 50 % (rows x d of
// each OPT shape). L2 flushed before every repetition (bench_timer.h). Prints us and % of copy.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "kernels/bench/bench_device.cuh"
#include "kernels/bench/bench_timer.h"
#include "kernels/common/cuda_check.h"
#include "kernels/sparse_mlp_up/mma_m16n8k16.cuh"

namespace {

using dv::kernels::ld_stream_u4;
constexpr int kThreads = 256, kUnroll = 4;  // linear: 16-byte loads in flight per lane

__device__ __forceinline__ uint32_t fold(uint4 v) { return v.x ^ v.y ^ v.z ^ v.w; }

// Row-major units of kUnitRows rows: a load instruction reads R rows x (512 / R) bytes (lanes in R groups of
// 32 / R, each 16 bytes), kUnitRows / R instructions a chunk of 256 / R columns, 8 loads in flight per lane
// (1x512: its 16 rows' loads of one chunk, 16).
template <int R, int kUnitRows>
__global__ void __launch_bounds__(kThreads, 2) rows_read_kernel(const __half* w, int d, unsigned* sink) {
  constexpr int kWidth = 256 / R, kPerChunk = kUnitRows / R, kChunks = 8 / kPerChunk > 0 ? 8 / kPerChunk : 1;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, grp = lane / (32 / R), j = lane % (32 / R);
  const int nk = d / kWidth, kc0 = warp * nk / 8, kc1 = (warp + 1) * nk / 8;
  const __half* p0 = w + (static_cast<size_t>(blockIdx.x) * kUnitRows + grp) * d + j * 8;
  uint32_t acc = 0;
  for (int kc = kc0; kc < kc1; kc += kChunks) {
    uint4 v[kChunks][kPerChunk];
#pragma unroll
    for (int u = 0; u < kChunks; ++u)
#pragma unroll
      for (int i = 0; i < kPerChunk; ++i)
        v[u][i] = kc + u < kc1 ? ld_stream_u4(p0 + static_cast<size_t>(i) * R * d + (kc + u) * kWidth)
                               : dv::kernels::zero_u4();
#pragma unroll
    for (int u = 0; u < kChunks; ++u)
#pragma unroll
      for (int i = 0; i < kPerChunk; ++i) acc ^= fold(v[u][i]);
  }
  if (acc == 0x9E3779B9u) atomicAdd(sink, 1u);  // practically never: keeps the loads
}

// sparse_qkv's tiled layout: unit u's chunk kc is the contiguous block w + (u * nk + kc) * 512 halves, row r at
// r * 32; lane (g, t) reads rows g and g + 8 at column 8t, 4 chunks in flight.
__global__ void __launch_bounds__(kThreads, 2) tiled_read_kernel(const __half* w, int d, unsigned* sink) {
  constexpr int kUnroll = 4;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, g = lane >> 2, t = lane & 3;
  const int nk = d / 32, kc0 = warp * nk / 8, kc1 = (warp + 1) * nk / 8;
  const __half* p0 = w + static_cast<size_t>(blockIdx.x) * 16 * d + g * 32 + t * 8;
  uint32_t acc = 0;
  for (int kc = kc0; kc < kc1; kc += kUnroll) {
    uint4 a[kUnroll], b[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const bool on = kc + u < kc1;
      a[u] = on ? ld_stream_u4(p0 + (kc + u) * 512) : dv::kernels::zero_u4();
      b[u] = on ? ld_stream_u4(p0 + 256 + (kc + u) * 512) : dv::kernels::zero_u4();
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) acc ^= fold(a[u]) ^ fold(b[u]);
  }
  if (acc == 0x9E3779B9u) atomicAdd(sink, 1u);
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
  // rows: 3 * hd * heads / 2 for QKV at heads 50 %; ffn / 10 (/ 2) for one MLP matrix at 10 % (50 %), to 16.
  const std::vector<Case> cases = {{"opt-1.3b qkv 50%", 3 * 1024, 2048},   {"opt-1.3b mlp 10%", 816, 2048},
                                   {"opt-13b qkv 50%", 3 * 2560, 5120},    {"opt-13b mlp 10%", 2048, 5120},
                                   {"opt-13b mlp 50%", 10240, 5120},       {"opt-13b qkv 100%", 3 * 5120, 5120},
                                   {"opt-66b qkv 50%", 3 * 4608, 9216},    {"opt-66b mlp 10%", 3680, 9216}};
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
  // Each pattern launches its kernel over `rows` rows of width d.
  using Launch = std::function<void(int rows, int d)>;
  const std::vector<std::pair<const char*, Launch>> patterns = {
      {"8x64", [&](int rows, int d) { rows_read_kernel<8, 16><<<rows / 16, kThreads, 0, stream>>>(w, d, sink); }},
      {"8x64/8", [&](int rows, int d) { rows_read_kernel<8, 8><<<rows / 8, kThreads, 0, stream>>>(w, d, sink); }},
      {"4x128", [&](int rows, int d) { rows_read_kernel<4, 16><<<rows / 16, kThreads, 0, stream>>>(w, d, sink); }},
      {"2x256", [&](int rows, int d) { rows_read_kernel<2, 16><<<rows / 16, kThreads, 0, stream>>>(w, d, sink); }},
      {"1x512", [&](int rows, int d) { rows_read_kernel<1, 16><<<rows / 16, kThreads, 0, stream>>>(w, d, sink); }},
      {"tiled", [&](int rows, int d) { tiled_read_kernel<<<rows / 16, kThreads, 0, stream>>>(w, d, sink); }},
      {"linear", [&](int rows, int d) {
         linear_read_kernel<<<linear_ctas, kThreads, 0, stream>>>(reinterpret_cast<const uint4*>(w),
                                                                 static_cast<size_t>(rows) * d / 8, sink);
       }}};
  fmt::print("us and % of copy; pattern RxB: a warp load reads R rows x B contiguous bytes (8x64/8: 8-row units)\n");
  fmt::print("{:<18} {:>7}", "case", "MB");
  for (const auto& p : patterns) fmt::print(" | {:>12}", p.first);
  fmt::print("\n");
  for (const auto& c : cases) {
    const size_t bytes = static_cast<size_t>(c.rows) * c.d * 2;
    fmt::print("{:<18} {:7.1f}", c.what, bytes / 1e6);
    for (const auto& p : patterns) {
      const dv::bench::Timing t = dv::bench::time_op(tc, [&] {
        p.second(c.rows, c.d);
        DV_CUDA_LAUNCH_CHECK(p.first);
      });
      fmt::print(" | {:6.1f} {:4.0f}%", t.median_us, 100 * bytes / (t.median_us * 1e3) / copy);
    }
    fmt::print("\n");
    std::fflush(stdout);
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
