// l2_warmup.cuh: put the next op's weights into L2 while a latency-bound op runs (an A/B experiment, off in the
// engine: DEJAVU_L2_WARMUP, engine/cuda/step_switches.cpp).
// Why it was tried: at batch 1 the decode step alternates kernels that stream weights at the copy bandwidth with
// kernels that move almost nothing (decode attention reads ~1 MB of K/V at opt-13b; the one-CTA layer norms
// 10 KB), so DRAM idles for microseconds a layer while the weights the next kernel will read are already known.
// An L2Warmup names those bytes; warm units issue bulk L2 prefetches for them, either in front of the
// latency-bound op (L2WarmedOp) or as a kernel of their own on a forked stream (launch_l2_warmup). The prefetch is
// only a hint: it changes no result, and a wrong address in range costs bytes. Measured on the H100, both forms
// lose (kernels/bench/NOTES.md): the next kernel's PDL wait covers warm units in front of an op, so the bytes move
// in series with it; a forked kernel's resident CTAs likely take slots from the one-wave sparse kernels.
//
// What is warmed: for each listed index i (idx[0 .. min(*count, max_count)), or 0 .. max_count - 1 without idx)
// and part p < parts, the block of block_bytes at base + i * block_bytes + p * part_stride, in list order, up to
// budget_bytes in all (whole pieces of kL2WarmupPiece). The engine's blocks (one part each): W_o^T rows of a head
// (hd * d * 2 bytes), w_qkv's q, k and v rows of a head (3 * hd * d * 2, one block in both layouts), fc1 / fc2^T rows.
// Host-visible like the op structs (work_units.cuh): the engine fills it, device code runs it.
#pragma once

#include <cstdint>

#include "kernels/common/error.h"
#include "kernels/common/work_units.cuh"

namespace dv::kernels {

constexpr unsigned kL2WarmupPiece = 16 * 1024;  // bytes a prefetch instruction names at most
constexpr int kL2WarmupPiecesPerUnit = 16;      // pieces a warm unit issues at most (sizes the unit count)

struct L2Warmup {
  const char* base = nullptr;  // nullptr: nothing to warm
  const int* idx = nullptr;    // selected indices (this step's, device), or nullptr: 0 .. max_count - 1
  const int* count = nullptr;  // device count (clamped to [0, max_count]), or nullptr: max_count
  int max_count = 0;
  int num_indices = 0;         // indices outside [0, num_indices) are skipped
  unsigned block_bytes = 0;    // multiple of 16
  long long part_stride = 0;   // bytes between an index's parts
  int parts = 1;
  long long budget_bytes = 0;  // at most this many bytes (rounded up to whole pieces)

