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
// such a join delivers, before that wait (work_units.cuh, step 2), so by default a kernel captured with more
// than one dependency (a join) is launched plainly: all its edges stay full. A fork (one dependency, on another
// stream's kernel) keeps PDL: that kernel is its only predecessor, read after the wait like any other.
// Joins with PDL (opt-in, DEJAVU_PDL_JOINS=wait): griddepcontrol.wait waits until ALL prerequisite grids have
// completed and their memory is visible, the joined stream's too, so a kernel that reads nothing this step
// produced before its first wait is race-free with its join edges programmatic, and saves the launch latency a
// plain launch costs at each join (about two a layer with predictors). Every kernel launched here does so:
// those that start with pdl_begin(), and the work-unit ops, launched after a join as the instantiation whose
// PdlSync waits in indices() (PdlLaunch::joined, work_units.cuh). A kernel that reads a joined stream's output
// before its wait must not be launched here; cuBLAS and the plain <<<>>> kernels get no attribute, so their
// edges stay full.
// Switches (read at each launch, i.e. when a graph is captured): DEJAVU_PDL=0 launches plainly; on by default on
// devices of compute capability >= 9.0, never on the legacy default stream. DEJAVU_PDL_JOINS=plain (default) or
// =wait: how a kernel captured after a join is launched (above).
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>
#include <utility>

#include "kernels/common/cuda_check.h"
#include "kernels/common/error.h"

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

// How a kernel captured right after an event join is launched (DEJAVU_PDL_JOINS).
enum class PdlJoins {
  kPlain,  // unset, empty or "plain": plainly, every edge into it a full dependency
  kWait,   // "wait": with PDL, where the kernel reads nothing this step produced before its first wait
};

// DEJAVU_PDL_JOINS's value (nullptr: unset) as a mode; any other value is an error naming the variable.
inline PdlJoins parse_pdl_joins(const char* value) {
  if (value == nullptr || *value == '\0' || std::strcmp(value, "plain") == 0) return PdlJoins::kPlain;
  DV_CHECK(std::strcmp(value, "wait") == 0, "DEJAVU_PDL_JOINS = '{}': expected 'plain' (the default) or 'wait'",
           value);
  return PdlJoins::kWait;
}

// How one launch is made: decided before the kernel is picked (a unit kernel's instantiation follows `joined`).
struct PdlLaunch {
  bool programmatic = false;  // the PDL launch attribute
  bool joined = false;        // ... kept right after a captured join: wait before reading this step's data
};

// The launch a kernel gets on `stream` now: PDL when enabled, after a captured join only under
// DEJAVU_PDL_JOINS=wait, and then `joined`.
inline PdlLaunch pdl_launch(cudaStream_t stream) {
  if (!pdl_enabled(stream)) return {};
  if (!capture_joins_streams(stream)) return {true, false};
  if (parse_pdl_joins(std::getenv("DEJAVU_PDL_JOINS")) == PdlJoins::kWait) return {true, true};
  return {};
}

// kernel<<<grid, block, smem, stream>>>(args...), with programmatic stream serialization where `how` says.
// The caller checks the launch (DV_CUDA_LAUNCH_CHECK).
template <class... Params, class... Args>
void launch_kernel(const PdlLaunch& how, void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem,
                   cudaStream_t stream, Args&&... args) {
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attr[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.dynamicSmemBytes = smem;
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = how.programmatic ? 1 : 0;
  DV_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, std::forward<Args>(args)...));
}

// A kernel that starts with pdl_begin(), with PDL where pdl_launch says (it reads nothing before its wait, so
// `joined` needs no action). The caller checks the launch.
template <class... Params, class... Args>
void launch_kernel_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                       Args&&... args) {
  launch_kernel(pdl_launch(stream), kernel, grid, block, smem, stream, std::forward<Args>(args)...);
}

}  // namespace dv::kernels
