// decode_op_launch.cu: field checks and plain launches of the persistent-decode ops (see decode_op_launch.h).
#include "kernels/persistent_decode/decode_op_launch.h"

#include <cstdint>

#include "kernels/common/cuda_check.h"
#include "kernels/common/work_units.cuh"

namespace dv::kernels {
namespace {

bool aligned16(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % 16 == 0; }

void check_row_gemv(const RowGemvOp& o) {
  DV_CHECK(o.B >= 1 && o.B <= kTileCols, "row_gemv op: batch B = {} outside 1..{}", o.B, kTileCols);
  DV_CHECK(o.K > 0 && o.K % 8 == 0 && o.ldx >= o.K && o.ldx % 8 == 0,
           "row_gemv op: K = {} and ldx = {} must be positive multiples of 8 with ldx >= K", o.K, o.ldx);
  DV_CHECK(o.max_rows >= 0, "row_gemv op: max_rows = {}", o.max_rows);
  DV_CHECK(o.w != nullptr && o.x != nullptr && aligned16(o.w) && aligned16(o.x),
           "row_gemv op: w and x must be non-null and 16-byte aligned");
  switch (o.epilogue) {
    case RowEpilogue::kHalf:
      DV_CHECK(o.out != nullptr && o.ld_out >= 1, "row_gemv op: kHalf needs out and ld_out (got ld_out {})", o.ld_out);
      DV_CHECK(o.pos_embed == nullptr || o.positions != nullptr, "row_gemv op: pos_embed needs positions");
      break;
    case RowEpilogue::kLogits:
      DV_CHECK(o.out_f32 != nullptr && o.argmax != nullptr && o.ld_out >= 1,
               "row_gemv op: kLogits needs out_f32, argmax and ld_out (got ld_out {})", o.ld_out);
      break;
  }
}

// The graph path's ops: their own argument checks, plus what the persistent path's variants fix.
void check_out_proj(const PersistentOutProj& o) {
  SparseMlpDownPlan plan;
  plan.col_blocks = o.col_blocks;
  plan.splits = o.splits;
  plan.workspace_bytes = o.splits > 1 ? 1 : 0;
  check_sparse_mlp_down_args(o.a, plan);
  // rows_per_index: a head's rows for W_o, 1 for the split MLP's down projection (DEJAVU_PERSISTENT_MLP=split).
  DV_CHECK(o.a.B <= 16 && o.a.rows_per_index >= 1 && o.splits >= 1 &&
               o.col_blocks == plan_sparse_mlp_down(o.a.B, o.a.d, o.a.max_k, o.a.rows_per_index).col_blocks,
           "out_proj op: B = {} (at most 16), rows_per_index = {}, {} column blocks, {} splits",
           o.a.B, o.a.rows_per_index, o.col_blocks, o.splits);
}

void check_mlp(const PersistentMlp& o) {
  check_fused_mlp_args(o.a);
  DV_CHECK(o.a.B <= 8 && o.units >= 1 && (o.stage_x || o.a.gamma == nullptr),
           "mlp op: B = {} (at most 8), {} units, the fused layer norm needs x staged", o.a.B, o.units);
}

// The predictor's ops as make_lowrank_predictor_ops fills them (its arguments checked by
// check_lowrank_predictor_args); here only what a hand-built op could get wrong.
void check_predictor_z(const PersistentPredictorZ& o) {
  DV_CHECK(o.B >= 1 && o.B <= 8 && o.d > 0 && o.d % 8 == 0 && o.r > 0 && o.r % 8 == 0 && o.splits >= 1,
           "predictor z op: B = {} (1..8), d = {} and r = {} (multiples of 8), splits = {}", o.B, o.d, o.r, o.splits);
  DV_CHECK(o.z && o.x && o.wa && aligned16(o.z) && aligned16(o.x) && aligned16(o.wa) &&
               (o.splits == 1 || (o.zpart && o.tile_count)),
           "predictor z op: z, x, wa (16-byte aligned) and, with {} splits, zpart and tile_count", o.splits);
}

void check_predictor_scores(const PersistentPredictorScores& o) {
  DV_CHECK(o.B >= 1 && o.B <= 8 && o.r > 0 && o.r % 8 == 0 && o.n >= 1 && o.ld >= o.n && o.ld % 4 == 0,
           "predictor scores op: B = {} (1..8), r = {} (a multiple of 8), n = {}, ld = {}", o.B, o.r, o.n, o.ld);
  DV_CHECK(o.scores && o.z && o.wb && aligned16(o.scores) && aligned16(o.z) && aligned16(o.wb),
           "predictor scores op: scores, z and wb must be non-null and 16-byte aligned");
}

void check_predictor_select(const LowrankSelectOp& o) {
  DV_CHECK(o.n >= 1 && o.n <= kSelectMaxN && o.rows >= 1 && o.rows <= 8 && o.ld >= o.n && o.max_k >= 0,
           "predictor select op: n = {} (at most {}), rows = {} (1..8), ld = {}, max_k = {}", o.n, kSelectMaxN,
           o.rows, o.ld, o.max_k);
  DV_CHECK(o.idx && o.k_dev && o.scores && aligned16(o.scores) && (!o.top_k_mode || o.hist) &&
               (o.rows == 1 || (o.union_bits && o.arrivals)),
           "predictor select op: idx, k_dev, scores (16-byte aligned), the histograms (top-k) and the union mask");
  DV_CHECK(o.dense_above >= o.n || o.max_k >= o.n, "predictor select op: dense_above {} < n {} needs max_k >= n",
           o.dense_above, o.n);
}

}  // namespace

void check_decode_op(DecodeOpKind kind, const DecodeOpParams& p) {
  switch (kind) {
    case DecodeOpKind::kEmbed:
      DV_CHECK(p.embed.B >= 1 && p.embed.d % 8 == 0 && p.embed.d > 0 && p.embed.out && p.embed.tokens &&
                   p.embed.word_embed && (p.embed.pos_embed == nullptr || p.embed.positions != nullptr),
               "embed op: B = {}, d = {} (a multiple of 8) and the out, tokens, word_embed pointers", p.embed.B,
               p.embed.d);
      break;
    case DecodeOpKind::kLayerNorm:
      DV_CHECK(p.layer_norm.B >= 1 && p.layer_norm.d > 0 && p.layer_norm.d % 8 == 0 &&
                   p.layer_norm.d <= kOpThreads * kRowOpMaxVecs * 8,
               "layer_norm op: B = {}, d = {} (a multiple of 8, at most {})", p.layer_norm.B, p.layer_norm.d,
               kOpThreads * kRowOpMaxVecs * 8);
      DV_CHECK(p.layer_norm.y && p.layer_norm.x && p.layer_norm.gamma && p.layer_norm.beta,
               "layer_norm op: y, x, gamma and beta must be non-null");
      break;
    case DecodeOpKind::kRowGemv:
      check_row_gemv(p.row_gemv);
      DV_CHECK(p.row_gemv.ln_gamma == nullptr, "row_gemv op: ln_gamma set (the folded layer norm is row_gemv_ln)");
      break;
    case DecodeOpKind::kRowGemvLn: {
      const RowGemvLnOp& o = p.row_gemv_ln;
      check_row_gemv(o);
      DV_CHECK(o.epilogue == RowEpilogue::kHalf && o.ln_gamma != nullptr && o.ln_beta != nullptr &&
                   aligned16(o.ln_gamma) && aligned16(o.ln_beta) && o.ldx == o.K && o.ln_eps > 0.f,
               "row_gemv_ln op: needs the kHalf epilogue, ln_gamma and ln_beta (16-byte aligned), ldx == K ({} and "
               "{}) and eps > 0", o.ldx, o.K);
      break;
    }
    case DecodeOpKind::kQkv:
      check_sparse_qkv_args(p.qkv.a);
      DV_CHECK(!p.qkv.a.tiled_weights, "qkv op: tiled_weights set (the tiled layout's op kind is qkv_tiled)");
      break;
    case DecodeOpKind::kKvCatchup:
      check_kv_catchup_args(p.kv_catchup.a);
      DV_CHECK(!p.kv_catchup.a.tiled_weights, "kv_catchup op: tiled_weights set (its op kind is kv_catchup_tiled)");
      break;
    case DecodeOpKind::kQkvTiled:
      check_sparse_qkv_args(p.qkv_tiled.a);
      DV_CHECK(p.qkv_tiled.a.tiled_weights, "qkv_tiled op: tiled_weights not set (the row-major op kind is qkv)");
      break;
    case DecodeOpKind::kKvCatchupTiled:
      check_kv_catchup_args(p.kv_catchup_tiled.a);
      DV_CHECK(p.kv_catchup_tiled.a.tiled_weights, "kv_catchup_tiled op: tiled_weights not set");
      break;
    case DecodeOpKind::kAttention: check_decode_attention_args(p.attention.a); break;
    case DecodeOpKind::kOutProj: check_out_proj(p.out_proj); break;
    case DecodeOpKind::kMlp: check_mlp(p.mlp); break;
    case DecodeOpKind::kPredictorZ: check_predictor_z(p.predictor_z); break;
    case DecodeOpKind::kPredictorScores: check_predictor_scores(p.predictor_scores); break;
    case DecodeOpKind::kPredictorSelect: check_predictor_select(p.predictor_select); break;
    case DecodeOpKind::kArgmax:
      DV_CHECK(p.argmax.tokens && p.argmax.argmax && p.argmax.B >= 1, "argmax op: B = {} and non-null pointers",
               p.argmax.B);
      break;
  }
}

void launch_decode_op(DecodeOpKind kind, const DecodeOpParams& p, cudaStream_t stream) {
  check_decode_op(kind, p);
  switch (kind) {
    case DecodeOpKind::kEmbed: launch_units(p.embed, stream, "embed op"); break;
    case DecodeOpKind::kLayerNorm: launch_units(p.layer_norm, stream, "layer_norm op"); break;
    case DecodeOpKind::kRowGemv: launch_units(p.row_gemv, stream, "row_gemv op"); break;
    case DecodeOpKind::kQkv: launch_units(p.qkv, stream, "qkv op"); break;
    case DecodeOpKind::kKvCatchup: launch_units(p.kv_catchup, stream, "kv_catchup op"); break;
    case DecodeOpKind::kAttention: launch_units(p.attention, stream, "attention op"); break;
    case DecodeOpKind::kOutProj: launch_units(p.out_proj, stream, "out_proj op"); break;
    case DecodeOpKind::kMlp: launch_units(p.mlp, stream, "mlp op"); break;
    case DecodeOpKind::kPredictorZ: launch_units(p.predictor_z, stream, "predictor z op"); break;
    case DecodeOpKind::kPredictorScores: launch_units(p.predictor_scores, stream, "predictor scores op"); break;
    case DecodeOpKind::kPredictorSelect: launch_units(p.predictor_select, stream, "predictor select op"); break;
    case DecodeOpKind::kArgmax: launch_units(p.argmax, stream, "argmax op"); break;
    case DecodeOpKind::kRowGemvLn: launch_units(p.row_gemv_ln, stream, "row_gemv_ln op"); break;
    case DecodeOpKind::kQkvTiled: launch_units(p.qkv_tiled, stream, "qkv_tiled op"); break;
    case DecodeOpKind::kKvCatchupTiled: launch_units(p.kv_catchup_tiled, stream, "kv_catchup_tiled op"); break;
  }
}

}  // namespace dv::kernels
