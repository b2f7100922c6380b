// pdl.cuh: programmatic dependent launch (PDL, sm_90) for the decode step's kernels, so that a kernel's
// launch and block scheduling overlap the tail of the kernel before it in the stream (also inside a CUDA
// graph, where the launch becomes a programmatic edge).
// Contract, which makes it correct whatever the neighbours do: every kernel launched through
// launch_kernel_pdl calls pdl_begin() as its first statement. pdl_begin waits (griddepcontrol.wait) until
// the preceding grid has completed and its memory is visible, before this kernel reads or writes anything,
// then allows the next kernel to launch (griddepcontrol.launch_dependents), which only lets that kernel's
// blocks be scheduled early: they in turn wait in their own pdl_begin. Without the launch attribute both
// instructions are no-ops, so the kernels stay correct when launched plainly.
// Event joins: a plain launch orders a kernel after the preceding kernel of its stream only, and a
// cudaStreamWaitEvent stays a full dependency. Under stream capture, though, the attribute turns every
// dependency of the captured kernel into a programmatic edge, an event join's too (seen on CUDA 13 / driver
// 580): the kernel may then start once the other stream's kernel has passed its launch_dependents, and only
// its griddepcontrol.wait orders it after that kernel. The work-unit ops read a predictor's selection, which
// such a join delivers, before that wait (work_units.cuh, step 2), so a kernel captured with more than one
// dependency (a join) is launched plainly: all its edges stay full. A fork (one dependency, on another
// stream's kernel) keeps PDL: that kernel is its only predecessor, read after the wait like any other.
// Switch: DEJAVU_PDL=0 in the environment launches plainly (read at each launch, i.e. when a graph is
// captured); on by default on devices of compute capability >= 9.0, never on the legacy default stream.
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "kernels/common/cuda_check.h"

namespace dv::kernels {

__device__ __forceinline__ void pdl_begin() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
}

// Whether launches on `stream` get the PDL attribute now (env switch, device capability, stream).
inline bool pdl_enabled(cudaStream_t stream) {
  const char* env = std::getenv("DEJAVU_PDL");
  if (env != nullptr && std::strcmp(env, "0") == 0) return false;
  if (stream == nullptr || stream == cudaStreamLegacy) return false;
  int device = 0, major = 0;
  DV_CUDA_CHECK(cudaGetDevice(&device));
  DV_CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  return major >= 9;
}

// Whether the next kernel captured on `stream` would depend on more than one node: an event join since the
// stream's last captured node. False outside capture, where a join stays a full dependency anyway.
inline bool capture_joins_streams(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  const cudaGraphNode_t* deps = nullptr;
  const cudaGraphEdgeData* edges = nullptr;
  size_t n = 0;
  DV_CUDA_CHECK(cudaStreamGetCaptureInfo(stream, &status, nullptr, nullptr, &deps, &edges, &n));
  return status == cudaStreamCaptureStatusActive && n > 1;
}

// Whether a launch on `stream` gets the PDL attribute now: enabled, and not right after a captured join.
inline bool pdl_launch(cudaStream_t stream) { return pdl_enabled(stream) && !capture_joins_streams(stream); }

// kernel<<<grid, block, smem, stream>>>(args...) with programmatic stream serialization when enabled and
// the launch follows no captured event join (see above). The kernel must start with pdl_begin(). The caller
// checks the launch (DV_CUDA_LAUNCH_CHECK).
template <class... Params, class... Args>
void launch_kernel_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                       Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = pdl_launch(stream) ? 1 : 0;
  DV_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

}  // namespace dv::kernels
