// engine_test_util.h: shared plumbing of the CUDA engine tests: small odd OPT shapes, random weights rounded
// to fp16 (so the fp32 CPU reference and the fp16 engine hold exactly the same values), the reference's logits
// under per-token masks, running a sequence through the engine, and one relative-error comparison.
// The reference is the LibTorch model of engine/models run in fp32 on the CPU: the engine's only error
// source is then its own fp16 arithmetic (expected ~1e-3 relative; the house tolerance is 1e-2).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/engine_context.h"
#include "engine/models/opt_model.h"
#include "tests/common/scoped_env.h"

#define DV_SKIP_WITHOUT_GPU()                                                           \
  do {                                                                                  \
    if (!::dv::engine::cuda_device_available()) GTEST_SKIP() << "no CUDA GPU";          \
  } while (0)

namespace dv::test {

constexpr double kFp16Tolerance = 1e-2;

struct Shape {
  int d = 128, heads = 2, layers = 2, ffn = 520, vocab = 997, embed = 0;  // embed 0 = d
  bool pre_ln = true;
  std::string name() const;
};
OptConfig make_config(const Shape& s);
inline void PrintTo(const Shape& s, std::ostream* os) { *os << s.name(); }

// random_opt_weights in fp32 on the CPU with every tensor rounded through fp16; `scale` multiplies the
// linear layers' weights (std 0.02 * scale) so that blocks move the residual stream visibly.
OptWeights random_half_exact_weights(const OptConfig& c, uint64_t seed, double scale = 2.0);

// Low-rank predictors per layer (fp32, CPU): w1 [rank, d] and w2 [n, rank], N(0, 1/fan_in), seeded per layer.
std::vector<engine::LowRankWeights> random_predictors(int layers, int d, int rank, int n, uint64_t seed);

// Predictors on both blocks of every layer: random_predictors of ranks mlp_rank / head_rank, seeded mlp_seed /
// head_seed, keeping mlp_density of the neurons and head_density of the heads.
engine::SparseSpec random_predictor_spec(const Shape& shape, double mlp_density, double head_density, int mlp_rank,
                                         int head_rank, uint64_t mlp_seed, uint64_t head_seed);

// Token ids [B, T] in [0, vocab), fresh per seed.
std::vector<std::vector<int32_t>> random_tokens(int batch, int steps, int vocab, uint64_t seed);

// Per step t and layer l, the kept indices (same for every batch row); empty outer vector = dense.
using StepSelections = std::vector<std::vector<std::vector<int>>>;  // [T][L][k]

// Reference logits [B, T, V] (fp32, CPU) with per-token head / neuron masks from the selections.
at::Tensor reference_logits(const OptModel& model, const std::vector<std::vector<int32_t>>& tokens,
                            const StepSelections& heads, const StepSelections& mlp,
                            const std::function<void(const LayerActivations&)>& on_layer = {});

struct EngineRun {
  std::vector<std::vector<float>> logits;  // [T][B * V]
};
// Resets and runs T steps; `before_step(t)` may change selections, `mode(t)` picks the step's mode,
// `after_step(t)` may read selections.
EngineRun run_engine(engine::CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens,
                     const std::function<engine::StepMode(int)>& mode,
                     const std::function<void(int)>& before_step = {}, const std::function<void(int)>& after_step = {});

// run_engine, recording each step's selections after it into mlp[t][l] and heads[t][l] (resized to [T][L]).
EngineRun run_recording_selections(engine::CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens,
                                   const std::function<engine::StepMode(int)>& mode, StepSelections* mlp,
                                   StepSelections* heads);

// ||got - ref|| / ||ref|| of step t against ref[:, t, :]; NaN when got has a non-finite entry.
double step_rel_error(const std::vector<float>& got, const at::Tensor& ref, int t);
double rel_error(const std::vector<float>& got, const std::vector<float>& ref);

// Max over steps of step_rel_error; also prints the per-step errors on failure.
double max_rel_error(const EngineRun& run, const at::Tensor& ref, std::string* detail = nullptr);

using engine::random_subset;  // k distinct sorted indices in [0, n)

// Fixed selections that change every step: each layer but dense_layer keeps mlp_density of the neurons and
// k_heads heads, drawn afresh per step and layer (seed picks the draw); dense_layer keeps all of both and the spec
// runs it dense. heads / mlp are what reference_logits masks with.
struct FixedSparseCase {
  engine::SparseSpec spec;
  StepSelections heads, mlp;  // [T][L]
  int dense_layer = -1;
};
FixedSparseCase fixed_sparse_case(const Shape& shape, int steps, double mlp_density, int k_heads, int dense_layer,
                                  uint64_t seed = 0);
// set_sparse(c.spec), then T sparse steps with c's selections set before each.
EngineRun run_fixed_sparse(engine::CudaEngine& eng, const std::vector<std::vector<int32_t>>& tokens,
                           const FixedSparseCase& c);

// A test suite comparing the persistent path with the graph path: for the whole suite the graph path runs the ops
// the persistent kernel runs (the fused MLP flow, DEJAVU_FUSED_MLP=1, read when a step's graph is captured; off
// by default). The persistent path's sparse MLP blocks are up + down by default (step_switches.h), summed in
// another order than fused_mlp, so its logits agree within tolerance and a selection may flip at a near-tie;
// under DEJAVU_PERSISTENT_MLP=fused the two differ only in scheduling. Base: ::testing::Test or
// ::testing::TestWithParam<T>.
template <class Base>
class SameOpsOnBothPaths : public Base {
 public:
  static void SetUpTestSuite() { fused_mlp() = std::make_unique<ScopedEnv>("DEJAVU_FUSED_MLP", "1"); }
  static void TearDownTestSuite() { fused_mlp().reset(); }

 private:
  static std::unique_ptr<ScopedEnv>& fused_mlp() {
    static std::unique_ptr<ScopedEnv> env;
    return env;
  }
};

}  // namespace dv::test
