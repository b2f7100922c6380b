// op_common.h: what every persistent-decode op header shares, readable by host C++ too: the op structs are
// plain pointers and sizes that the engine fills in (host) and the kernel runs (device), so their device
// bodies sit under __CUDACC__ and the structs' layout is the same on both sides.
#pragma once

#include <cuda_fp16.h>

#if defined(__CUDACC__)
#include "kernels/common/work_units.cuh"
#define DV_OP_HD __host__ __device__
#else
#define DV_OP_HD
#endif

namespace dv::kernels {

// Threads of every unit (work_units.cuh's kUnitThreads, which device code checks against).
constexpr int kOpThreads = 256;
constexpr int kOpWarps = kOpThreads / 32;
#if defined(__CUDACC__)
static_assert(kOpThreads == kUnitThreads, "the persistent ops assume the unit convention's CTA size");
#endif

}  // namespace dv::kernels
