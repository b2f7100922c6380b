// sparse_qkv_op.cuh: sparse_qkv and kv_catchup (contract in sparse_qkv.cuh) as work-unit ops
// (kernels/common/work_units.cuh): the graph path launches them one CTA per unit (sparse_qkv.cu), the
// persistent decode kernel runs the same run() from its instruction lists.
//
// SparseQkvOp units: without all_kv, unit = slot * 3*hd/16 + block (a selected head's q, k and v row blocks
// side by side); with all_kv, the selected heads' q blocks first, then every head's k and v blocks. Every unit
// also copies its share of x into the x_hist ring, and unit 0 picks the forced heads (max_forced > 0): among
// the heads not selected, those missing >= force_lag positions, largest lag first (ties: lower head), at most
// max_forced; it lists them with their first missing position and sets their kv_valid to pos + 1 (no unit of
// this launch reads a head that is not selected, and kv_catchup writes the rows before the next step).
// With the fused layer norm (ln_gamma) every unit that projects or copies history first computes the B rows'
// statistics (qkv_layer_norm.cuh: from x, or from x's producer's row partials), after its weight prefetch and
// input wait.
// KvCatchupOp units: forced slot * 2*hd/16 + block, K then V.
// The structs are host-visible (fields, max_units(), kSmemBytes); their device bodies sit under __CUDACC__.
#pragma once

#include "kernels/sparse_qkv/qkv_layout.h"
#include "kernels/sparse_qkv/sparse_qkv.cuh"
#if defined(__CUDACC__)
#include "kernels/sparse_qkv/qkv_projection.cuh"
#endif

namespace dv::kernels {

struct SparseQkvOp {
  SparseQkvArgs a;
  // + the forced choice's flags and the layer norm's statistics.
  static constexpr int kFlagsOff = qkv::kSmemBytes, kStatsOff = kFlagsOff + kSparseQkvMaxHeads * 4;
  static constexpr int kSmemBytes = kStatsOff + qkv::kLnStatsBytes;

  __host__ __device__ int per_part() const { return a.head_dim / qkv::kRows; }
  __host__ __device__ int q_units() const { return a.all_kv ? a.max_heads * per_part() : 0; }
  __host__ __device__ int max_units() const {
    const int n = a.all_kv ? q_units() + a.num_heads * 2 * per_part() : a.max_heads * 3 * per_part();
    return n > 0 ? n : 1;  // the x_hist copy and the forced choice run even without a slice
  }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    run_as<Sync, false>(unit, smem, sync);
  }

  // kVariants: honour SparseQkvArgs' A/B fields (prefetch, plain_unroll, pipelined) and ln_row_partials. Only
  // launch_sparse_qkv's kernel compiles them in; the persistent decode kernel's run() keeps the default's code
  // (and registers). kTiled: w_qkv in the tiled layout (tiled_weights; a kernel of its own, see sparse_qkv.cu).
  template <class Sync, bool kVariants, bool kTiled = false>
  __device__ void run_as(int unit, char* smem, const Sync& sync) const {
    const int pos = *a.pos;  // written by the previous step's last kernel
    if (pos < 0 || pos >= a.max_len) return;
    sync.indices();
    const int count = min(Sync::load(a.num_selected), a.max_heads);
    const UnitPlan u = plan_unit<Sync>(unit, count, pos);
    float* stats = reinterpret_cast<float*>(smem + kStatsOff);
    const qkv::Projection p = projection(stats);
    if (u.vslot != -2 && (!kVariants || a.prefetch)) qkv::prefetch_slice<kTiled>(p, u.s);
    sync.inputs();
    const bool works = u.vslot != -2 || a.x_hist != nullptr || (unit == 0 && a.max_forced > 0);
    if (!works) return;
    if (a.ln_gamma != nullptr) row_stats<Sync, kVariants>(smem, stats);
    copy_history<Sync>(unit, pos, stats);
    if (unit == 0 && a.max_forced > 0) choose_forced<Sync>(count, pos, reinterpret_cast<int*>(smem + kFlagsOff));
    if (u.vslot == -2) return;
    const qkv::PlainPass plain = !kVariants        ? qkv::PlainPass::kUnroll4
                                 : a.pipelined     ? qkv::PlainPass::kPipelined
                                 : a.plain_unroll == 8 ? qkv::PlainPass::kUnroll8
                                                       : qkv::PlainPass::kUnroll4;
    qkv::project_slice<Sync, kTiled>(p, u.s, pos, smem, plain);
    finish_unit(u, pos);
  }

