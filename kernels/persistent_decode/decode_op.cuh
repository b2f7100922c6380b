// decode_op.cuh: one entry of the persistent decode kernel's op table: which op, its wait list (header) and
// its parameters (a union of the op structs, all plain pointers and sizes), and the dispatch from an entry
// to the op's unit body. The layer ops are the graph path's own (work_units.cuh): sparse_qkv with the fused
// layer norm and its forced K/V catch-up (each in either w_qkv layout), decode_attention, sparse_mlp_down as W_o,
// fused_mlp, the predictor's three ops; the rest (embedding, the layer norm of post-LN models and the final one,
// the LM head with the greedy argmax, project_in / project_out) are this kernel's (row_ops.cuh, row_gemv_op.cuh).
// Adding an op: its struct (work_units.cuh convention), a kind, a union member, a case in each switch.
#pragma once

#include <algorithm>
#include <cstddef>

#include "kernels/decode_attention/decode_attention_op.cuh"
#include "kernels/fused_mlp/fused_mlp_op.cuh"
#include "kernels/lowrank_predictor/predictor_ops.cuh"
#include "kernels/lowrank_predictor/select_op.cuh"
#include "kernels/persistent_decode/row_gemv_op.cuh"
#include "kernels/persistent_decode/row_ops.cuh"
#include "kernels/sparse_mlp_down/sparse_mlp_down_op.cuh"
#include "kernels/sparse_qkv/sparse_qkv_op.cuh"

namespace dv::kernels {

enum class DecodeOpKind : int {
  kEmbed, kLayerNorm, kRowGemv, kQkv, kKvCatchup, kAttention, kOutProj, kMlp, kPredictorZ, kPredictorScores,
  kPredictorSelect, kArgmax, kRowGemvLn, kQkvTiled, kKvCatchupTiled
};

// The graph path's ops at the persistent path's batches (1..8: one 16-row MMA tile, the 8-row batch tile):
// W_o is sparse_mlp_down over a head selection (head_dim rows an index), fp16 predictor weights.
using PersistentOutProj = SparseMlpDownOp<1, false>;
using PersistentMlp = FusedMlpOp<8>;
using PersistentPredictorZ = LowrankZOp<8, false>;
using PersistentPredictorScores = LowrankScoresOp<8, false>;

// The op structs the table holds: the largest one's size (DecodeOpParams' byte view, which its default
// constructor zeroes) and the most dynamic shared memory any op's unit needs.
template <class... Ops>
struct DecodeOpSet {
  static constexpr size_t kMaxBytes = std::max({sizeof(Ops)...});
  static constexpr int kMaxSmemBytes = std::max({Ops::kSmemBytes...});
};
using DecodeOps = DecodeOpSet<EmbedOp, LayerNormOp, RowGemvOp, SparseQkvOp, KvCatchupOp, DecodeAttentionOp,
                              PersistentOutProj, PersistentMlp, PersistentPredictorZ, PersistentPredictorScores,
                              LowrankSelectOp, ArgmaxOp, RowGemvLnOp, SparseQkvTiledOp, KvCatchupTiledOp>;

union DecodeOpParams {
  EmbedOp embed;
  LayerNormOp layer_norm;
  RowGemvOp row_gemv;
  SparseQkvOp qkv;
  KvCatchupOp kv_catchup;
  DecodeAttentionOp attention;
  PersistentOutProj out_proj;
  PersistentMlp mlp;
  PersistentPredictorZ predictor_z;
  PersistentPredictorScores predictor_scores;
  LowrankSelectOp predictor_select;
  ArgmaxOp argmax;
  RowGemvLnOp row_gemv_ln;
  SparseQkvTiledOp qkv_tiled;
  KvCatchupTiledOp kv_catchup_tiled;
  // Every byte zero. Build an entry from a whole op struct (the constructors below), never field by field
  // through a member of a default-constructed union: that skips the struct's default member initializers
  // (LayerNormOp::eps, RowGemvOp's epilogue, bias, relu, pos_embed), which then hold whatever was there.
  DV_OP_HD DecodeOpParams() : bytes_{} {}
  DV_OP_HD DecodeOpParams(const EmbedOp& o) : embed(o) {}
  DV_OP_HD DecodeOpParams(const LayerNormOp& o) : layer_norm(o) {}
  DV_OP_HD DecodeOpParams(const RowGemvOp& o) : row_gemv(o) {}
  DV_OP_HD DecodeOpParams(const SparseQkvOp& o) : qkv(o) {}
  DV_OP_HD DecodeOpParams(const KvCatchupOp& o) : kv_catchup(o) {}
  DV_OP_HD DecodeOpParams(const DecodeAttentionOp& o) : attention(o) {}
  DV_OP_HD DecodeOpParams(const PersistentOutProj& o) : out_proj(o) {}
  DV_OP_HD DecodeOpParams(const PersistentMlp& o) : mlp(o) {}
  DV_OP_HD DecodeOpParams(const PersistentPredictorZ& o) : predictor_z(o) {}
  DV_OP_HD DecodeOpParams(const PersistentPredictorScores& o) : predictor_scores(o) {}
  DV_OP_HD DecodeOpParams(const LowrankSelectOp& o) : predictor_select(o) {}
  DV_OP_HD DecodeOpParams(const ArgmaxOp& o) : argmax(o) {}
  DV_OP_HD DecodeOpParams(const RowGemvLnOp& o) : row_gemv_ln(o) {}
  DV_OP_HD DecodeOpParams(const SparseQkvTiledOp& o) : qkv_tiled(o) {}
  DV_OP_HD DecodeOpParams(const KvCatchupTiledOp& o) : kv_catchup_tiled(o) {}

