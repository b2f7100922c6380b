// qkv_layout.h: the shared-memory layout of one sparse_qkv / kv_catchup unit, host-visible so that host code
// (the persistent decode path's plan) sizes the ops it schedules (device code: qkv_projection.cuh,
// qkv_layer_norm.cuh, sparse_qkv_op.cuh).
#pragma once

#include "kernels/common/work_units.cuh"
#include "kernels/sparse_qkv/sparse_qkv.cuh"

namespace dv::kernels::qkv {

constexpr int kRows = kSparseQkvSlotRows;
constexpr int kWarps = kUnitThreads / 32;
constexpr int kRedStride = kSparseQkvPassColumns + 1;  // odd row stride: fewer bank conflicts
constexpr int kRedBytes = kWarps * kRows * kRedStride * 4;
constexpr int kSmemBytes = kRedBytes + kSparseQkvPassColumns * 4;  // + the column codes of a wide pass
// The fused layer norm's statistics: mean [kSparseQkvLnMaxRows], rstd [kSparseQkvLnMaxRows].
constexpr int kLnStatsBytes = 2 * kSparseQkvLnMaxRows * 4;

}  // namespace dv::kernels::qkv
