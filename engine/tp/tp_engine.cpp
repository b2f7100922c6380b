// tp_engine.cpp: the rank's engine, its all-reduce hook, the sharded weights and sparse specs.
#include "engine/tp/tp_engine.h"

#include <ATen/ATen.h>

#include "engine/tp/tp_weights.h"
#include "kernels/common/cuda_check.h"

namespace dv {

TpEngine::TpEngine(const TpRankEnv& env, const OptConfig& config, const WeightsFactory& make_weights,
                   const TpEngineOptions& o)
    : plan_(tp_partition(config, env.rank, env.world)) {
  comm_ = std::make_unique<NcclComm>(env, o.id_wait_seconds);  // selects GPU env.local_rank
  engine::CudaEngineOptions eo;
  eo.batch = o.batch;
  eo.max_len = o.max_len;
  eo.use_graph = o.use_graph;
  eo.device = env.local_rank;
  // Read at record time: switching it takes a recapture (set_all_reduce drops the graphs).
  eo.all_reduce = [this](__half* data, size_t count, cudaStream_t stream) {
    if (reduce_on_) comm_->all_reduce_sum_fp16(data, count, stream);
  };
  engine::GpuWeights w = make_weights(plan_);
  DV_CHECK(w.heads() == plan_.local_heads && w.ffn() == plan_.local_ffn,
           "tensor-parallel rank {}: weights hold {} heads / {} neurons, the plan {} / {}", plan_.rank, w.heads(),
           w.ffn(), plan_.local_heads, plan_.local_ffn);
  engine_ = std::make_unique<engine::CudaEngine>(std::move(w), eo);
  // One eager all-reduce of the step's size before any capture: NCCL may set up connections on a
  // communicator's first collective, which is better not done inside a graph capture. (Every rank captures or
  // none does: use_graph is the same on every rank, as NCCL requires.)
  at::Tensor warm = at::zeros({static_cast<int64_t>(o.batch) * config.hidden_size},
                              at::TensorOptions().dtype(at::kHalf).device(at::kCUDA, env.local_rank));
  DV_CUDA_CHECK(cudaDeviceSynchronize());
  comm_->all_reduce_sum_fp16(warm.data_ptr(), static_cast<size_t>(warm.numel()), engine_->stream());
  DV_CUDA_CHECK(cudaStreamSynchronize(engine_->stream()));
}

TpEngine::~TpEngine() { engine_.reset(); }  // the engine's streams drain before the communicator goes

void TpEngine::set_sparse(const engine::SparseSpec& spec) { engine_->set_sparse(shard_sparse_spec(spec, plan_)); }

void TpEngine::set_all_reduce(bool on) {
  if (on == reduce_on_) return;
  engine_->drop_graphs();
  reduce_on_ = on;
}

double TpEngine::logits_spread() {
  // Both operands are made on the host and copied synchronously: no LibTorch kernel on its own stream may race
  // the NCCL calls on the engine's stream.
  const std::vector<float> host = engine_->logits();
  std::vector<float> neg(host.size());
  for (size_t i = 0; i < host.size(); ++i) neg[i] = -host[i];  // max of -x = -min x
  const at::Device dev(at::kCUDA, engine_->context().device());
  const int64_t n = static_cast<int64_t>(host.size());
  at::Tensor hi = at::from_blob(const_cast<float*>(host.data()), {n}, at::kFloat).to(dev);
  at::Tensor neg_lo = at::from_blob(neg.data(), {n}, at::kFloat).to(dev);
  comm_->all_reduce_max_f32(hi.data_ptr<float>(), host.size(), engine_->stream());
  comm_->all_reduce_max_f32(neg_lo.data_ptr<float>(), host.size(), engine_->stream());
  DV_CUDA_CHECK(cudaStreamSynchronize(engine_->stream()));
  return (hi + neg_lo).max().item<double>();
}

engine::GpuWeights rank_gpu_weights(const Checkpoint& ckpt, const TpPlan& plan) {
  OptWeights w = load_rank_weights(ckpt, plan.rank, plan.world, at::kHalf, at::Device(at::kCPU));
  load_whole_row_biases(ckpt, w, at::kHalf, at::Device(at::kCPU));
  return engine::upload_weights(w);
}

engine::GpuWeights rank_gpu_weights(const OptWeights& full, const TpPlan& plan) {
  OptWeights w = slice_weights(full, plan);
  for (size_t l = 0; l < w.layers.size(); ++l) {
    w.layers[l].out_b = full.layers[l].out_b;
    w.layers[l].fc2_b = full.layers[l].fc2_b;
  }
  return engine::upload_weights(w);
}

namespace {

void shard_block(engine::BlockSpec& b, int64_t start, int64_t local) {
  for (auto& p : b.predictors)
    if (p.w2.defined()) p.w2 = p.w2.narrow(0, start, local).contiguous();
  for (auto& list : b.lists) {
    std::vector<int> mine;
    for (int i : list)
      if (i >= start && i < start + local) mine.push_back(static_cast<int>(i - start));
    list = std::move(mine);
  }
}

}  // namespace

engine::SparseSpec shard_sparse_spec(const engine::SparseSpec& spec, const TpPlan& plan) {
  engine::SparseSpec s = spec;
  shard_block(s.mlp, plan.rank * plan.local_ffn, plan.local_ffn);
  shard_block(s.heads, plan.rank * plan.local_heads, plan.local_heads);
  // Fixed random lists: a seed per rank, so ranks do not all keep the same local positions.
  s.mlp.seed = spec.mlp.seed + 0x51ED27ull * plan.rank;
  s.heads.seed = spec.heads.seed + 0x51ED27ull * plan.rank;
  return s;
}

}  // namespace dv
