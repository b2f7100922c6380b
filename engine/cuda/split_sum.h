// split_sum.h: which deterministic scheme combines the split-K partial sums of sparse_mlp_down (W_o and the MLP
// down projection) and fused_mlp: DEJAVU_SPLIT_SUM=fixed (the default, 64-bit fixed-point reductions,
// kernels/common/fixed_sum.cuh) or =ordered (plain stores of fp32 partials, summed in split order by the last
// unit through a column slice, kernels/common/ordered_sum.cuh). Both give the same bits whatever order the
// units finish in, so the graph and persistent paths agree under either. Read once a process: the workspaces
// are sized and the op arguments filled from the same answer (layer_ops.cpp, decode_step.cpp,
// decode_buffers.cpp, sparse_state.cpp, persistent/persistent_plan.cpp).
#pragma once

#include <cstdlib>
#include <cstring>

#include "kernels/common/error.h"

namespace dv::engine {

inline bool ordered_split_sums() {
  static const bool ordered = [] {
    const char* env = std::getenv("DEJAVU_SPLIT_SUM");
    if (env == nullptr || *env == '\0' || std::strcmp(env, "fixed") == 0) return false;
    if (std::strcmp(env, "ordered") == 0) return true;
    DV_FAIL("DEJAVU_SPLIT_SUM='{}': expected fixed or ordered", env);
  }();
  return ordered;
}

}  // namespace dv::engine
