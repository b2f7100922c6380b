// cuda_engine.h: the GPU decode engine for OPT: fp16 weights, a preallocated KV cache, the decode step
// captured once per mode in a CUDA graph and replayed. Dense mode is the FasterTransformer-class baseline
// (cuBLAS GEMMs + fused kernels); sparse mode (composition: a SparseState built from a SparseSpec) runs only
// the selected MLP neurons and attention heads, with exact K/V catch-up for heads skipped earlier.
//
// A prompt is prefilled in one pass (prefill.h: GEMMs over every prompt token; sparse prompts select per token
// and leave the K/V dense), or run through the decode step one token at a time. A sequence may start dense and
// continue sparse (the paper's setting: dense prompt, sparse decode); the reverse is refused, because dense
// attention would read the K/V rows that skipped heads never wrote.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/cuda/cuda_graph.h"
#include "engine/cuda/decode_buffers.h"
#include "engine/cuda/decode_path.h"
#include "engine/cuda/decode_step.h"
#include "engine/cuda/engine_context.h"
#include "engine/cuda/gpu_weights.h"
#include "engine/cuda/persistent/persistent_decoder.h"
#include "engine/cuda/prefill.h"
#include "engine/cuda/sparse_spec.h"
#include "engine/cuda/sparse_state.h"

namespace dv::engine {

enum class StepMode { kDense, kSparse };

struct CudaEngineOptions {
  int batch = 1;          // sequences decoded together, 1..32
  int max_len = 0;        // KV cache positions; 0 = the model's max_position_embeddings
  bool use_graph = true;  // false: launch every kernel each step (for tests and debugging)
  int device = 0;
  // Tensor parallelism (engine/tp): called on block_out after every block's last projection (two a layer),
  // inside the captured graph. Empty: one GPU. Prefill is single-GPU only.
  BlockAllReduce all_reduce;
  // graph: the captured CUDA graph (default); persistent: one kernel a step (one GPU, batch <= 8; the
  // greedy next token is also written to the token buffer, see engine/cuda/persistent).
  DecodePath decode_path = DecodePath::kGraph;
};

class CudaEngine {
 public:
  CudaEngine(GpuWeights weights, const CudaEngineOptions& options);
  ~CudaEngine();
  CudaEngine(const CudaEngine&) = delete;
  CudaEngine& operator=(const CudaEngine&) = delete;

  const OptConfig& config() const { return weights_.config; }  // num_hidden_layers = layers built
  const GpuWeights& weights() const { return weights_; }
  const EngineContext& context() const { return *ctx_; }
  cudaStream_t stream() const { return ctx_->main(); }
  int batch() const { return buffers_->batch; }
  int max_len() const { return buffers_->max_len; }
  int position() const { return pos_; }

  // Builds the sparse mode's state (selection lists, predictors, catch-up buffers); not in the middle of a
  // sparse sequence (reset() or rewind() first).
  void set_sparse(const SparseSpec& spec);
  void clear_sparse();
  const SparseState* sparse() const { return sparse_.get(); }
  // SparseSpec::fallback: what sparse requests run (decided after the calibration steps; reports, logs).
  const StepChoice& sparse_choice() const { return choice_; }
  // Whether the spec's fallback is on and applies here (graph path with CUDA graphs, one GPU).
  bool sparse_fallback_applies() const;
  // Replaces a kFixed block's list for one layer, effective from the next step.
  void set_fixed_selection(bool mlp_block, int layer, const std::vector<int>& idx);
  // The list a layer used in the last sparse step (after the predictors ran); synchronizes.
  std::vector<int> selection(bool mlp_block, int layer) const;

  void reset();                 // a new sequence at position 0
  // Back to `position` <= the positions written so far by dense steps (benchmarks re-run from one prompt).
  void rewind(int position);
  void set_tokens(const std::vector<int32_t>& tokens);  // [batch] ids for the next step
  void enqueue_step(StepMode mode);                      // asynchronous
  void step(const std::vector<int32_t>& tokens, StepMode mode) {
    set_tokens(tokens);
    enqueue_step(mode);
  }
  // A new sequence of rows[r] (1..batch rows of one length T) prefilled in one pass, dense or sparse (per-token
  // selections); then position() = T and logits() holds each row's last-token logits. Decoding may continue
  // (dense or sparse) when every batch row was prefilled. `out` may ask for log-probs, masks, stats.
  void prefill(const std::vector<std::vector<int32_t>>& rows, StepMode mode, PrefillOutputs* out = nullptr);
  std::vector<float> logits() const;  // [batch, vocab] of the last step or prefill; synchronizes
  void set_use_graph(bool use_graph) { use_graph_ = use_graph; }
  bool use_graph() const { return use_graph_; }
  // Switches how the next steps run (the sequence's state is shared, so a sequence may change paths).
  void set_decode_path(DecodePath path);
  DecodePath decode_path() const { return decode_path_; }
  // The persistent path's decoder for a mode, built on first use (tests: its op list, the watchdog plant).
  PersistentDecoder& persistent(StepMode mode);
  // Drops the captured graphs: the next step captures again (after what the recorded launches depend on
  // changed outside the engine, e.g. a tensor-parallel run switching its all-reduce off for timing).
  void drop_graphs();

 private:
  void record(StepMode mode);
  void begin_step(StepMode mode);   // the mode's K/V validity checks and bookkeeping
  void launch_step(StepMode mode);  // the step on the decode path; advances the position
  // SparseSpec::fallback (sparse_calibration.cpp): whether this sparse request calibrates, and the calibration
  // request: the sparse step timed, the position rewound, the dense step at the same position timed (its K/V
  // and logits stand: the sequence stays dense-written).
  bool calibrating() const;
  void calibration_step();

  std::unique_ptr<EngineContext> ctx_;
  GpuWeights weights_;
  std::unique_ptr<DecodeBuffers> buffers_;
  std::unique_ptr<SparseState> sparse_;
  CudaGraph dense_graph_, sparse_graph_;
  std::unique_ptr<PersistentDecoder> dense_persistent_, sparse_persistent_;
  DecodePath decode_path_ = DecodePath::kGraph;
  void check_persistent() const;  // throws a stopped persistent step's report
  BlockAllReduce all_reduce_;
  bool use_graph_ = true;
  int pos_ = 0;
  int dense_len_ = 0;           // positions [0, dense_len_) were written by dense steps (all heads valid)
  bool sparse_started_ = false;  // a sparse step ran since the last reset/rewind
  bool partial_prefill_ = false; // the last prefill left some batch rows without a cache: no decoding
  SparseFallback fallback_;      // of the current spec
  StepChoice choice_;
  std::vector<double> calibration_dense_ms_, calibration_sparse_ms_;
};

}  // namespace dv::engine
