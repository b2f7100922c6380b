// kernel_test_util.h: shared plumbing for the table-driven kernel tests (tests/kernels/test_*.cpp).
// Why one header: every op's test needs the same four things, done the same way so a failure reads the same
// everywhere: skip without a GPU, RAII device buffers with NaN poisoning (unwritten outputs fail instead of
// passing as stale zeros), fresh random inputs from a per-case seed, and one expect_close() that reports
// the relative-error norm plus the first few element-wise misses. Header-only because the test folder globs
// test_*.cpp into one binary.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "kernels/common/cuda_check.h"

namespace dv::test {

// True when a CUDA device is usable. A failed query leaves a sticky-free error that is cleared here so it
// does not surface at the next unrelated cudaGetLastError().
inline bool has_gpu() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return false;
  }
  return count > 0;
}

}  // namespace dv::test

// First statement of every GPU test body.
#define DV_SKIP_WITHOUT_GPU()                                   \
  do {                                                          \
    if (!::dv::test::has_gpu()) GTEST_SKIP() << "no CUDA GPU";  \
  } while (0)

namespace dv::test {

// Owning device array of n elements of T. Allocates at least one element so that empty cases (k = 0) still
// hand kernels a valid, non-null pointer; size() reports the requested n. Move-only.
template <class T>
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t n) : size_(n) {
    DV_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr_), std::max<size_t>(n, 1) * sizeof(T)));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() {
    if (ptr_ != nullptr) (void)cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : ptr_(std::exchange(other.ptr_, nullptr)), size_(std::exchange(other.size_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    std::swap(ptr_, other.ptr_);
    std::swap(size_, other.size_);
    return *this;
  }

  T* data() { return ptr_; }
  const T* data() const { return ptr_; }
  size_t size() const { return size_; }
  size_t bytes() const { return size_ * sizeof(T); }

  void upload(const std::vector<T>& host) {
    DV_CHECK(host.size() == size_, "DeviceBuffer::upload: host has {} elements, buffer {}", host.size(), size_);
    if (size_ > 0) DV_CUDA_CHECK(cudaMemcpy(ptr_, host.data(), bytes(), cudaMemcpyHostToDevice));
  }
  // Synchronous copy back (the tests' sync point: kernel faults surface here at the latest).
  std::vector<T> download() const {
    std::vector<T> host(size_);
    if (size_ > 0) DV_CUDA_CHECK(cudaMemcpy(host.data(), ptr_, bytes(), cudaMemcpyDeviceToHost));
    return host;
  }
  // 0xFF bytes: NaN for fp32/fp16/bf16, -1 for signed integers. Any element a kernel should have written
  // but did not then fails expect_close (NaN never passes) or an index check.
  void poison(cudaStream_t stream = nullptr) {
    DV_CUDA_CHECK(cudaMemsetAsync(ptr_, 0xFF, std::max<size_t>(size_, 1) * sizeof(T), stream));
  }
  void zero(cudaStream_t stream = nullptr) {
    DV_CUDA_CHECK(cudaMemsetAsync(ptr_, 0, std::max<size_t>(size_, 1) * sizeof(T), stream));
  }

 private:
  T* ptr_ = nullptr;
  size_t size_ = 0;
};

// ---- seeds and random inputs -------------------------------------------------------------------------

// Per-case seed: FNV-1a of the op name mixed with the case index, plus DEJAVU_TEST_SEED when set, so a run
// can draw a fresh set of inputs while the default run stays reproducible. Print it on failure.
inline uint64_t case_seed(std::string_view op, int case_index) {
  uint64_t h = 1469598103934665603ull;
  for (char c : op) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  h = (h ^ static_cast<uint64_t>(case_index + 1)) * 1099511628211ull;
  if (const char* env = std::getenv("DEJAVU_TEST_SEED")) h ^= std::strtoull(env, nullptr, 10) * 0x9E3779B97F4A7C15ull;
  return h;
}

// Test names for (case index, ordered split sums) parameters: c<i>_fixed, c<i>_ordered (the split-sum ops).
inline std::string case_and_scheme_name(const ::testing::TestParamInfo<std::tuple<int, bool>>& info) {
  return "c" + std::to_string(std::get<0>(info.param)) + (std::get<1>(info.param) ? "_ordered" : "_fixed");
}

// Uniform floats in [lo, hi).
inline std::vector<float> random_floats(size_t n, std::mt19937_64& rng, float lo = -1.f, float hi = 1.f) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

inline std::vector<__half> to_half(const std::vector<float>& v) {
  std::vector<__half> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = __float2half(v[i]);
  return out;
}
inline std::vector<__nv_bfloat16> to_bf16(const std::vector<float>& v) {
  std::vector<__nv_bfloat16> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = __float2bfloat16(v[i]);
  return out;
}

// Widen any supported element type to float (identity for float).
template <class T>
inline std::vector<float> to_float(const std::vector<T>& v) {
  std::vector<float> out(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if constexpr (std::is_same_v<T, __half>) {
      out[i] = __half2float(v[i]);
    } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
      out[i] = __bfloat162float(v[i]);
    } else {
      out[i] = static_cast<float>(v[i]);
    }
  }
  return out;
}

