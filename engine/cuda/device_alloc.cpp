// device_alloc.cpp: allocation with a one-line out-of-memory report (see device_alloc.h).
#include "engine/cuda/device_alloc.h"

#include <cuda_runtime.h>

#include <c10/util/Exception.h>

#include "engine/cuda/tensor_ptr.h"
#include "engine/io/checkpoint.h"
#include "kernels/common/error.h"

namespace dv::engine {
namespace {

double gib(double bytes) { return bytes / (1024.0 * 1024.0 * 1024.0); }

template <typename Alloc>
at::Tensor allocate(at::IntArrayRef sizes, at::ScalarType dtype, const std::string& what, int batch, Alloc alloc) {
  try {
    return alloc(sizes, cuda_options(dtype));
  } catch (const c10::OutOfMemoryError&) {
    double bytes = static_cast<double>(c10::elementSize(dtype));
    for (const int64_t s : sizes) bytes *= static_cast<double>(s);
    fail_out_of_memory(what, shape_str(sizes.vec()), batch, bytes);
  }
}

}  // namespace

void fail_out_of_memory(const std::string& what, const std::string& shape, int batch, double bytes) {
  (void)cudaGetLastError();  // the failed allocation leaves no sticky error, but clear what a query may leave
  size_t free = 0, total = 0;
  if (cudaMemGetInfo(&free, &total) != cudaSuccess) (void)cudaGetLastError();
  DV_FAIL("CUDA out of memory: {} {} (batch {}) asks {:.2f} GiB, {:.2f} GiB free of {:.2f} GiB "
          "(smaller --batch, --seq-len or model)",
          what, shape, batch, gib(bytes), gib(static_cast<double>(free)), gib(static_cast<double>(total)));
}

at::Tensor device_zeros(at::IntArrayRef sizes, at::ScalarType dtype, const std::string& what, int batch) {
  return allocate(sizes, dtype, what, batch, [](at::IntArrayRef s, const at::TensorOptions& o) { return at::zeros(s, o); });
}

at::Tensor device_empty(at::IntArrayRef sizes, at::ScalarType dtype, const std::string& what, int batch) {
  return allocate(sizes, dtype, what, batch, [](at::IntArrayRef s, const at::TensorOptions& o) { return at::empty(s, o); });
}

}  // namespace dv::engine