  // SparseQkvArgs::loop_units (graph launch only): this CTA runs units blockIdx.x, + gridDim.x, ... What every
  // unit shares (pos, the selection count, the layer norm's statistics) is read once; the next unit's slice
  // (head, kv_valid, addresses) is resolved before the current unit's plain pass (after a catch-up pass), and
  // with `pipelined` the next plain pass's first weight round is issued before the current one's epilogue
  // (project_pass_pipelined), so the CTA has weight loads in flight across unit boundaries. The x_hist copy,
  // the forced choice (unit 0) and the kv_valid and catch-up counter updates are each unit's, as in run_as.
  // Its own kernel (sparse_qkv.cu): 128 registers, ~330 bytes of spill stores in the per-unit planning (none
  // in a k loop; kernels/bench/NOTES.md).
  template <class Sync>
  __device__ void run_looped(char* smem, const Sync& sync) const {
    const int pos = *a.pos;
    if (pos < 0 || pos >= a.max_len) return;
    sync.indices();
    const int count = min(Sync::load(a.num_selected), a.max_heads), units = max_units();
    float* stats = reinterpret_cast<float*>(smem + kStatsOff);
    const qkv::Projection p = projection(stats);
    int unit = static_cast<int>(blockIdx.x);
    UnitPlan cur = plan_unit<Sync>(unit, count, pos);
    // Weights do not depend on the previous kernel: the first round is issued before the input wait.
    qkv::WeightRound<qkv::kPipeUnroll> first;
    bool preloaded = a.pipelined && cur.vslot != -2 && qkv::plain_slice(p, cur.s, pos);
    if (preloaded) {
      int kc0, kc1;
      qkv::warp_chunks(p, kc0, kc1);
      qkv::load_round(first, qkv::lane_weights(p, cur.s), p.d, kc0, kc1);
    } else if (cur.vslot != -2 && a.prefetch) {
      qkv::prefetch_slice(p, cur.s);
    }
    sync.inputs();
    if (a.ln_gamma != nullptr) row_stats<Sync, true>(smem, stats);
    for (; unit < units; unit += gridDim.x) {
      copy_history<Sync>(unit, pos, stats);
      if (unit == 0 && a.max_forced > 0) choose_forced<Sync>(count, pos, reinterpret_cast<int*>(smem + kFlagsOff));
      // The next unit's slice is resolved before a plain pass (so its loads can go out before this epilogue),
      // after a catch-up pass, whose accumulators leave no registers for it.
      const int after = unit + static_cast<int>(gridDim.x);
      const bool plain = cur.vslot == -2 || qkv::plain_slice(p, cur.s, pos);
      UnitPlan next;
      if (plain && after < units) next = plan_unit<Sync>(after, count, pos);
      if (cur.vslot != -2) {
        if (a.pipelined && plain) {  // (preloaded only if so)
          const bool ahead = next.vslot != -2 && qkv::plain_slice(p, next.s, pos);
          qkv::project_pass_pipelined<Sync>(p, cur.s, pos, (pos - cur.s.t_begin + 1) * a.batch, smem, first,
                                            preloaded, ahead ? qkv::lane_weights(p, next.s) : nullptr);
          preloaded = ahead;
        } else {
          qkv::project_slice<Sync>(p, cur.s, pos, smem,
                                   a.plain_unroll == 8 ? qkv::PlainPass::kUnroll8 : qkv::PlainPass::kUnroll4);
          // Redefined here (preloaded is false after this pass), so `first` is not live across the catch-up
          // passes above.
          first = qkv::WeightRound<qkv::kPipeUnroll>{};
          preloaded = false;
        }
        finish_unit(cur, pos);
      }
      if (!plain && after < units) next = plan_unit<Sync>(after, count, pos);
      cur = next;
    }
  }

 private:
  // One unit's slice and its kv_valid bookkeeping.
  struct UnitPlan {
    qkv::Slice s;
    int vslot = -2;             // kv_valid slot, -1 for a q block, -2 for no slice
    int missing = 0, lost = 0;  // positions recomputed, positions that fell out of the ring
  };

  template <class Sync>
  __device__ UnitPlan plan_unit(int unit, int count, int pos) const {
    UnitPlan u;
    u.vslot = slice_of<Sync>(unit, count, u.s);
    u.s.t_begin = pos;
    if (u.vslot >= 0 && a.kv_valid != nullptr) {
      // kv_valid of a selected head is this unit's own slot: written by earlier steps only.
      const int v = min(max(a.kv_valid[u.vslot], 0), pos);
      u.s.t_begin = max(v, min(pos - a.ring + 1, pos));  // the ring holds pos - ring + 1 .. pos - 1 (+ x at pos)
      u.missing = pos - u.s.t_begin;
      u.lost = u.s.t_begin - v;
    }
    return u;
  }

