// tp_engine.h: one rank of a tensor-parallel CUDA decode engine: this process's GPU (LOCAL_RANK), the NCCL
// communicator, and the single-GPU CudaEngine (composition) running the rank's slice: H/N heads and ffn/N
// neurons (column-parallel Q/K/V and fc1, row-parallel W_o and fc2), with block_out all-reduced after W_o
// and after fc2 (the engine's BlockAllReduce seam, inside its CUDA graph). Every rank then applies the same
// bias + residual + layer norm and computes the whole LM head, so every rank holds the same logits.
// Sparse: each rank selects among its own heads and neurons (top-k = density x the local count; predictor
// rows sliced to the rank's units; given lists mapped to the rank's slice).
#pragma once

#include <functional>
#include <memory>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/sparse_spec.h"
#include "engine/io/checkpoint.h"
#include "engine/tp/nccl_comm.h"
#include "engine/tp/tp_partition.h"

namespace dv {

struct TpEngineOptions {
  int batch = 1;
  int max_len = 0;          // 0: the model's max_position_embeddings
  bool use_graph = true;    // false: eager launches (NCCL calls included) every step
  double id_wait_seconds = 120;
};

class TpEngine {
 public:
  // Builds this rank's weights on its GPU (after the communicator selected it): make_weights(plan).
  using WeightsFactory = std::function<engine::GpuWeights(const TpPlan& plan)>;
  TpEngine(const TpRankEnv& env, const OptConfig& config, const WeightsFactory& make_weights,
           const TpEngineOptions& options);
  ~TpEngine();

  int rank() const { return plan_.rank; }
  int world() const { return plan_.world; }
  const TpPlan& plan() const { return plan_; }
  engine::CudaEngine& engine() { return *engine_; }
  const NcclComm& comm() const { return *comm_; }

  // A spec over the whole model's heads and neurons, cut to this rank (shard_sparse_spec).
  void set_sparse(const engine::SparseSpec& spec);
  // Timing only: off, each rank runs its slice without summing (wrong logits at world > 1). Recaptures.
  void set_all_reduce(bool on);
  bool all_reduce() const { return reduce_on_; }
  // max |logit_r - logit_s| over ranks r, s of the last step (collective: every rank must call it).
  double logits_spread();

 private:
  TpPlan plan_;
  std::unique_ptr<NcclComm> comm_;
  std::unique_ptr<engine::CudaEngine> engine_;
  bool reduce_on_ = true;
};

// This rank's slice from a checkpoint (mapped; only the slice is read), whole row-parallel biases, on the GPU.
engine::GpuWeights rank_gpu_weights(const Checkpoint& ckpt, const TpPlan& plan);
// This rank's slice of weights already in memory (tests), whole row-parallel biases, on the GPU.
engine::GpuWeights rank_gpu_weights(const OptWeights& full, const TpPlan& plan);

// The rank's part of a whole-model spec: predictor output rows [start, start + local) of each layer, given
// lists filtered to the rank's range and renumbered from 0; densities apply to the local counts.
engine::SparseSpec shard_sparse_spec(const engine::SparseSpec& spec, const TpPlan& plan);

}  // namespace dv
