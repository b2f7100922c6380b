// tp_partition.h: Megatron-style tensor parallelism for OPT as data: for rank r of world size N, the slice
// (dim, start, length) of every checkpoint tensor the rank holds, so that a loader maps only that slice.
//   column-parallel (output rows of HF's [out, in] layout, dim 0): q/k/v_proj and fc1, weights and biases;
//     Q/K/V are split by whole heads (H / N heads a rank), fc1 by ffn_dim / N neurons.
//   row-parallel (input columns, dim 1): out_proj and fc2 weights, the columns matching the rank's heads and
//     neurons; each rank's product is a partial sum, and one all-reduce per block adds them.
//   row-parallel biases (out_proj.bias, fc2.bias): held by rank 0 only (length 0 elsewhere) and added into rank
//     0's partial, so the all-reduced sum carries them exactly once (equivalent to Megatron's adding them after
//     the all-reduce on every rank).
//   everything else (embeddings, layer norms, projections, the LM head): replicated on every rank.
// Torch-free: slices name checkpoint tensors (without the "model.decoder." prefix).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/io/opt_config.h"

namespace dv {

enum class TpShard {
  kReplicated,  // the whole tensor on every rank
  kColumn,      // output rows split over ranks (dim 0)
  kRow,         // input columns split over ranks (dim 1)
  kRank0,       // whole on rank 0, nothing elsewhere (row-parallel bias)
};

struct TensorSlice {
  std::string name;            // checkpoint name without prefix, e.g. "layers.0.fc1.weight"
  std::vector<int64_t> shape;  // the full tensor's shape
  TpShard shard = TpShard::kReplicated;
  int dim = 0;                 // the dimension the slice narrows
  int64_t start = 0;           // first index along dim
  int64_t length = 0;          // count along dim (0: the rank holds nothing of it)
  // A row-major tensor's rows are contiguous, its column ranges are not: a dim-1 slice must be gathered
  // (copied) rather than used in place from the mapped file.
  bool needs_copy() const { return dim > 0 && length < shape[dim]; }
  // The slice's own shape.
  std::vector<int64_t> slice_shape() const;
};

struct TpPlan {
  int rank = 0;
  int world = 1;
  int64_t local_heads = 0;  // attention heads this rank runs
  int64_t local_ffn = 0;    // fc1 neurons this rank runs
  std::map<std::string, TensorSlice> tensors;  // every checkpoint tensor of the config (lm_head excluded)
  // The slice of `name`; dv::Error when the plan has no such tensor.
  const TensorSlice& at(const std::string& name) const;
};

// The plan of rank `rank` in a world of `world` ranks. dv::Error when world < 1, rank is out of range, or the
// head count or ffn_dim is not divisible by world.
TpPlan tp_partition(const OptConfig& config, int rank, int world);

}  // namespace dv
