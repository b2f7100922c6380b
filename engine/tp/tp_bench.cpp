// tp_bench.cpp: the per-rank sweep of `dejavu bench --tp N` (see tp_bench.h).
#include "engine/tp/tp_bench.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <unistd.h>

#include <c10/cuda/CUDACachingAllocator.h>
#include <cuda_runtime.h>
#include <fmt/format.h>

#include "engine/cuda/bench_bytes.h"
#include "engine/cuda/engine_context.h"
#include "engine/cuda/sparse_spec.h"
#include "engine/cuda/tensor_ptr.h"
#include "engine/io/opt_config.h"
#include "engine/tp/tp_engine.h"
#include "kernels/common/cuda_check.h"

namespace dv {
namespace {

using engine::StepMode;

// Layers of a rank's slice that fit, from the GPU's total memory (not its free memory, which differs between
// ranks: every rank must build the same layers for the collectives to match).
int layers_that_fit(const OptConfig& c, const TpBenchOptions& o, int world) {
  size_t free_b = 0, total_b = 0;
  DV_CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  const double len = o.prompt_len + o.warmup + o.iters + 1, d = static_cast<double>(c.hidden_size);
  const double per_layer = static_cast<double>(engine::gpu_layer_bytes(c, world)) + 2.0 * 2 * len * d / world +
                           2.0 * len * d +
                           (o.predictors ? 2.0 * (o.rank_mlp * (d + c.ffn_dim / world) +
                                                  o.rank_att * (d + c.num_attention_heads / world))
                                         : 0.0);
  const double avail = static_cast<double>(total_b) - (o.reserve_gib + 2) * (1u << 30) -
                       static_cast<double>(engine::gpu_shared_bytes(c));
  int n = std::min<int>(static_cast<int>(std::floor(avail / per_layer)), static_cast<int>(c.num_hidden_layers));
  if (o.max_layers > 0) n = std::min(n, o.max_layers);
  return n;
}

class RankSweep {
 public:
  RankSweep(TpEngine& tp, const TpBenchOptions& o, const std::string& shape, int model_layers, double copy_gbps)
      : tp_(tp), eng_(tp.engine()), o_(o), shape_(shape), model_layers_(model_layers), copy_gbps_(copy_gbps) {}

  void prompt() {
    eng_.reset();
    eng_.set_tokens({static_cast<int32_t>(1000 % eng_.config().vocab_size)});
    for (int t = 0; t < o_.prompt_len; ++t) eng_.enqueue_step(StepMode::kDense);
    DV_CUDA_CHECK(cudaStreamSynchronize(eng_.stream()));
  }

  // Times `mode` with and without the all-reduces; the row is rank 0's, with every rank's figures folded in.
  TpBenchRow time(const std::string& name, StepMode mode, double mlp_d, double head_d, int mlp_kept, int heads_kept,
                  double dense_ms) {
    const engine::StepTiming t = engine::time_decode_steps(eng_, mode, o_.prompt_len, o_.warmup, o_.iters);
    TpBenchRow r;
    r.world = tp_.world();
    r.logits_spread = tp_.logits_spread();
    tp_.set_all_reduce(false);
    r.no_reduce_ms = engine::time_decode_steps(eng_, mode, o_.prompt_len, o_.warmup, o_.iters).median;
    tp_.set_all_reduce(true);
    const double mean_len = o_.prompt_len + o_.warmup + o_.iters / 2.0 + 1;
    const double pred_bytes = mode == StepMode::kSparse ? eng_.sparse()->predictor_bytes : 0.0;
    r.row = engine::make_bench_row(eng_, shape_, model_layers_, name, mlp_d, head_d, mlp_kept, heads_kept, t,
                                   mean_len, pred_bytes, copy_gbps_, dense_ms);
    r.all_reduce_share = t.median > 0 ? std::max(0.0, 1.0 - r.no_reduce_ms / t.median) : 0.0;
    // Every rank's median and kept counts: sums and maxima over the ranks.
    std::vector<float> mine = {static_cast<float>(t.median), static_cast<float>(mlp_kept),
                               static_cast<float>(heads_kept)};
    // Two synchronous host-to-device copies (no LibTorch kernel on its stream racing the NCCL calls on ours).
    const at::Device dev(at::kCUDA, eng_.context().device());
    at::Tensor sum = at::tensor(mine).to(dev);
    at::Tensor mx = at::tensor(mine).to(dev);
    tp_.comm().all_reduce_sum_f32(sum.data_ptr<float>(), mine.size(), eng_.stream());
    tp_.comm().all_reduce_max_f32(mx.data_ptr<float>(), mine.size(), eng_.stream());
    DV_CUDA_CHECK(cudaStreamSynchronize(eng_.stream()));
    const at::Tensor s = sum.cpu(), m = mx.cpu();
    r.mean_rank_ms = s[0].item<double>() / r.world;
    r.max_rank_ms = m[0].item<double>();
    r.mlp_kept_max = static_cast<int>(m[1].item<double>());
    r.heads_kept_max = static_cast<int>(m[2].item<double>());
    return r;
  }