  __host__ __device__ bool active() const { return base != nullptr && block_bytes > 0 && budget_bytes > 0; }
  __host__ __device__ unsigned pieces_per_block() const { return (block_bytes + kL2WarmupPiece - 1) / kL2WarmupPiece; }
  // Pieces of the first `blocks` blocks that fit the budget.
  __host__ __device__ long long pieces(long long blocks) const {
    const long long all = blocks * pieces_per_block();
    const long long cap = (budget_bytes + kL2WarmupPiece - 1) / kL2WarmupPiece;
    return all < cap ? all : cap;
  }
  // Piece g (< pieces(blocks)): its byte offset from base and its size; false for an index out of range.
  __host__ __device__ bool piece(long long g, int index, long long* offset, unsigned* bytes) const {
    if (index < 0 || index >= num_indices) return false;
    const unsigned ppb = pieces_per_block();
    const long long j = g / ppb;
    const unsigned k = static_cast<unsigned>(g % ppb);
    const int part = static_cast<int>(j % parts);
    *offset = static_cast<long long>(index) * block_bytes + part * part_stride +
              static_cast<long long>(k) * kL2WarmupPiece;
    const unsigned left = block_bytes - k * kL2WarmupPiece;
    *bytes = left < kL2WarmupPiece ? left : kL2WarmupPiece;
    return true;
  }
  // The list slot piece g belongs to.
  __host__ __device__ long long slot(long long g) const { return g / pieces_per_block() / parts; }
};

// Host: warm units for `w` at its capacity (each issues up to kL2WarmupPiecesPerUnit pieces), at most half the
// SMs so the op's own units keep their places; 0 when there is nothing to warm.
inline int l2_warmup_units(const L2Warmup& w, int num_sms) {
  if (!w.active() || w.max_count <= 0) return 0;
  const long long pieces = w.pieces(static_cast<long long>(w.max_count) * w.parts);
  const long long units = (pieces + kL2WarmupPiecesPerUnit - 1) / kL2WarmupPiecesPerUnit;
  const long long most = num_sms / 2 > 1 ? num_sms / 2 : 1;
  return static_cast<int>(units < most ? units : most);
}

// Host: throws dv::Error naming `op` when an active warm-up's pieces could not be prefetched (bulk prefetches
// take 16-byte aligned addresses and sizes).
inline void check_l2_warmup(const L2Warmup& w, const char* op) {
  if (!w.active()) return;
  DV_CHECK(reinterpret_cast<uintptr_t>(w.base) % 16 == 0 && w.block_bytes % 16 == 0 && w.part_stride % 16 == 0,
           "{}: L2 warm-up base, block_bytes {} and part_stride {} must be 16-byte aligned", op, w.block_bytes,
           w.part_stride);
  DV_CHECK(w.parts >= 1 && w.max_count >= 0 && w.num_indices >= 0,
           "{}: L2 warm-up with {} parts, max_count {}, num_indices {}", op, w.parts, w.max_count, w.num_indices);
}

// The warm-up alone, as a kernel of l2_warmup_units(w, num_sms) CTAs on `stream` (kernels/l2_warmup/l2_warmup.cu):
// for a stream forked beside the op, so that nothing after the op waits for the prefetches.
void launch_l2_warmup(const L2Warmup& w, int num_sms, cudaStream_t stream);

#if defined(__CUDACC__)
// Warm unit `worker` of `workers`: its share of the pieces, one per thread at a time. Reads the selection, so it
// runs after Sync::indices().
template <class Sync>
__device__ inline void l2_warmup(const L2Warmup& w, int worker, int workers) {
  int n = w.max_count;
  if (w.count != nullptr) n = min(max(Sync::load(w.count), 0), w.max_count);
  const long long total = w.pieces(static_cast<long long>(n) * w.parts);
  for (long long g = static_cast<long long>(worker) * kUnitThreads + threadIdx.x; g < total;
       g += static_cast<long long>(workers) * kUnitThreads) {
    const long long s = w.slot(g);
    const int index = w.idx != nullptr ? Sync::load(w.idx + s) : static_cast<int>(s);
    long long offset = 0;
    unsigned bytes = 0;
    if (!w.piece(g, index, &offset, &bytes)) continue;
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
    asm volatile("cp.async.bulk.prefetch.L2.global [%0], %1;" ::"l"(w.base + offset), "r"(bytes) : "memory");
#endif
  }
}

// Op with warm units in front: units [0, warm_units) warm `warm`, the rest run `op` (its unit u at warm_units + u).
// In front because CTAs start in unit order, and the prefetch is worth most when it starts first.
template <class Op>
struct L2WarmedOp {
  static constexpr int kSmemBytes = Op::kSmemBytes;
  Op op;
  L2Warmup warm;
  int warm_units = 0;

  __host__ __device__ int max_units() const { return warm_units + op.max_units(); }

  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    if (unit >= warm_units) {
      op.run(unit - warm_units, smem, sync);
      return;
    }
    sync.indices();
    l2_warmup<Sync>(warm, unit, warm_units);
  }
};

// The graph path's launch of `op` with warm units for `warm` in front when it names anything (else `op` alone).
template <class Op>
void launch_units_warmed(const Op& op, const L2Warmup& warm, int num_sms, cudaStream_t stream, const char* name) {
  const int units = l2_warmup_units(warm, num_sms);
  if (units == 0) {
    launch_units(op, stream, name);
    return;
  }
  launch_units(L2WarmedOp<Op>{op, warm, units}, stream, name);
}
#endif  // __CUDACC__

}  // namespace dv::kernels
