// bench_bytes.h: the bytes one decode step must read, term by term, for the roofline in `dejavu bench`:
// every weight of the step once (independent of batch: a GEMV over B rows reads each weight once), the KV
// rows attention reads, and the predictor weights. Activations (B * d scale) are left out; they are < 0.1%
// at batch <= 32. And the device-to-device copy bandwidth those bytes are compared with.
#pragma once

#include "engine/io/opt_config.h"

namespace dv::engine {

struct StepBytes {
  double weights = 0;     // decoder layers + embedding rows + lm_head (+ projections)
  double kv = 0;          // K and V rows read by attention
  double predictors = 0;  // low-rank predictor weights (sparse with predictors)
  double catchup = 0;     // K/V catch-up of re-selected heads (catchup_bytes)
  double total() const { return weights + kv + predictors + catchup; }
};

// config.num_hidden_layers = layers run; mean_len = average attended length over the timed steps.
// mlp_kept / heads_kept: neurons and heads per layer (ffn and H for dense).
StepBytes step_bytes(const OptConfig& config, int batch, double mean_len, int mlp_kept, int heads_kept);

// The bytes the K/V catch-up adds to a step that recomputes `head_positions` missed (head, position) pairs:
// each reads the B input rows of its position from the x_hist ring (d fp16 each) and writes B K and B V rows
// (head_dim fp16 each). The head's K/V weight rows are not counted again: a selected head's missed positions
// are served by the same pass over its weights that computes the current position (sparse_qkv_op.cuh). A
// forced catch-up of an unselected head reads its rows once more; those are left out (the bench reports the
// forced positions beside, 0 in every run so far), so this is a lower bound.
double catchup_bytes(const OptConfig& config, int batch, double head_positions);

// Device-to-device cudaMemcpy bandwidth in GB/s, counting bytes read plus bytes written (median of reps).
double measure_copy_gbps(size_t bytes, int reps);

}  // namespace dv::engine
