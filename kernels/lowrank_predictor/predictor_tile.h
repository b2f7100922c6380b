// predictor_tile.h: what the predictor's ops share that host code reads too (their unit geometry), so the op
// structs (predictor_ops.cuh, select_op.cuh) are complete types in host C++ as well: the persistent decode
// kernel's plan (a .cpp) fills them in; their device bodies compile under nvcc only.
#pragma once

#if defined(__CUDACC__)
#define DV_PRED_HD __host__ __device__
#else
#define DV_PRED_HD
#endif

namespace dv::kernels {

constexpr int kPredictorThreads = 256;  // every unit's CTA: work_units.cuh's kUnitThreads (checked there)

// Batch tile BT (8, 16 or 32 rows of x) and a GEMV unit's geometry (predictor_dot.cuh).
template <int BT>
struct PredictorTile {
  static constexpr int kWarps = kPredictorThreads / 32;
  static constexpr int kXGroups = BT / 8;               // lane g loads x rows g, g+8, g+16, g+24
  static constexpr int kMTiles = BT >= 16 ? BT / 16 : 1;
  static constexpr int kNTiles = BT >= 16 ? BT / 8 : 2; // 8-row tiles of W per unit
  static constexpr int kRows = 8 * kNTiles;             // R
  static constexpr int kUnroll = 8 / kNTiles;           // U chunks in flight per warp
  static constexpr int kColsPerSplit = kWarps * kUnroll * 32;  // z op: columns of d one unit covers
  static constexpr int kSmemFloats = kWarps * kRows * (BT + 1); // per-warp partial sums (+1: no bank conflicts)
};

}  // namespace dv::kernels
