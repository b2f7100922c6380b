// work_units.cuh: the decode step's ops written once, as work units, so that one body runs in a plain kernel
// launch (the graph path: one CTA per unit, PDL between consecutive kernels) and inside the persistent decode
// kernel (engine/cuda/persistent: every CTA walks a host-built list of (op, layer, unit) and waits on step-tagged
// counters instead of kernel boundaries). Hazy Research's megakernel and Mirage's MPK split work the same way.
//
// An op is a copyable struct of raw pointers and sizes with
//   static constexpr int kSmemBytes;             dynamic shared memory one unit needs (<= kUnitSmemMax)
//   int max_units() const;                       host: units at the op's capacity (sizes grids and lists)
//   template <class Sync>
//   __device__ void run(int unit, char* smem, const Sync& sync) const;
// run() is called by all kUnitThreads threads of one CTA, for unit in [0, max_units()). A unit past the op's
// run-time extent (a selection shorter than its capacity) returns without work; the persistent kernel still
// counts it done. Inside run(), in this order, each at most once and by every thread of the CTA:
//   1. loads that depend on nothing this step produces (weights at host-fixed rows, biases, LN weights);
//   2. sync.indices(): before the first read of a selection made in this step (a predictor's idx / count);
//      loads of weights at those indices follow;
//   3. sync.inputs(): before the first read of activations written earlier in this step (the op's inputs),
//      and before the unit's first global write.
// Reads of what this step wrote (inputs, selections) go through Sync::load (the load policy): the graph path
// reads them through the read-only path (__ldg: an earlier kernel wrote them, nothing writes them during this
// one); the persistent kernel with weak loads after its acquiring wait (L1 may cache them; or ld.global.cg,
// L2 only, under DEJAVU_PERSISTENT_LOADS=l2), never the non-coherent path: another CTA of the same launch wrote
// them, and ld.global.nc is only valid for data that is read-only for the whole launch (persistent_sync.cuh).
// Weights keep the streaming / read-only loads in both.
// A unit that must combine with other units of the same op (split-K) does so without waiting for them: fp32
// reductions plus the last arriver finalizing (an arrival counter it resets). No unit ever spins on another
// unit of its own op: that is what keeps the persistent kernel free of deadlock.
#pragma once

#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"
#if defined(__CUDACC__)
#include "kernels/common/pdl.cuh"
#endif

namespace dv::kernels {

// Host-visible, like the op structs (a struct's fields and max_units(); its device body sits under __CUDACC__),
// so that host C++ (the persistent path's plan) fills op structs the kernel runs.
constexpr int kUnitThreads = 256;            // every op's CTA: 8 warps
constexpr int kUnitSmemMax = 96 * 1024;      // per unit, so two CTAs fit on an sm_90 SM (228 KB)

#if defined(__CUDACC__)

// The graph path's sync: inputs come from the previous kernel in the stream (PDL: wait for it, then let the
// next kernel's CTAs be scheduled). Selections come through a stream event join before the launch: by default
// a kernel captured after a join is launched plainly (a full dependency, see pdl.cuh), so indices() has
// nothing to wait for and the weights at the selection stream in before the input wait. Under
// DEJAVU_PDL_JOINS=wait such a kernel keeps PDL and its join edge becomes programmatic: the selection may not
// be written yet when the CTA starts, so the kernel runs with PdlSync<true>, whose indices() waits
// (griddepcontrol.wait: every prerequisite grid, the joined stream's too, complete and visible). Ops that read
// no selection keep their prefetch either way. A compile-time choice, not a flag: ptxas hoists the
// read-only (__ldg) load of the selection above a griddepcontrol.wait it must branch around (seen in the
// SASS of sparse_qkv, CUDA 13), while it keeps loads behind an unconditional one, as in inputs().
template <bool kAfterJoin>
struct PdlSync {
  template <class T>
  __device__ __forceinline__ static T load(const T* p) {
    return __ldg(p);
  }
  __device__ __forceinline__ void indices() const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    if constexpr (kAfterJoin) asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
  }
  __device__ __forceinline__ void inputs() const {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
    asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
  }
};

template <class Op, bool kAfterJoin>
__global__ void __launch_bounds__(kUnitThreads) unit_kernel(Op op) {
  extern __shared__ __align__(16) char smem[];
  op.run(static_cast<int>(blockIdx.x), smem, PdlSync<kAfterJoin>{});
}

// A unit kernel (one CTA of kUnitThreads per unit, running op.run with a PdlSync) over `units` units on
// `stream`, with PDL where pdl_launch says: `after_join` (the instantiation with PdlSync<true>) when that
// follows a captured join, else `plain`. The caller checks the launch.
template <class Op>
void launch_unit_kernel(void (*plain)(Op), void (*after_join)(Op), int units, int smem, cudaStream_t stream,
                        const Op& op) {
  const PdlLaunch how = pdl_launch(stream);
  void (*kernel)(Op) = how.joined ? after_join : plain;
  if (smem > 48 * 1024)
    DV_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem));
  launch_kernel(how, kernel, dim3(units), dim3(kUnitThreads), smem, stream, op);
}

// One CTA per unit on `stream`, with PDL (see pdl.cuh); `name` for the launch check.
template <class Op>
void launch_units(const Op& op, cudaStream_t stream, const char* name) {
  static_assert(Op::kSmemBytes <= kUnitSmemMax, "op needs more shared memory than a unit may have");
  const int units = op.max_units();
  if (units <= 0) return;
  launch_unit_kernel(unit_kernel<Op, false>, unit_kernel<Op, true>, units, Op::kSmemBytes, stream, op);
  DV_CUDA_LAUNCH_CHECK(name);
}
#endif  // __CUDACC__

}  // namespace dv::kernels
