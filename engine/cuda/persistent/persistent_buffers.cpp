// persistent_buffers.cpp: the persistent step's per-layer activations and scratch (see persistent_plan.h).
#include <algorithm>

#include "engine/cuda/device_alloc.h"
#include "engine/cuda/layer_ops.h"
#include "engine/cuda/model_dims.h"
#include "engine/cuda/persistent/persistent_plan.h"
#include "engine/cuda/split_sum.h"
#include "engine/cuda/step_switches.h"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/lowrank_predictor/lowrank_predictor.cuh"
#include "kernels/lowrank_predictor/predictor_plan.cuh"

namespace dv::engine {

int persistent_out_proj_target(int ctas) { return (persistent_one_down_unit() ? 1 : 2) * ctas; }
int persistent_mlp_sms(int ctas) { return std::max(1, ctas / 2); }

PersistentBuffers::PersistentBuffers(const GpuWeights& w, int batch, int max_len, const SparseState* sparse,
                                     int num_ctas) {
  const ModelDims m = model_dims(w);
  const int64_t L = m.layers, B = batch, H = m.heads, hd = m.head_dim;
  const auto half = cuda_options(at::kHalf);
  normed = at::zeros({2 * L, B, m.d}, half);
  q = at::zeros({L, B, H, hd}, half);
  attn = at::zeros({L, B, H * hd}, half);
  const int out_target = persistent_out_proj_target(num_ctas);
  const int mlp_units =
      fused_ordered_sums() ? kernels::plan_fused_mlp(batch, m.d, m.ffn, persistent_mlp_sms(num_ctas)).units : 0;
  workspace_stride = std::max(kernels::fused_mlp_workspace_bytes(batch, m.d, mlp_units),
                              kernels::sparse_mlp_down_workspace_bytes(batch, m.d, m.heads, m.head_dim, out_target,
                                                                       down_ordered_sums()));
  split_mlp = sparse != nullptr && persistent_split_mlp();
  if (split_mlp) {
    workspace_stride = std::max(workspace_stride,
                                kernels::sparse_mlp_down_workspace_bytes(batch, m.d, m.ffn, 1, out_target,
                                                                         down_ordered_sums()));
    mlp_h = at::zeros({L, B, m.ffn}, half);
  }
  workspace_stride = (workspace_stride + 255) / 256 * 256;
  workspace = at::zeros({static_cast<int64_t>(2 * L * workspace_stride)}, cuda_options(at::kByte));
  size_t floats = 1;  // the most partials any head capacity needs (the plan's splits below)
  for (int cap = 1; cap <= m.heads; ++cap)
    floats = std::max(floats, decode_attention_partials_floats(
                                  batch, cap, decode_attention_max_splits(batch, cap, max_len, num_ctas), m.head_dim));
  partials_stride = (floats + 3) / 4 * 4;
  partials = at::zeros({static_cast<int64_t>(L * partials_stride)}, cuda_options(at::kFloat));
  tickets = at::zeros({L, B, H}, cuda_options(at::kInt));
  argmax = at::zeros({B}, cuda_options(at::kLong));
  size_t z = 0, s = 0, part = 0, ws = 0;
  if (sparse != nullptr)
    for (const PredictorTask& t : sparse->tasks) {
      const auto mode = t.threshold ? kernels::SelectMode::kThreshold : kernels::SelectMode::kTopK;
      z_offset.push_back(z);
      score_offset.push_back(s);
      partial_offset.push_back(part);
      workspace_offset.push_back(ws);
      z += static_cast<size_t>(B) * t.rank + 8;  // 16-byte aligned starts (rank % 8 == 0)
      s += kernels::lowrank_predictor_scores_floats(batch, t.n, mode, t.batch_union);  // multiples of 4
      part += (kernels::lowrank_predictor_partials_floats(batch, m.d, t.rank) + 3) / 4 * 4;
      ws += (kernels::lowrank_predictor_workspace_bytes(batch, m.d, t.rank, t.n) + 15) / 16 * 16;
    }
  pred_z = at::zeros({static_cast<int64_t>(std::max<size_t>(z, 8))}, half);
  pred_scores = at::zeros({static_cast<int64_t>(std::max<size_t>(s, 4))}, cuda_options(at::kFloat));
  pred_partials = at::zeros({static_cast<int64_t>(std::max<size_t>(part, 4))}, cuda_options(at::kFloat));
  pred_workspace = at::zeros({static_cast<int64_t>(std::max<size_t>(ws, 16))}, cuda_options(at::kByte));  // kept zero
}

}  // namespace dv::engine