// Random fp16 values in [lo, hi): the half vector plus its exact float widening, so the reference sees
// precisely the values the kernel sees.
struct HalfData {
  std::vector<__half> h;
  std::vector<float> f;
};
inline HalfData random_halves(size_t n, std::mt19937_64& rng, float lo = -1.f, float hi = 1.f) {
  HalfData d;
  d.h = to_half(random_floats(n, rng, lo, hi));
  d.f = to_float(d.h);
  return d;
}

// k distinct indices drawn from [0, n) in random (unsorted) order.
inline std::vector<int> random_indices(int n, int k, std::mt19937_64& rng) {
  std::vector<int> all(static_cast<size_t>(n));
  std::iota(all.begin(), all.end(), 0);
  std::shuffle(all.begin(), all.end(), rng);
  all.resize(static_cast<size_t>(std::min(k, n)));
  return all;
}

// ---- comparison --------------------------------------------------------------------------------------

enum class DType { kF32, kF16, kBF16 };

inline const char* dtype_name(DType t) {
  switch (t) {
    case DType::kF32: return "fp32";
    case DType::kF16: return "fp16";
    case DType::kBF16: return "bf16";
  }
  return "?";
}

// Relative tolerance per output dtype (house style: fp32 < 1e-4, fp16/bf16 < 1e-2).
inline double tolerance(DType t) { return t == DType::kF32 ? 1e-4 : 1e-2; }

// got vs ref (ref in float or double from the plain C++ reference). Passes when
//   ||got - ref||_2 / ||ref||_2 <= tol                         (the norm check), and
//   |got_i - ref_i| <= tol * (|ref_i| + rms(ref)) for every i  (the element-wise check; the rms term keeps
//                                                               entries near zero from failing on rounding),
// and every got_i is finite where ref_i is. An all-zero ref requires got to be exactly zero.
// On failure the message carries both norms and the first `max_report` misses.
template <class G, class R>
inline ::testing::AssertionResult expect_close(const std::vector<G>& got_in, const std::vector<R>& ref_in,
                                               DType dtype, std::string_view what = "output",
                                               int max_report = 8) {
  const std::vector<float> got = to_float(got_in);
  if (got.size() != ref_in.size())
    return ::testing::AssertionFailure()
           << what << ": size mismatch, got " << got.size() << " ref " << ref_in.size();
  const double tol = tolerance(dtype);
  double diff2 = 0, ref2 = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double r = static_cast<double>(ref_in[i]);
    const double d = static_cast<double>(got[i]) - r;
    diff2 += d * d;
    ref2 += r * r;
  }
  const double rms = got.empty() ? 0.0 : std::sqrt(ref2 / static_cast<double>(got.size()));
  const double rel = ref2 > 0 ? std::sqrt(diff2 / ref2) : std::sqrt(diff2);
  std::ostringstream misses;
  size_t n_miss = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double r = static_cast<double>(ref_in[i]);
    const double g = static_cast<double>(got[i]);
    const bool ok = std::isfinite(g) == std::isfinite(r) && std::fabs(g - r) <= tol * (std::fabs(r) + rms);
    if (!ok) {
      if (static_cast<int>(n_miss) < max_report)
        misses << "\n  [" << i << "] got " << g << " ref " << r << " |diff| " << std::fabs(g - r);
      ++n_miss;
    }
  }
  if (n_miss == 0 && std::isfinite(rel) && rel <= tol) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << what << " (" << dtype_name(dtype) << ", n=" << got.size()
                                       << "): ||got-ref||/||ref|| = " << rel << " (tol " << tol << "), "
                                       << n_miss << " element misses" << misses.str();
}

}  // namespace dv::test
