// split_sum.h: which deterministic scheme combines sparse_mlp_down's split-K partial sums (W_o and the MLP down
// projection; kernels/sparse_mlp_down/sparse_mlp_down.cuh has both): DEJAVU_SPLIT_SUM=fixed (the default,
// 64-bit fixed-point reductions) or =ordered (plain stores of fp32 partials, summed in split order by the
// slice's last unit). Both give the same bits whatever order the units finish in, so the graph and persistent
// paths agree under either. Read once a process: the buffers are sized and the op arguments filled from the
// same answer (layer_ops.cpp, decode_buffers.cpp, sparse_state.cpp, persistent/persistent_plan.cpp).
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