  // After the unit's pass: every thread read kv_valid before the pass's barriers.
  __device__ void finish_unit(const UnitPlan& u, int pos) const {
    if (u.vslot < 0 || threadIdx.x != 0) return;
    if (a.kv_valid != nullptr) a.kv_valid[u.vslot] = pos + 1;
    if (a.catchup_counts != nullptr && u.s.part == 1 && u.s.r0 == 0) {  // once per head
      if (u.missing > 0) atomicAdd(a.catchup_counts + 3 * pos, u.missing);
      if (u.lost > 0) atomicAdd(a.catchup_counts + 3 * pos + 2, u.lost);
    }
  }

  // The B rows' layer-norm statistics into stats (kVariants: from ln_row_partials when set).
  template <class Sync, bool kVariants>
  __device__ void row_stats(char* smem, float* stats) const {
    if (kVariants && a.ln_row_partials != nullptr)
      qkv::row_stats_from_partials<Sync>(a.ln_row_partials, a.ln_partial_blocks, a.batch, sparse_qkv_width(a),
                                         a.ln_eps, stats);
    else
      qkv::row_stats<Sync>(a.x, a.batch, sparse_qkv_width(a), a.ln_eps, stats, reinterpret_cast<float*>(smem));
  }

  __device__ qkv::Projection projection(const float* stats) const {
    qkv::Projection p = qkv::kv_projection(a);
    p.q = a.q;
    p.x_cur = a.x;
    p.ln_gamma = a.ln_gamma;
    p.ln_beta = a.ln_beta;
    p.ln_stats = stats;
    return p;
  }

  // Fills s (head, part, rows) and returns the kv_valid slot (-1 for a q block), or -2 without a slice.
  template <class Sync>
  __device__ int slice_of(int unit, int count, qkv::Slice& s) const {
    const int pp = per_part();
    int block;
    if (!a.all_kv) {
      const int slot = unit / (3 * pp);
      if (slot >= count) return -2;
      s.h = Sync::load(a.heads + slot);
      block = unit % (3 * pp);
    } else if (unit < q_units()) {
      const int slot = unit / pp;
      if (slot >= count) return -2;
      s.h = Sync::load(a.heads + slot);
      block = unit % pp;
    } else {
      const int u = unit - q_units();
      s.h = u / (2 * pp);
      block = pp + u % (2 * pp);
    }
    if (s.h < 0 || s.h >= a.num_heads) return -2;
    s.part = block / pp;
    s.r0 = (block % pp) * qkv::kRows;
    return s.part == 0 ? -1 : s.h * 2 * pp + block - pp;
  }

  // x rows at pos (normalized, with the fused layer norm) into the ring, spread over all units.
  template <class Sync>
  __device__ void copy_history(int unit, int pos, const float* stats) const {
    if (a.x_hist == nullptr) return;
    const int nvec = sparse_qkv_width(a) / 8, row = pos % a.ring, units = max_units();
    for (int i = unit * kUnitThreads + threadIdx.x; i < a.batch * nvec; i += units * kUnitThreads) {
      const int b = i / nvec, c = i - b * nvec;
      uint4 v = Sync::load(reinterpret_cast<const uint4*>(a.x) + i);
      if (a.ln_gamma != nullptr)
        v = layer_norm8(v, __ldg(reinterpret_cast<const uint4*>(a.ln_gamma) + c),
                            __ldg(reinterpret_cast<const uint4*>(a.ln_beta) + c), stats[b],
                            stats[kSparseQkvLnMaxRows + b]);
      reinterpret_cast<uint4*>(a.x_hist + (static_cast<size_t>(b) * a.ring + row) * nvec * 8)[c] = v;
    }
  }

