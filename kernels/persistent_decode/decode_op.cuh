// decode_op.cuh: one entry of the persistent decode kernel's op table: which op, its wait list (header) and
// its parameters (a union of the op structs, all plain pointers and sizes), and the dispatch from an entry
// to the op's unit body. Adding an op: its struct (work_units.cuh convention), a kind, a union member, a case.
#pragma once

#include "kernels/persistent_decode/attention_op.cuh"
#include "kernels/persistent_decode/col_gemv_op.cuh"
#include "kernels/persistent_decode/qkv_op.cuh"
#include "kernels/persistent_decode/row_gemv_op.cuh"
#include "kernels/persistent_decode/row_ops.cuh"
#include "kernels/persistent_decode/select_op.cuh"

namespace dv::kernels {

enum class DecodeOpKind : int { kEmbed, kLayerNorm, kRowGemv, kColGemv, kQkv, kAttention, kSelect, kArgmax };

union DecodeOpParams {
  EmbedOp embed;
  LayerNormOp layer_norm;
  RowGemvOp row_gemv;
  ColGemvOp col_gemv;
  QkvOp qkv;
  AttentionOp attention;
  SelectOp select;
  ArgmaxOp argmax;
  DV_OP_HD DecodeOpParams() : embed() {}
};

// The most dynamic shared memory any op's unit needs.
constexpr int decode_op_smem_bytes() {
  int m = EmbedOp::kSmemBytes;
  const int all[] = {LayerNormOp::kSmemBytes, RowGemvOp::kSmemBytes, ColGemvOp::kSmemBytes, QkvOp::kSmemBytes,
                     AttentionOp::kSmemBytes, SelectOp::kSmemBytes, ArgmaxOp::kSmemBytes};
  for (int s : all) m = s > m ? s : m;
  return m;
}
#if defined(__CUDACC__)
static_assert(decode_op_smem_bytes() <= kUnitSmemMax, "an op needs more shared memory than a unit may have");
#endif

// Host: the units of an op at its capacity.
inline int decode_op_units(DecodeOpKind kind, const DecodeOpParams& p) {
  switch (kind) {
    case DecodeOpKind::kEmbed: return p.embed.max_units();
    case DecodeOpKind::kLayerNorm: return p.layer_norm.max_units();
    case DecodeOpKind::kRowGemv: return p.row_gemv.max_units();
    case DecodeOpKind::kColGemv: return p.col_gemv.max_units();
    case DecodeOpKind::kQkv: return p.qkv.max_units();
    case DecodeOpKind::kAttention: return p.attention.max_units();
    case DecodeOpKind::kSelect: return p.select.max_units();
    case DecodeOpKind::kArgmax: return p.argmax.max_units();
  }
  return 0;
}

#if defined(__CUDACC__)
// One op's unit as its own function: inlined into one switch, the ops' register needs add up across the
// cases and the persistent kernel spills; called, each op gets its own allocation.
template <class Op, class Sync>
__device__ __noinline__ void run_decode_unit(const Op& op, int unit, char* smem, const Sync& sync) {
  op.run(unit, smem, sync);
}

template <class Sync>
__device__ __forceinline__ void run_decode_op(DecodeOpKind kind, const DecodeOpParams& p, int unit, char* smem,
                                              const Sync& sync) {
  switch (kind) {
    case DecodeOpKind::kEmbed: run_decode_unit(p.embed, unit, smem, sync); break;
    case DecodeOpKind::kLayerNorm: run_decode_unit(p.layer_norm, unit, smem, sync); break;
    case DecodeOpKind::kRowGemv: run_decode_unit(p.row_gemv, unit, smem, sync); break;
    case DecodeOpKind::kColGemv: run_decode_unit(p.col_gemv, unit, smem, sync); break;
    case DecodeOpKind::kQkv: run_decode_unit(p.qkv, unit, smem, sync); break;
    case DecodeOpKind::kAttention: run_decode_unit(p.attention, unit, smem, sync); break;
    case DecodeOpKind::kSelect: run_decode_unit(p.select, unit, smem, sync); break;
    case DecodeOpKind::kArgmax: run_decode_unit(p.argmax, unit, smem, sync); break;
  }
}
#endif  // __CUDACC__

}  // namespace dv::kernels
