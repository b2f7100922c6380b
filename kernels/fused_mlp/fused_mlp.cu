// fused_mlp.cu: the plan (units, batch tile, whether x is staged) and the plain launch of FusedMlpOp, one CTA
// per unit with PDL (design and byte count in fused_mlp.cuh).
#include "kernels/fused_mlp/fused_mlp.cuh"

#include <algorithm>
#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/pdl.cuh"
#include "kernels/common/work_units.cuh"
#include "kernels/fused_mlp/fused_mlp_op.cuh"

namespace dv::kernels {
namespace {

// work_units.cuh's unit_kernel with a minimum of two resident CTAs per SM: the plan sizes the grid for two
// per SM (one wave), and naming the minimum keeps ptxas at <= 128 registers and issuing a pipeline step's
// loads together (see row_dot.cuh).
template <class Op, bool kAfterJoin>
__global__ void __launch_bounds__(kUnitThreads, 2) fused_mlp_kernel(Op op) {
  extern __shared__ __align__(16) char smem[];
  op.run(static_cast<int>(blockIdx.x), smem, PdlSync<kAfterJoin>{});
}

template <int BT>
void launch_tile(const FusedMlpArgs& a, const FusedMlpPlan& plan, cudaStream_t stream) {
  using Op = FusedMlpOp<BT>;
  static_assert(Op::kSmemBytes <= kUnitSmemMax, "fused_mlp: unit needs more shared memory than a unit may have");
  Op op;
  op.a = a;
  op.units = plan.units;
  op.stage_x = plan.stage_x;
  launch_unit_kernel(fused_mlp_kernel<Op, false>, fused_mlp_kernel<Op, true>, plan.units, Op::kSmemBytes, stream,
                     op);
  DV_CUDA_LAUNCH_CHECK("fused_mlp");
}

int x_capacity(int batch_tile) {
  switch (batch_tile) {
    case 8: return FusedMlpLayout<8>::kXBytes;
    case 16: return FusedMlpLayout<16>::kXBytes;
    default: return FusedMlpLayout<32>::kXBytes;
  }
}

int tile_for(int B) { return B <= 8 ? 8 : (B <= 16 ? 16 : 32); }

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

// [p, p + bytes) and [q, q + bytes) overlap.
bool overlaps(const void* p, const void* q, size_t bytes) {
  if (p == nullptr || q == nullptr) return false;
  const auto a = reinterpret_cast<std::uintptr_t>(p), b = reinterpret_cast<std::uintptr_t>(q);
  return a < b + bytes && b < a + bytes;
}

}  // namespace

bool fused_mlp_ln_fits(int B, int d) { return fused_mlp_x_bytes(B, d) <= x_capacity(tile_for(B)); }

FusedMlpPlan plan_fused_mlp(int B, int d, int max_k, int num_sms) {
  FusedMlpPlan plan;
  plan.batch_tile = tile_for(B);
  plan.stage_x = fused_mlp_ln_fits(B, d);
  const long long k = std::max(max_k, 0), sms = std::max(num_sms, 1);
  // As many units as keep each unit's fp32 reductions (B*d*4 bytes) at most half its weight bytes (4*S*d,
  // i.e. S >= 2B, and S >= 8: one MMA tile), up to two per SM (one wave: no tail of a few stragglers), and
  // never slices larger than shared memory holds.
  const long long s_min = std::max(8LL, 2LL * B);
  long long units = std::min((k + s_min - 1) / s_min, 2 * sms);
  units = std::max(units, (k + kFusedMlpSliceCap - 1) / kFusedMlpSliceCap);
  plan.units = static_cast<int>(std::max(1LL, units));  // k = 0 still needs one unit to write out
  plan.slice_max = static_cast<int>((k + plan.units - 1) / plan.units);
  return plan;
}

size_t fused_mlp_workspace_bytes(int B, int d, int ordered_units) {
  B = std::max(B, 1);
  d = std::max(d, 1);
  const size_t chunks = static_cast<size_t>((d + kFusedMlpColChunk - 1) / kFusedMlpColChunk);
  if (ordered_units > 0)
    return fused_mlp_partials_offset(d) + static_cast<size_t>(ordered_units) * B * d * sizeof(float);
  return static_cast<size_t>(kSplitSumMaxRows) * d * sizeof(FixedSum) + chunks * sizeof(int);
}

void check_fused_mlp_args(const FusedMlpArgs& a) {
  DV_CHECK(a.B >= 1 && a.B <= 32, "fused_mlp: batch B = {} outside 1..32", a.B);
  DV_CHECK(a.d > 0 && a.d % 8 == 0, "fused_mlp: d = {} must be a positive multiple of 8 (16-byte rows)", a.d);
  DV_CHECK(a.max_k >= 0 && (a.idx != nullptr || a.max_k <= a.ffn),
           "fused_mlp: max_k = {} must be >= 0 and, with the identity selection (idx null), <= ffn = {}", a.max_k,
           a.ffn);
  DV_CHECK(a.out != nullptr && a.workspace != nullptr && a.x != nullptr && a.w1 != nullptr && a.w2t != nullptr,
           "fused_mlp: out, workspace, x, w1 and w2t must be device pointers, got a null one");
  DV_CHECK((a.gamma == nullptr) == (a.beta == nullptr), "fused_mlp: gamma and beta must be given together");
  DV_CHECK(aligned16(a.out) && aligned16(a.workspace) && aligned16(a.x) && aligned16(a.w1) && aligned16(a.w2t) &&
               aligned16(a.resid) && aligned16(a.b2) && aligned16(a.gamma) && aligned16(a.beta),
           "fused_mlp: out, workspace, x, w1, w2t, resid, b2, gamma and beta must be 16-byte aligned");
  const size_t act_bytes = static_cast<size_t>(a.B) * a.d * sizeof(__half);
  DV_CHECK(!overlaps(a.out, a.x, act_bytes) && !overlaps(a.out, a.resid, act_bytes),
           "fused_mlp: out must not overlap x or resid (units read them while others write out)");
  DV_CHECK(!a.ordered_sums || a.d <= kFusedMlpOrderedMaxD,
           "fused_mlp: the ordered split sums handle d <= {} (a unit lists its completed chunks in shared "
           "memory), got d = {}",
           kFusedMlpOrderedMaxD, a.d);
  DV_CHECK(a.gamma == nullptr || fused_mlp_ln_fits(a.B, a.d),
           "fused_mlp: the fused layer norm needs x in shared memory ({} bytes for B = {}, d = {}); normalize "
           "first and pass gamma = nullptr",
           fused_mlp_x_bytes(a.B, a.d), a.B, a.d);
}

void launch_fused_mlp(const FusedMlpArgs& a, cudaStream_t stream) {
  check_fused_mlp_args(a);
  int sms = a.num_sms;
  if (sms <= 0) {
    int device = 0;
    DV_CUDA_CHECK(cudaGetDevice(&device));
    DV_CUDA_CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  }
  const FusedMlpPlan plan = plan_fused_mlp(a.B, a.d, a.max_k, sms);
  switch (plan.batch_tile) {
    case 8: launch_tile<8>(a, plan, stream); break;
    case 16: launch_tile<16>(a, plan, stream); break;
    default: launch_tile<32>(a, plan, stream); break;
  }
}

}  // namespace dv::kernels