  template <class Sync>
  __device__ void choose_forced(int count, int pos, int* selected) const {
    const int H = a.num_heads, slots = sparse_qkv_valid_slots(a.head_dim);
    for (int h = threadIdx.x; h < H; h += kUnitThreads) selected[h] = 0;
    __syncthreads();
    for (int i = threadIdx.x; i < count; i += kUnitThreads) {
      const int h = Sync::load(a.heads + i);
      if (h >= 0 && h < H) selected[h] = 1;
    }
    __syncthreads();
    if (threadIdx.x >= 32) return;
    const int lane = threadIdx.x;
    // key = lag << 9 | (511 - h): the warp maximum is the largest lag, then the lowest head.
    constexpr int kPerLane = kSparseQkvMaxHeads / 32;
    unsigned key[kPerLane];
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) {
      const int h = lane + 32 * i;
      key[i] = 0;
      if (h < H && !selected[h]) {
        const int lag = pos - min(max(a.kv_valid[h * slots], 0), pos);
        if (lag >= a.force_lag) key[i] = (static_cast<unsigned>(lag) << 9) | (511u - h);
      }
    }
    int n = 0, positions = 0, lost = 0;
    for (; n < a.max_forced; ++n) {
      unsigned best = 0;
#pragma unroll
      for (int i = 0; i < kPerLane; ++i) best = max(best, key[i]);
      best = __reduce_max_sync(0xffffffffu, best);
      if (best == 0) break;
      const int h = 511 - static_cast<int>(best & 511u), lag = static_cast<int>(best >> 9);
#pragma unroll
      for (int i = 0; i < kPerLane; ++i)
        if (lane + 32 * i == h) key[i] = 0;
      const int from = max(pos - lag, pos - a.ring + 1);  // x_hist holds pos - ring + 1 .. pos after this launch
      if (lane == 0) {
        a.forced[2 * n] = h;
        a.forced[2 * n + 1] = from;
      }
      for (int sl = lane; sl < slots; sl += 32) a.kv_valid[h * slots + sl] = pos + 1;
      positions += pos - from + 1;
      lost += from - (pos - lag);
    }
    if (lane == 0) {
      *a.forced_count = n;
      if (a.catchup_counts != nullptr) {
        if (positions > 0) atomicAdd(a.catchup_counts + 3 * pos + 1, positions);
        if (lost > 0) atomicAdd(a.catchup_counts + 3 * pos + 2, lost);
      }
    }
  }
#endif  // __CUDACC__
};

struct KvCatchupOp {
  KvCatchupArgs a;
  static constexpr int kSmemBytes = qkv::kSmemBytes;

  __host__ __device__ int max_units() const {
    const int n = a.max_forced * 2 * a.head_dim / qkv::kRows;
    return n > 0 ? n : 1;
  }

#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    run_as<Sync, false>(unit, smem, sync);
  }

  // kTiled: w_qkv in the tiled layout (KvCatchupArgs::tiled_weights).
  template <class Sync, bool kTiled>
  __device__ void run_as(int unit, char* smem, const Sync& sync) const {
    const int pos = *a.pos;
    if (pos < 0 || pos >= a.max_len) return;
    // The forced list is made by this step's sparse_qkv, which on the graph path may be the kernel right before
    // this one in the same stream (PdlSync::indices() waits only after a join), so the input wait comes before
    // the list is read. Every unit waits, also one without a forced head: a grid whose
    // units all exit without griddepcontrol.wait can complete before its predecessor, and the next kernel's
    // wait (or the catch-up stream's join) would then not cover that predecessor.
    sync.indices();
    sync.inputs();
    const int pp = a.head_dim / qkv::kRows, i = unit / (2 * pp);
    if (i >= min(Sync::load(a.forced_count), a.max_forced)) return;
    qkv::Slice s;
    s.h = Sync::load(a.forced + 2 * i);
    s.t_begin = Sync::load(a.forced + 2 * i + 1);
    if (s.h < 0 || s.h >= a.num_heads || s.t_begin > pos || s.t_begin < max(pos - a.ring + 1, 0)) return;
    const int block = pp + unit % (2 * pp);
    s.part = block / pp;
    s.r0 = (block % pp) * qkv::kRows;
    const qkv::Projection p = qkv::kv_projection(a);
    qkv::project_slice<Sync, kTiled>(p, s, pos, smem);
  }
#endif  // __CUDACC__
};

// The persistent kernel's entries for the tiled layout (tiled_weights): op kinds of their own, so each layout's
// unit keeps its own noinline function and registers; one run() branching on tiled_weights spilled 5-8x more
// (ptxas sm_90: SparseQkvOp 348 / 756 bytes of spill stores / loads against 48 / 92).
struct SparseQkvTiledOp : SparseQkvOp {
#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    run_as<Sync, false, true>(unit, smem, sync);
  }
#endif  // __CUDACC__
};

struct KvCatchupTiledOp : KvCatchupOp {
#if defined(__CUDACC__)
  template <class Sync>
  __device__ void run(int unit, char* smem, const Sync& sync) const {
    run_as<Sync, true>(unit, smem, sync);
  }
#endif  // __CUDACC__
};

}  // namespace dv::kernels
