// bench_device.cuh: device-side plumbing of kernel_bench: counter-based random weights that the host can
// recompute element by element (so validation needs no host copy of gigabytes of weights), an L2 flush that
// only reads (leaves clean lines, so evicting them costs the timed kernel nothing), and the copy-bandwidth
// probe every GB/s figure is compared with.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#if defined(__CUDACC__)
#define DV_BENCH_HD __host__ __device__
#else
#define DV_BENCH_HD
#endif

namespace dv::bench {

// Element i of the tensor named by seed: uniform in [-scale, scale), rounded to fp16. Identical on host and
// device (integer hash, exact float construction, one IEEE multiply, round-to-nearest conversion).
DV_BENCH_HD inline __half hashed_half(uint64_t seed, uint64_t i, float scale) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * (i + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  const float u = static_cast<float>(static_cast<uint32_t>(z >> 40)) * (1.0f / 8388608.0f) - 1.0f;  // [-1, 1)
  return __float2half_rn(u * scale);
}

// dst[i] = hashed_half(seed, i, scale) for i < n.
void fill_hashed(__half* dst, size_t n, uint64_t seed, float scale, cudaStream_t stream);
// dst is the [cols, rows] transpose of the hashed [rows, cols] tensor: dst[c * rows + r] = hashed(r * cols + c).
void fill_hashed_transposed(__half* dst, int rows, int cols, uint64_t seed, float scale, cudaStream_t stream);

// Reads `bytes` of `buf` (16-byte loads) so that L2 holds none of the data a timed kernel is about to read.
void flush_l2(const void* buf, size_t bytes, unsigned* sink, cudaStream_t stream);

// Device-to-device cudaMemcpyAsync of `bytes` between two buffers: median GB/s over reps, counting bytes
// read + bytes written (2 * bytes per copy).
double measure_copy_gbps(size_t bytes, int reps, cudaStream_t stream);

}  // namespace dv::bench

#undef DV_BENCH_HD
