// split_sum.h: which deterministic scheme combines the split-K partial sums of sparse_mlp_down (W_o and the MLP
// down projection) and of fused_mlp: 64-bit fixed-point reductions (kernels/common/fixed_sum.cuh) or plain
// stores of fp32 partials summed in split order by the last unit through a column slice
// (kernels/common/ordered_sum.cuh). Both give the same bits whatever order the units finish in, so the graph and
// persistent paths agree under either. Defaults, from one H100 call (results/h100/2026-12-07_62f2ef9):
//   sparse_mlp_down: ordered. kernel_bench opt-13b at 10 %: 20.0 against 22.8 us; the whole sparse step 2-14 %
//     faster (opt-13b sparse fixed x2.36 against x2.24 over dense, opt-6.7b x2.15 against x1.89).
//   fused_mlp: fixed. Its ordered finalize is 4x slower (opt-13b at 10 %: 294 against 68 us).
// DEJAVU_SPLIT_SUM=fixed or =ordered forces one scheme on both. Read once a process: the workspaces are sized and
// the op arguments filled from the same answer (layer_ops.cpp, decode_step.cpp, decode_buffers.cpp,
// sparse_state.cpp, persistent/persistent_plan.cpp).
#pragma once

#include <cstdlib>
#include <cstring>

#include "kernels/common/error.h"

namespace dv::engine {

enum class SplitSumScheme { kPerOp, kFixed, kOrdered };

inline SplitSumScheme split_sum_scheme() {
  static const SplitSumScheme scheme = [] {
    const char* env = std::getenv("DEJAVU_SPLIT_SUM");
    if (env == nullptr || *env == '\0') return SplitSumScheme::kPerOp;
    if (std::strcmp(env, "fixed") == 0) return SplitSumScheme::kFixed;
    if (std::strcmp(env, "ordered") == 0) return SplitSumScheme::kOrdered;
    DV_FAIL("DEJAVU_SPLIT_SUM='{}': expected fixed or ordered (unset: ordered for sparse_mlp_down, fixed for "
            "fused_mlp)", env);
  }();
  return scheme;
}

// sparse_mlp_down's scheme (W_o and the sparse MLP's down projection).
inline bool down_ordered_sums() { return split_sum_scheme() != SplitSumScheme::kFixed; }
// fused_mlp's scheme.
inline bool fused_ordered_sums() { return split_sum_scheme() == SplitSumScheme::kOrdered; }

}  // namespace dv::engine
