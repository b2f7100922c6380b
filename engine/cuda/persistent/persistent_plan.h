// persistent_plan.h: the engine's decode step as the persistent kernel's op list: the same computation as
// decode_step.cpp's launch sequence and the same ops (engine/cuda/layer_ops.h fills both): per pre-LN layer
// sparse_qkv (attention layer norm fused, K/V catch-up) -> decode_attention -> W_o (sparse_mlp_down over the
// heads' rows, + out_b + residual: mlp_in) -> a layer norm op, then a sparse MLP as RowGemvOp (fc1 rows at the
// selection, bias + ReLU, compact) and sparse_mlp_down (+ fc2_b + residual: the next attn_in); a dense MLP, or a
// sparse one under DEJAVU_PERSISTENT_MLP=fused, as fused_mlp (MLP layer norm fused); post-LN layers add a layer
// norm op after each block. Each layer's forced K/V catch-up is queued at
// the end of the step, where nothing waits for it (the graph path's least-priority stream). The ops are in a
// dependency order, each with the ops it waits for, found from the buffers: every op names what it reads and
// writes, and a read waits for the op that wrote that buffer earlier in the step (each buffer is written once a
// step, so there are no write-after-read hazards inside the step; the activations the graph path reuses every
// layer are per layer here for that reason).
// Predictors are kernels/lowrank_predictor's three ops interleaved with the layer's ops, as the graph path's
// side stream runs them: z right after the op that writes its input snapshot, the scores after the next layer
// op (or right after z: DEJAVU_PERSISTENT_SCORES=early), the selection just before the first op that reads the
// indices; all marked `side`, for the schedule's side CTAs (decode_schedule.h; the decoder keeps the mark on the
// select ops only under DEJAVU_PERSISTENT_SELECT_CTAS; the plan's num_ctas is then the other CTAs).
#pragma once

#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "engine/cuda/decode_buffers.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_state.h"
#include "kernels/persistent_decode/decode_op.cuh"
#include "kernels/persistent_decode/decode_schedule.h"

namespace dv::engine {

// Units the split ops aim for on num_ctas CTAs: W_o and the split MLP's down projection one per CTA, or two
// (DEJAVU_PERSISTENT_DOWN_UNITS; sparse_mlp_down's plan target), fused_mlp one per CTA (its plan: two per SM of
// num_ctas / 2); decode_attention takes the CTA count as its SM count. The buffers and the plan size from the same
// functions.
int persistent_out_proj_target(int ctas);
int persistent_mlp_sms(int ctas);

// The activations and scratch the persistent step keeps per layer (the graph path reuses one buffer of each;
// persistent_buffers.cpp).
struct PersistentBuffers {
  PersistentBuffers(const GpuWeights& w, int batch, int max_len, const SparseState* sparse, int num_ctas);
  at::Tensor normed;         // [2L, B, d] post-LN: a block's output sum before its layer norm; pre-LN: the MLP
                             // input normalized when fused_mlp cannot stage it
  at::Tensor q, attn;        // [L, B, H, hd], [L, B, H * hd] (compact)
  at::Tensor partials;       // [L] attention split partials (fp32)
  at::Tensor tickets;        // [L, B, H] int32, zero
  at::Tensor workspace;      // [2L] W_o and fused_mlp workspaces (bytes), zero; with the ordered split sums
                             // (split_sum.h) each also holds its op's partials area, which needs no zeroing
  // Per predictor task (the tasks' ops may run at once): z [B, rank] fp16, the scores
  // (lowrank_predictor_scores_floats), z's split-K partials, and the zero-kept workspace (bytes).
  at::Tensor pred_z, pred_scores, pred_partials, pred_workspace;
  at::Tensor argmax;         // [B] uint64 packed LM-head maxima, zero
  at::Tensor mlp_h;          // [L, B, ffn] the split MLP's compact activations (DEJAVU_PERSISTENT_MLP=split), or none
  bool split_mlp = false;    // sparse MLP blocks as up + down (step_switches.h), read once when built
  size_t workspace_stride = 0, partials_stride = 0;
  std::vector<size_t> z_offset, score_offset, partial_offset, workspace_offset;  // per task, in elements / bytes
};

struct PersistentPlan {
  std::vector<kernels::ScheduleOp> ops;           // names, layers, units, waits
  std::vector<kernels::DecodeOpParams> params;    // parallel to ops
};

// sparse == nullptr: the dense step. num_ctas sizes the split ops' units. Throws dv::Error for what the
// persistent path does not run (batch > 8, int8 predictors, sharded weights).
PersistentPlan plan_persistent_step(const GpuWeights& w, const DecodeBuffers& b, const SparseState* sparse,
                                    PersistentBuffers& pb, int num_ctas);

}  // namespace dv::engine
