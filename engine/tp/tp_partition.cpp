// tp_partition.cpp: classifying each checkpoint tensor of an OPT config by its name into a tensor-parallel
// shard, and the rank's range along the split dimension.
#include "engine/tp/tp_partition.h"

#include "engine/io/checkpoint.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

TpShard shard_of(const std::string& name) {
  for (const char* col : {"q_proj.weight", "q_proj.bias", "k_proj.weight", "k_proj.bias", "v_proj.weight",
                          "v_proj.bias", "fc1.weight", "fc1.bias"})
    if (ends_with(name, std::string(".") + col)) return TpShard::kColumn;
  if (ends_with(name, ".out_proj.weight") || ends_with(name, ".fc2.weight")) return TpShard::kRow;
  if (ends_with(name, ".out_proj.bias") || ends_with(name, ".fc2.bias")) return TpShard::kRank0;
  return TpShard::kReplicated;
}

}  // namespace

std::vector<int64_t> TensorSlice::slice_shape() const {
  std::vector<int64_t> s = shape;
  s[dim] = length;
  return s;
}

const TensorSlice& TpPlan::at(const std::string& name) const {
  const auto it = tensors.find(name);
  DV_CHECK(it != tensors.end(), "tensor-parallel plan: no tensor '{}'", name);
  return it->second;
}

TpPlan tp_partition(const OptConfig& c, int rank, int world) {
  DV_CHECK(world >= 1, "tensor parallelism: world size {} must be at least 1", world);
  DV_CHECK(rank >= 0 && rank < world, "tensor parallelism: rank {} is outside world size {}", rank, world);
  DV_CHECK(c.num_attention_heads % world == 0,
           "tensor parallelism: num_attention_heads {} is not divisible by world size {} (each rank runs whole heads)",
           c.num_attention_heads, world);
  DV_CHECK(c.ffn_dim % world == 0, "tensor parallelism: ffn_dim {} is not divisible by world size {}", c.ffn_dim,
           world);
  TpPlan plan;
  plan.rank = rank;
  plan.world = world;
  plan.local_heads = c.num_attention_heads / world;
  plan.local_ffn = c.ffn_dim / world;
  for (const auto& [name, shape] : Checkpoint::expected_tensors(c)) {
    TensorSlice s{name, shape, shard_of(name), 0, 0, shape[0]};
    switch (s.shard) {
      case TpShard::kReplicated: break;
      case TpShard::kColumn:  // q/k/v: d / N rows = H / N whole heads; fc1: ffn / N rows
      case TpShard::kRow:     // out_proj / fc2: the same ranges, as input columns
        s.dim = s.shard == TpShard::kRow ? 1 : 0;
        s.length = shape[s.dim] / world;
        s.start = rank * s.length;
        break;
      case TpShard::kRank0:  // the empty range of ranks > 0 sits at the end, so the ranges still tile the tensor
        s.start = rank == 0 ? 0 : shape[0];
        s.length = rank == 0 ? shape[0] : 0;
        break;
    }
    plan.tensors.emplace(name, std::move(s));
  }
  return plan;
}

}  // namespace dv
