// sparse_spec.h: what the sparse decode step selects, per block kind (MLP neurons, attention heads):
// nothing (dense), fixed index lists (random of a density, or given: oracle masks, tests), or the Deja Vu
// low-rank predictors run on the GPU. The engine takes predictor weights as plain tensors so that it does
// not depend on pipeline/ (the CLI converts a PredictorSet).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "engine/cuda/sparse_fallback.h"
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"

namespace dv::engine {

enum class SelectionSource {
  kDense,      // every neuron / head, through the dense path
  kFixed,      // one index list per layer, uploaded once (replaceable between steps)
  kPredictor,  // low-rank predictor + top-k / threshold on the side stream, inside the step
  kOracle,     // prefill only: each token keeps the top-k of its own dense values (fc1 post-ReLU, head norms)
};

// Which residual-stream snapshot a predictor reads (pipeline/train/predictor_input.h, same names).
// prev_* at layer 0 read layer 0's attention input, as the pipeline's resolve_input does.
enum class PredictorInputKind { kAttnInput, kMlpInput, kPrevAttnInput, kPrevMlpInput };
PredictorInputKind parse_predictor_input_kind(const std::string& name);

// One layer's predictor: logits = (x w1^T) w2^T. Any dtype and device; the engine keeps fp16 copies.
struct LowRankWeights {
  at::Tensor w1;  // [rank, d]; undefined = this layer has no predictor (runs dense)
  at::Tensor w2;  // [n, rank]
};

struct BlockSpec {
  SelectionSource source = SelectionSource::kDense;
  // Fraction kept by fixed random lists and by predictor top-k: k = ceil(density * n), clamped to [1, n].
  double density = 1.0;
  // Per-layer densities (empty: `density` for every layer); layer l uses layer_density[l] when l < size.
  std::vector<double> layer_density;
  // Predictors only: keep sigmoid(logit) >= probability (for any batch row) instead of top-k; up to n kept.
  bool threshold = false;
  float probability = 0.5f;
  uint64_t seed = 0;                        // kFixed without lists: the random subsets' seed
  std::vector<std::vector<int>> lists;      // kFixed: one list per layer (distinct indices in [0, n)); or empty
  std::vector<LowRankWeights> predictors;   // kPredictor: one per layer
  bool int8_weights = false;                // kPredictor: int8 weights, per-row scales (engine/models/int8_rows.h)
  // kPredictor, batch > 1, top-k: each row's own top-k, united (kPerRow), or one top-k of every neuron's
  // largest logit over the rows (kMaxLogit: k in all). Threshold mode always unites by the max (the same set).
  kernels::BatchUnion batch_union = kernels::BatchUnion::kPerRow;
  // kPredictor: a united selection of more than dense_crossover * n indices becomes all n (decided on the
  // device; 1 = never). Default from kernel_bench on the H200 (results/h200/2026-12-01_704d2ca): the sparse
  // MLP kernels stop beating dense cuBLAS between 89% (opt-30b) and 96% (opt-66b) of the neurons. All n is
  // what the dense step runs at batch <= 8 (fused_mlp over the identity selection); above, the sparse kernels
  // read all n (0.90-0.96x of cuBLAS in that table).
  double dense_crossover = 0.9;
  PredictorInputKind input = PredictorInputKind::kAttnInput;
  double density_of(int layer) const {
    return layer >= 0 && layer < static_cast<int>(layer_density.size()) ? layer_density[layer] : density;
  }
};

// Which heads' K/V a sparse step computes. kSelected: the selected heads', each catching up the positions it
// missed (bounded: heads lagging too far are caught up on a low-priority stream, sparse_qkv.cuh's plan);
// kAll: every head's, at pos only (no history kept), while q, attention and W_o stay on the selected heads;
// kAuto: kAll for a layer whose head union over the batch, 1 - (1 - density)^B, reaches 90% (or whose batch
// the catch-up plan cannot bound), kSelected otherwise.
enum class KvHeads { kAuto, kSelected, kAll };
KvHeads parse_kv_heads(const std::string& name);  // auto | selected | all

struct SparseSpec {
  BlockSpec mlp;
  BlockSpec heads = [] {
    BlockSpec b;
    b.input = PredictorInputKind::kPrevAttnInput;  // the paper's head predictor: one block of lookahead
    return b;
  }();
  // dense_layer[l]: both blocks of layer l run dense whatever the sources (the reference keeps OPT-175B's last
  // 10 layers dense); the same flags as the CPU masks' SparsityPlan::dense_layer (shorter = the rest sparse).
  std::vector<bool> dense_layer;
  KvHeads kv_heads = KvHeads::kAuto;
  // Off: sparse requests run the sparse step. On: they run whichever step measured faster on this engine
  // (sparse_fallback.h; graph path on one GPU only).
  SparseFallback fallback;
  bool is_dense(int layer) const {
    return layer >= 0 && layer < static_cast<int>(dense_layer.size()) && dense_layer[layer];
  }
};

// ceil(density * n) clamped to [1, n]: the pipeline's topk_count rule, so eval and engine agree on k.
int kept_count(double density, int n);

// k distinct indices of [0, n) drawn with the given seed, sorted ascending (random fixed selections).
std::vector<int> random_subset(int n, int k, uint64_t seed);

}  // namespace dv::engine
