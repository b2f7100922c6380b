// sparse_qkv_ref.h: plain C++ references of launch_sparse_qkv and launch_kv_catchup (host pointers in the same
// Args structs), including the x_hist ring write, the K/V catch-up, the forced-head choice, the kv_valid
// updates and the catch-up counters. Double accumulation, one rounding to fp16 per output. Also the CPU path.
// ln_row_partials is not read: the fused layer norm's statistics come from x itself (the partials summarize it).
#pragma once

#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv {

void sparse_qkv_ref(const SparseQkvArgs& args);
void kv_catchup_ref(const KvCatchupArgs& args);

}  // namespace dv
