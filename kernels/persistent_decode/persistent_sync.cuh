// persistent_sync.cuh: how the persistent decode kernel's units wait for each other, and the watchdog.
//
// Every op of the step has one 64-bit counter in global memory that only ever grows: each unit adds 1 after
// its writes (per instruction: the CTA's unit range at once, after a barrier and a fence, i.e. release). In the
// step with epoch e (steps this schedule has finished before, kept on the device) an op with U units is
// complete when its counter reaches (e + 1) * U, so counters are tagged by step and never reset, and no grid
// barrier exists anywhere. A waiting CTA polls with one thread (acquire loads, __nanosleep backoff), then
// fences and releases the rest of the CTA through __syncthreads (the cooperative-groups grid.sync pattern).
// Watchdog: a wait that exceeds watchdog_ns of %globaltimer records the first such wait in `error` (host
// mapped memory: the host reads it without a sync), raises `abort`, and the CTA exits; every other wait sees
// `abort` and exits too, and later launches return at once, so a broken schedule costs one bound, not a hang.
#pragma once

#include <cuda_runtime.h>

#include "kernels/persistent_decode/persistent_types.h"

namespace dv::kernels {

__device__ __forceinline__ unsigned long long global_timer_ns() {
  unsigned long long t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

__device__ __forceinline__ unsigned long long load_acquire(const unsigned long long* p) {
  unsigned long long v;
  asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}

// Thread-level: true once *counter >= target; false when the watchdog fired here or elsewhere.
__device__ inline bool wait_counter(const PersistentWaitContext& w, int op, int dep, int unit,
                                    unsigned long long target, unsigned long long epoch) {
  const unsigned long long* counter = w.counters + dep;
  if (load_acquire(counter) >= target) return true;
  const unsigned long long t0 = global_timer_ns();
  unsigned ns = 32;
  for (;;) {
    __nanosleep(ns);
    ns = ns < 512 ? 2 * ns : ns;
    const unsigned long long seen = load_acquire(counter);
    if (seen >= target) return true;
    if (*reinterpret_cast<volatile int*>(&w.control->abort) != 0) return false;
    if (static_cast<long long>(global_timer_ns() - t0) > w.watchdog_ns) {
      // The first CTA to time out raises abort (device memory, so the election needs no atomics on host
      // memory) and writes the report with plain stores, the flag last.
      if (atomicCAS(&w.control->abort, 0, 1) == 0) {
        volatile PersistentError* e = w.error;
        e->op = op;
        e->dep = dep;
        e->unit = unit;
        e->target = target;
        e->seen = seen;
        e->epoch = epoch;
        __threadfence_system();
        e->flag = 1;
        __threadfence_system();
      }
      return false;
    }
  }
}

// The work-unit Sync of the persistent kernel (see work_units.cuh): indices() and inputs() wait for the ops
// this op reads; a failed wait ends the CTA (every thread exits after the barrier).
// The load policy (work_units.cuh) for what this launch wrote: with kL1Inputs (the engine's default) plain weak
// loads, which L1 may cache, or through L2 only (ld.global.cg). Both are valid after the wait: thread 0's acquire
// load at gpu scope and fence, then the CTA barrier, put every thread's later weak loads in causality order after
// the producers' fence and count (the PTX memory model; the pattern cooperative groups' grid sync relies on). What
// must never be used is the non-coherent path (ld.global.nc): it is only defined for data that no thread writes
// during the launch. Why an A/B: the ops re-read the same inputs and indices from
// every warp (sparse_mlp_down: each warp's h rows and idx, once per 16-row step, in its loop's dependency chain);
// the graph path's __ldg serves the repeats from L1, the persistent path's .cg from L2 (session 14's trace: W_o
// ran 34 us a layer inside the kernel on opt-13b where the graph path's whole layer is 92). Measured (H200,
// 59b3546): every persistent row 3-10 % faster with L1 (step_switches.cpp); DEJAVU_PERSISTENT_LOADS=l2 for A/B.
template <bool kL1Inputs>
struct PersistentSyncT {
  // Ops may prefetch a unit's weights into L2 before its input wait (SparseMlpDownArgs::prefetch_unit): here a
  // CTA can reach an op long before its inputs are ready.
  static constexpr bool kPrefetchesUnits = true;
  template <class T>
  __device__ __forceinline__ static T load(const T* p) {
    if constexpr (kL1Inputs) {
      return *p;
    } else {
      return __ldcg(p);
    }
  }

  const PersistentWaitContext* w = nullptr;
  int op = 0;
  int unit = 0;
  unsigned long long epoch = 0;
  int* failed = nullptr;  // shared memory flag

  __device__ void wait_range(int begin, int end) const {
    if (threadIdx.x == 0) {
      int f = 0;
      for (int i = begin; i < end && f == 0; ++i) {
        const int dep = w->deps[i];
        const unsigned long long target =
            (epoch + 1) * static_cast<unsigned long long>(w->headers[dep].units) + (op == w->stuck_op ? 1 : 0);
        f = wait_counter(*w, op, dep, unit, target, epoch) ? 0 : 1;
      }
      __threadfence();
      *failed = f;
    }
    __syncthreads();
    if (*failed != 0) asm volatile("exit;");
  }
  __device__ void indices() const { wait_range(w->headers[op].index_begin, w->headers[op].input_begin); }
  __device__ void inputs() const { wait_range(w->headers[op].input_begin, w->headers[op].input_end); }
};
using PersistentSync = PersistentSyncT<false>;

}  // namespace dv::kernels