 private:
  unsigned char bytes_[DecodeOps::kMaxBytes];
};

// The most dynamic shared memory any op's unit needs.
constexpr int decode_op_smem_bytes() { return DecodeOps::kMaxSmemBytes; }
static_assert(decode_op_smem_bytes() <= kUnitSmemMax, "an op needs more shared memory than a unit may have");

// Host: the units of an op at its capacity.
inline int decode_op_units(DecodeOpKind kind, const DecodeOpParams& p) {
  switch (kind) {
    case DecodeOpKind::kEmbed: return p.embed.max_units();
    case DecodeOpKind::kLayerNorm: return p.layer_norm.max_units();
    case DecodeOpKind::kRowGemv: return p.row_gemv.max_units();
    case DecodeOpKind::kQkv: return p.qkv.max_units();
    case DecodeOpKind::kKvCatchup: return p.kv_catchup.max_units();
    case DecodeOpKind::kAttention: return p.attention.max_units();
    case DecodeOpKind::kOutProj: return p.out_proj.max_units();
    case DecodeOpKind::kMlp: return p.mlp.max_units();
    case DecodeOpKind::kPredictorZ: return p.predictor_z.max_units();
    case DecodeOpKind::kPredictorScores: return p.predictor_scores.max_units();
    case DecodeOpKind::kPredictorSelect: return p.predictor_select.max_units();
    case DecodeOpKind::kArgmax: return p.argmax.max_units();
    case DecodeOpKind::kRowGemvLn: return p.row_gemv_ln.max_units();
    case DecodeOpKind::kQkvTiled: return p.qkv_tiled.max_units();
    case DecodeOpKind::kKvCatchupTiled: return p.kv_catchup_tiled.max_units();
  }
  return 0;
}

// Host: the dynamic shared memory one unit of an op kind needs (a launch that runs only some kinds may launch
// with the largest of theirs: the rest of the SM's unified L1 / shared memory stays L1).
inline int decode_op_kind_smem_bytes(DecodeOpKind kind) {
  switch (kind) {
    case DecodeOpKind::kEmbed: return EmbedOp::kSmemBytes;
    case DecodeOpKind::kLayerNorm: return LayerNormOp::kSmemBytes;
    case DecodeOpKind::kRowGemv: return RowGemvOp::kSmemBytes;
    case DecodeOpKind::kQkv: return SparseQkvOp::kSmemBytes;
    case DecodeOpKind::kKvCatchup: return KvCatchupOp::kSmemBytes;
    case DecodeOpKind::kAttention: return DecodeAttentionOp::kSmemBytes;
    case DecodeOpKind::kOutProj: return PersistentOutProj::kSmemBytes;
    case DecodeOpKind::kMlp: return PersistentMlp::kSmemBytes;
    case DecodeOpKind::kPredictorZ: return PersistentPredictorZ::kSmemBytes;
    case DecodeOpKind::kPredictorScores: return PersistentPredictorScores::kSmemBytes;
    case DecodeOpKind::kPredictorSelect: return LowrankSelectOp::kSmemBytes;
    case DecodeOpKind::kArgmax: return ArgmaxOp::kSmemBytes;
    case DecodeOpKind::kRowGemvLn: return RowGemvLnOp::kSmemBytes;
    case DecodeOpKind::kQkvTiled: return SparseQkvTiledOp::kSmemBytes;
    case DecodeOpKind::kKvCatchupTiled: return KvCatchupTiledOp::kSmemBytes;
  }
  return decode_op_smem_bytes();
}

// Host: the largest of the op kinds' needs in a schedule's headers (at least 16 bytes: 0 means the largest op's).
template <class Headers>
int decode_schedule_smem_bytes(const Headers& headers) {
  int bytes = 16;
  for (const auto& h : headers)
    bytes = std::max(bytes, decode_op_kind_smem_bytes(static_cast<DecodeOpKind>(h.kind)));
  return bytes;
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
    case DecodeOpKind::kQkv: run_decode_unit(p.qkv, unit, smem, sync); break;
    case DecodeOpKind::kKvCatchup: run_decode_unit(p.kv_catchup, unit, smem, sync); break;
    case DecodeOpKind::kAttention: run_decode_unit(p.attention, unit, smem, sync); break;
    case DecodeOpKind::kOutProj: run_decode_unit(p.out_proj, unit, smem, sync); break;
    case DecodeOpKind::kMlp: run_decode_unit(p.mlp, unit, smem, sync); break;
    case DecodeOpKind::kPredictorZ: run_decode_unit(p.predictor_z, unit, smem, sync); break;
    case DecodeOpKind::kPredictorScores: run_decode_unit(p.predictor_scores, unit, smem, sync); break;
    case DecodeOpKind::kPredictorSelect: run_decode_unit(p.predictor_select, unit, smem, sync); break;
    case DecodeOpKind::kArgmax: run_decode_unit(p.argmax, unit, smem, sync); break;
    case DecodeOpKind::kRowGemvLn: run_decode_unit(p.row_gemv_ln, unit, smem, sync); break;
    case DecodeOpKind::kQkvTiled: run_decode_unit(p.qkv_tiled, unit, smem, sync); break;
    case DecodeOpKind::kKvCatchupTiled: run_decode_unit(p.kv_catchup_tiled, unit, smem, sync); break;
  }
}
#endif  // __CUDACC__

}  // namespace dv::kernels
