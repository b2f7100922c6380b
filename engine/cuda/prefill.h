// prefill.h: the prompt (or a scored window) through the engine in one pass: every layer's GEMMs over all
// rows * T tokens (cuBLAS, fp16 in, fp32 accumulate), causal attention as two strided-batched GEMMs around
// kernels/causal_softmax, and the K/V cache rows 0..T-1 filled exactly as T dense decode steps would fill them.
//
// Sparse prefill selects per token (a SparseState built from the SparseSpec): each token's neurons / heads
// come from the layer's predictor (top-k or threshold of its logits, from the snapshot it was trained on), from
// its own dense values (kOracle: fc1 post-ReLU, head output norms), or from the layer's fixed list; they are
// applied as {0,1} masks on the dense fc1 activations and head outputs before fc2 / W_o, which is exact (a
// masked unit contributes nothing, as in the sparse decode step). K/V stay dense, as the decode step's
// catch-up guarantees, so decoding (dense or sparse) continues from the prefilled cache.
//
// The few host-side choices (top-k, masks, log-softmax) are LibTorch ops on the engine's main stream.
#pragma once

#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

#include "engine/cuda/decode_buffers.h"
#include "engine/cuda/engine_context.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_state.h"
#include "kernels/common/sparsity_rule.h"

namespace dv::engine {

// What the masks kept, summed over tokens and layers (kernels/common/sparsity_rule.h's one type, computed on the
// device): a sparse block counts every layer, its dense layers as fully kept.
using SelectionStats = dv::SelectionStats;

struct PrefillOutputs {
  bool want_logprobs = false;  // fill logprobs
  at::Tensor logprobs;         // CPU fp32 [rows, T - 1]: log p(tokens[r][t + 1] | tokens[r][..t]) (next: T)
  bool want_greedy = false;    // with want_logprobs: fill greedy (the argmax is taken on the device)
  at::Tensor greedy;           // CPU uint8 [rows, T - 1]: argmax of the logits after tokens[r][..t] == tokens[r][t + 1]
  // Tokens of each row that are real (empty: all T); the rest is right padding, which the stats do not count.
  std::vector<int> lengths;
  // Non-empty: next[r] follows row r's real tokens and is scored from its last real position; logprobs and
  // greedy then have T columns (lm-eval's last continuation token, past the window).
  std::vector<int32_t> next;
  bool record_masks = false;   // fill mlp_masks / head_masks
  std::vector<at::Tensor> mlp_masks, head_masks;  // [L] CPU bool [rows, T, n]; undefined: the layer ran dense
  bool want_stats = false;
  SelectionStats stats;
};

// rows: 1..batch token lists of one length T <= max_len (ids checked by the caller). Writes the K/V cache rows
// [0, T) of batch rows [0, rows) and buffers.logits[r] = the logits after row r's last token. sparse == nullptr:
// dense.
void run_prefill(const EngineContext& ctx, const GpuWeights& weights, DecodeBuffers& buffers, const SparseState* sparse,
                 const std::vector<std::vector<int32_t>>& rows, PrefillOutputs* out);

}  // namespace dv::engine
