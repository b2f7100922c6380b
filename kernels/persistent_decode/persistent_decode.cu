// persistent_decode.cu: the persistent decode kernel and its cooperative launch (see persistent_decode.cuh).
#include "kernels/persistent_decode/persistent_decode.cuh"

#include <algorithm>

#include "kernels/common/cuda_check.h"
#include "kernels/persistent_decode/persistent_sync.cuh"

namespace dv::kernels {
namespace {

template <bool kL1Inputs>
__global__ void __launch_bounds__(kOpThreads, 2)
    persistent_decode_kernel(const __grid_constant__ PersistentDecodeParams p) {
  extern __shared__ __align__(16) char smem[];
  __shared__ int failed, grabbed;
  __shared__ unsigned long long epoch_shared;
  if (threadIdx.x == 0) {
    epoch_shared = *reinterpret_cast<volatile unsigned long long*>(&p.wait.control->epoch);
    failed = *reinterpret_cast<volatile int*>(&p.wait.control->abort);
  }
  __syncthreads();
  if (failed != 0) return;  // an earlier step's watchdog fired: the host reports it, nothing runs
  const unsigned long long epoch = epoch_shared;

  for (int i = p.cta_first[blockIdx.x]; i < p.cta_first[blockIdx.x + 1]; ++i) {
    const PersistentInstruction in = p.instructions[i];
    const DecodeOpKind kind = static_cast<DecodeOpKind>(p.wait.headers[in.op].kind);
    const unsigned long long reached = p.trace != nullptr && threadIdx.x == 0 ? global_timer_ns() : 0ull;
    auto run_unit = [&](int u) {
      const PersistentSyncT<kL1Inputs> sync{&p.wait, in.op, u, epoch, &failed};
      run_decode_op(kind, p.ops[in.op], u, smem, sync);
      __syncthreads();  // the unit's writes are done and its shared memory is free
    };
    int ran = in.unit_end - in.unit_begin;
    if (in.unit_begin == kDynamicUnits) {
      const int units = p.wait.headers[in.op].units;
      const unsigned long long base = epoch * static_cast<unsigned long long>(units + in.unit_end);
      for (ran = 0;; ++ran) {
        if (threadIdx.x == 0) grabbed = static_cast<int>(atomicAdd(p.wait.grabs + in.op, 1ull) - base);
        __syncthreads();
        const int u = grabbed;
        __syncthreads();  // every thread has read it before thread 0 grabs again
        if (u >= units) break;
        run_unit(u);
      }
    } else {
      for (int u = in.unit_begin; u < in.unit_end; ++u) run_unit(u);
    }
    if (threadIdx.x == 0 && ran > 0) {  // a dynamic instruction that got no unit neither counts nor traces
      __threadfence();  // release: the CTA's writes (ordered by the barrier) before the count
      if (p.trace != nullptr) {
        // Read before the count, so no op waiting for this one can finish before this end (decode_trace.h).
        const unsigned long long done = global_timer_ns();
        PersistentOpTrace* t = p.trace + in.op;
        atomicMin(&t->start, reached);
        atomicMax(&t->end, done);
        atomicAdd(&t->busy, done - reached);
      }
      atomicAdd(p.wait.counters + in.op, static_cast<unsigned long long>(ran));
    }
  }
  if (threadIdx.x == 0) {
    __threadfence();
    const unsigned long long done = atomicAdd(&p.wait.control->finished, 1ull) + 1ull;
    if (done == (epoch + 1) * gridDim.x) {  // the step's last CTA: every unit has run
      __threadfence();
      const int next = *reinterpret_cast<volatile int*>(p.pos) + 1;
      *p.pos = next;
      for (int b = 0; b < p.batch; ++b) p.positions[b] = next;
      __threadfence();
      *reinterpret_cast<volatile unsigned long long*>(&p.wait.control->epoch) = epoch + 1;
    }
  }
}

}  // namespace

int persistent_decode_smem_bytes() { return decode_op_smem_bytes(); }

namespace {
using KernelFn = void (*)(PersistentDecodeParams);

// The kernel of a load policy, with its opt-in to dynamic shared memory above the default 48 KB (fused_mlp's
// unit takes 96 KB).
KernelFn kernel_for(bool l1_inputs) {
  const KernelFn k = l1_inputs ? persistent_decode_kernel<true> : persistent_decode_kernel<false>;
  DV_CUDA_CHECK(cudaFuncSetAttribute(k, cudaFuncAttributeMaxDynamicSharedMemorySize, persistent_decode_smem_bytes()));
  return k;
}

int ctas_per_sm(bool l1_inputs) {
  int per_sm = 0;
  DV_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel_for(l1_inputs), kOpThreads,
                                                              persistent_decode_smem_bytes()));
  return per_sm;
}
}  // namespace

int persistent_decode_ctas_per_sm() {
  const int per_sm = std::min(ctas_per_sm(false), ctas_per_sm(true));  // one schedule serves both policies
  DV_CHECK(per_sm >= 1, "persistent decode: no CTA of {} threads and {} bytes of shared memory fits on an SM",
           kOpThreads, persistent_decode_smem_bytes());
  return std::min(per_sm, 2);
}

void launch_persistent_decode(const PersistentDecodeParams& p, int ctas, cudaStream_t stream, bool l1_inputs) {
  DV_CHECK(ctas >= 1 && p.ops != nullptr && p.instructions != nullptr && p.cta_first != nullptr &&
               p.wait.headers != nullptr && p.wait.counters != nullptr && p.wait.control != nullptr &&
               p.wait.error != nullptr && p.pos != nullptr && p.positions != nullptr,
           "persistent decode: {} CTAs and a null table, counter, control or position pointer", ctas);
  DV_CHECK(p.batch >= 1 && p.wait.watchdog_ns > 0, "persistent decode: batch {} and watchdog {} ns", p.batch,
           p.wait.watchdog_ns);
  DV_CHECK(p.smem_bytes >= 0 && p.smem_bytes <= persistent_decode_smem_bytes(),
           "persistent decode: {} bytes of shared memory a CTA, outside 0..{}", p.smem_bytes,
           persistent_decode_smem_bytes());
  const KernelFn kernel = kernel_for(l1_inputs);
  cudaLaunchAttribute attr[1];
  attr[0].id = cudaLaunchAttributeCooperative;
  attr[0].val.cooperative = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = dim3(static_cast<unsigned>(ctas));
  cfg.blockDim = dim3(kOpThreads);
  cfg.dynamicSmemBytes = static_cast<size_t>(p.smem_bytes > 0 ? p.smem_bytes : persistent_decode_smem_bytes());
  cfg.stream = stream;
  cfg.attrs = attr;
  cfg.numAttrs = 1;
  DV_CUDA_CHECK(cudaLaunchKernelEx(&cfg, kernel, p));
  DV_CUDA_LAUNCH_CHECK("persistent_decode_kernel");
}

}  // namespace dv::kernels
