// sparse_state.h: the device state of the sparse decode step, built from a SparseSpec: per layer and block
// the selected indices and their count (device memory, written by uploads or by the predictors inside the
// step), the predictor tasks in side-stream order, the K/V catch-up state (x_hist, kv_valid) and the
// sparse kernels' scratch. Lookahead: a predictor task runs on the side stream as soon as its input snapshot
// exists ("points": 2l = layer l's attention input, 2l+1 = its MLP input) and the main stream waits on the
// task's event only right before the first kernel that reads the indices. Batch > 1: a predicted selection is
// the union of the rows' selections (BlockSpec::batch_union), its capacity min(n, rows * k), or n when that
// union may pass the crossover to dense (BlockSpec::dense_crossover).
#pragma once

#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <cuda_runtime.h>

#include "engine/cuda/decode_buffers.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_spec.h"
#include "engine/cuda/stream_events.h"

namespace dv::engine {

struct LayerSelection {
  bool dense = true;  // the block runs the dense path (no list)
  SelectionSource source = SelectionSource::kDense;
  at::Tensor idx;     // int32 [capacity]
  at::Tensor count;   // int32 [1]
  int capacity = 0;   // host bound sizing the kernels' grids
  int task = -1;      // predictor task that writes idx/count, or -1
};

struct PredictorTask {
  bool mlp = true;
  int layer = 0;
  int input_point = 0;  // snapshot it reads
  int need_point = 0;   // its indices are needed right after this point
  at::Tensor wa, wb;    // fp16 [rank, d], [n, rank]; int8 when int8 is set
  bool int8 = false;
  at::Tensor wa_scale, wb_scale;  // int8 only: fp32 [rank], [n]
  int rank = 0, n = 0, top_k = 0;
  bool threshold = false;
  float probability = 0.5f;
  kernels::BatchUnion batch_union = kernels::BatchUnion::kPerRow;
  int dense_above = 0;  // united counts above this select all n (the crossover to dense)
};

// One layer's K/V plan (sparse_qkv.cuh): K/V of every head, or of the selected heads with the forced catch-up
// of at most max_forced heads a step that miss force_lag positions or more.
struct LayerKv {
  bool all_kv = false;
  int max_forced = 0;
  int force_lag = 0;
};

// Catch-up work of a range of decode steps, from the device counters: head-positions recomputed per step
// (all layers) for selected heads plus forced heads; lost positions are a broken plan (never expected).
struct CatchupStats {
  double mean_per_step = 0;
  int max_per_step = 0;
  long long forced = 0;
  long long lost = 0;
};

class SparseState {
 public:
  SparseState(const GpuWeights& weights, const SparseSpec& spec, int batch, int max_len, int num_sms);

  int batch() const { return batch_; }

  std::vector<LayerSelection> mlp, heads;  // [layers]
  std::vector<PredictorTask> tasks;        // side-stream order: by input point, then need point
  std::vector<LayerKv> kv;                 // [layers]
  int kv_ring = 0;                         // x_hist positions (0: every layer computes all heads' K/V)
  at::Tensor x_hist;                       // fp16 [L, B, kv_ring, d] ring of the layer-normed attention inputs
  std::vector<at::Tensor> w_qkv_tiled;     // [L]: w_qkv in sparse_qkv's tiled layout, or undefined (tiled_qkv.h)
  at::Tensor kv_valid;                     // int32 [L, H, sparse_qkv_valid_slots(hd)]
  at::Tensor forced;                       // int32 [L, 2 * kSparseQkvMaxForced + 1]: forced (head, from) pairs, count
  at::Tensor catchup_counts;               // int32 [max_len, 3] per position: selected, forced, lost head-positions
  LowPriorityStream catchup_stream;        // the forced catch-up, forked after each layer's QKV, joined per step
  EventList catchup_fork, catchup_join;    // [layers], [1]
  at::Tensor mlp_h;                        // fp16 [B, mlp_ld]: compact fc1 activations
  int mlp_ld = 8;
  at::Tensor down_workspace;               // sparse_mlp_down's, for either split-sum scheme (split_sum.h); its
                                           // zeroed part stays zero between launches
  // The residual-stream flow's layer-norm row partials (sparse_mlp_down's row_partials), fp32
  // [2][ln_partial_blocks][B][2]: slot 0 of mlp_in(l) (W_o writes, the up projection reads), slot 1 of
  // attn_in(l + 1) (the MLP down writes, the next layer's QKV reads); one of each serves every layer.
  at::Tensor ln_partials;
  int ln_partial_blocks = 1;
  AttentionScratch attention;              // decode_attention partials for the largest head capacity
  // Predictor workspace, shared by the tasks (serial on the side stream): z [B, max rank] fp16, the scores
  // (lowrank_predictor_scores_floats), z's split-K partials, and the zero-kept counters and histograms.
  at::Tensor pred_z, pred_scores, pred_partials, pred_workspace;
  EventList point_events, task_events, join_event;
  double predictor_bytes = 0;              // predictor weight (+ scale) bytes read per step
  bool has_oracle = false;                 // some block selects by kOracle (prefill only)

  // Task t's predictor call on input x: its weights, sizes, rule and selection; the workspaces are the shared
  // pred_* (the graph path's side stream runs the tasks one at a time; other callers replace them).
  kernels::LowrankPredictorArgs predictor_args(int t, const __half* x) const;
  // Replaces a kFixed block's list for one layer (stream-ordered after earlier steps).
  void set_fixed(bool mlp_block, int layer, const std::vector<int>& idx, cudaStream_t stream);
  // Current list of a block (synchronizes the stream).
  std::vector<int> read(bool mlp_block, int layer, cudaStream_t stream) const;
  // kv_valid = value for every layer and head (0 for a new sequence; T after T dense-written positions);
  // the catch-up counters start again from zero.
  void fill_kv_valid(int value, cudaStream_t stream);
  // The catch-up counters of positions [first, last) (synchronizes the stream).
  CatchupStats catchup_stats(int first, int last, cudaStream_t stream) const;

 private:
  int ffn_ = 0, num_heads_ = 0, head_dim_ = 0, batch_ = 1;
};

}  // namespace dv::engine