  engine::SparseSpec spec(bool predictors) const {
    engine::SparseSpec s;
    s.mlp.density = o_.mlp_density;
    s.heads.density = o_.head_density;
    if (!predictors) {
      s.mlp.source = s.heads.source = engine::SelectionSource::kFixed;
      s.mlp.seed = o_.seed;
      s.heads.seed = o_.seed + 1;
      return s;
    }
    // Random predictors already of the rank's output rows (drawn on its GPU): no whole-model copy anywhere.
    const auto& w = eng_.weights();
    const uint64_t seed = o_.seed * 1000 + 97 * tp_.rank();
    s.mlp.source = s.heads.source = engine::SelectionSource::kPredictor;
    s.mlp.input = engine::PredictorInputKind::kAttnInput;
    s.heads.input = engine::PredictorInputKind::kPrevAttnInput;
    s.mlp.predictors = engine::random_predictors(w.config, w.num_layers(), o_.rank_mlp, w.ffn(), seed + 1);
    s.heads.predictors = engine::random_predictors(w.config, w.num_layers(), o_.rank_att, w.heads(), seed + 500001);
    return s;
  }

 private:
  TpEngine& tp_;
  engine::CudaEngine& eng_;
  const TpBenchOptions& o_;
  std::string shape_;
  int model_layers_;
  double copy_gbps_;
};

void bench_one(const TpRankEnv& env, const TpBenchOptions& o, const OptConfig& full, int layers,
               const TpEngine::WeightsFactory& factory, double copy_gbps, TpBenchReport& report,
               const std::function<void(const TpBenchRow&)>& on_row) {
  TpEngineOptions eo;
  eo.batch = 1;
  eo.max_len = o.prompt_len + o.warmup + o.iters + 1;
  eo.use_graph = o.use_graph;
  OptConfig built = full;
  built.num_hidden_layers = layers;
  TpEngine tp(env, built, factory, eo);
  // Every rank has joined the group: the id file is no longer needed.
  if (env.rank == 0 && !env.id_file.empty()) ::unlink(env.id_file.c_str());
  RankSweep sweep(tp, o, full.name, static_cast<int>(full.num_hidden_layers), copy_gbps);
  sweep.prompt();
  const int ffn = static_cast<int>(tp.plan().local_ffn), H = static_cast<int>(tp.plan().local_heads);
  auto emit = [&](const TpBenchRow& r) {
    report.rows.push_back(r);
    if (env.rank == 0 && on_row) on_row(r);
  };
  const TpBenchRow dense = sweep.time("dense", StepMode::kDense, 1, 1, ffn, H, 0);
  emit(dense);
  const int mk = engine::kept_count(o.mlp_density, ffn), hk = engine::kept_count(o.head_density, H);
  for (bool predictors : {false, true}) {
    if (predictors && !o.predictors) continue;
    tp.engine().rewind(o.prompt_len);
    if (predictors)
      tp.engine().set_sparse(sweep.spec(true));  // predictors: drawn per rank, already the rank's rows
    else
      tp.set_sparse(sweep.spec(false));  // fixed random lists: the whole-model spec, sharded
    emit(sweep.time(predictors ? "sparse-predictor" : "sparse-fixed", StepMode::kSparse, o.mlp_density,
                    o.head_density, mk, hk, dense.row.median_ms));
    tp.engine().rewind(o.prompt_len);
    tp.engine().clear_sparse();
  }
}

}  // namespace

TpBenchReport run_tp_bench(const TpRankEnv& env, const TpBenchOptions& o,
                           const std::function<void(const TpBenchRow&)>& on_row) {
  DV_CHECK(o.prompt_len >= 1 && o.iters >= 3 && o.warmup >= 0, "bench: need prompt-len >= 1, iters >= 3, warmup >= 0");
  DV_CHECK(engine::cuda_device_available(), "bench --tp: no CUDA GPU is available on this machine");
  DV_CUDA_CHECK(cudaSetDevice(env.local_rank));
  TpBenchReport report;
  report.world = env.world;
  cudaDeviceProp prop{};
  DV_CUDA_CHECK(cudaGetDeviceProperties(&prop, env.local_rank));
  report.device = prop.name;
  report.copy_gbps = engine::measure_copy_gbps(size_t{1} << 30, 20);
  // A fresh id file per communicator (one per shape): a later group must not read an earlier group's id.
  int group = 0;
  auto env_for_group = [&] {
    TpRankEnv e = env;
    if (!e.id_file.empty()) e.id_file += fmt::format(".{}", group++);
    return e;
  };
  if (!o.model_dir.empty()) {
    const Checkpoint ckpt(o.model_dir);
    auto factory = [&](const TpPlan& plan) { return rank_gpu_weights(ckpt, plan); };
    bench_one(env_for_group(), o, ckpt.config(), static_cast<int>(ckpt.config().num_hidden_layers), factory,
              report.copy_gbps, report, on_row);
    return report;
  }
  for (const std::string& shape : o.shapes) {
    const OptConfig full = opt_config_from_name(shape);
    const int layers = layers_that_fit(full, o, env.world);
    if (layers < 1) {
      report.notes.push_back(fmt::format("{}: skipped, not even one layer of a 1/{} slice fits", shape, env.world));
      continue;
    }
    if (layers < full.num_hidden_layers)
      report.notes.push_back(fmt::format("{}: {} of {} layers built (per-layer figures: ms_per_layer)", shape, layers,
                                         full.num_hidden_layers));
    auto factory = [&](const TpPlan&) { return engine::random_gpu_weights(full, layers, o.seed, env.world); };
    bench_one(env_for_group(), o, full, layers, factory, report.copy_gbps, report, on_row);
    DV_CUDA_CHECK(cudaDeviceSynchronize());
    c10::cuda::CUDACachingAllocator::emptyCache();
  }
  return report;
}

}  // namespace dv
