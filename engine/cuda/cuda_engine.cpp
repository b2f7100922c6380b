// cuda_engine.cpp: step bookkeeping (position, K/V validity across modes) and graph capture.
#include "engine/cuda/cuda_engine.h"

#include "engine/cuda/decode_step.h"
#include "engine/cuda/engine_kernels.cuh"
#include "engine/cuda/tensor_ptr.h"
#include "kernels/common/cuda_check.h"

namespace dv::engine {

CudaEngine::CudaEngine(GpuWeights weights, const CudaEngineOptions& options)
    : ctx_(std::make_unique<EngineContext>(options.device)), weights_(std::move(weights)),
      all_reduce_(options.all_reduce) {
  set_decode_path(options.decode_path);
  const int max_len = options.max_len > 0 ? options.max_len : static_cast<int>(weights_.config.max_position_embeddings);
  buffers_ = std::make_unique<DecodeBuffers>(weights_.config, options.batch, max_len, ctx_->num_sms(),
                                             weights_.heads(), weights_.ffn());
  // A sync after every launch (DEJAVU_SYNC_CHECK=1) is illegal under capture: debug runs launch eagerly.
  use_graph_ = options.use_graph && !sync_after_launch();
  DV_CUDA_CHECK(cudaDeviceSynchronize());
  reset();
}

CudaEngine::~CudaEngine() {
  if (ctx_ != nullptr) (void)cudaStreamSynchronize(ctx_->main());
}

void CudaEngine::set_decode_path(DecodePath path) {
  DV_CHECK(path == DecodePath::kGraph || (!all_reduce_ && !weights_.sharded()),
           "CUDA engine: the persistent decode path runs on one GPU; tensor parallelism stays on the graph path "
           "(--decode-path graph)");
  decode_path_ = path;
}

PersistentDecoder& CudaEngine::persistent(StepMode mode) {
  std::unique_ptr<PersistentDecoder>& d = mode == StepMode::kDense ? dense_persistent_ : sparse_persistent_;
  if (d == nullptr) {
    DV_CHECK(mode == StepMode::kDense || sparse_ != nullptr, "CUDA engine: sparse step before set_sparse");
    d = std::make_unique<PersistentDecoder>(*ctx_, weights_, *buffers_,
                                            mode == StepMode::kSparse ? sparse_.get() : nullptr);
  }
  return *d;
}

void CudaEngine::check_persistent() const {
  for (const auto* d : {dense_persistent_.get(), sparse_persistent_.get()})
    if (d != nullptr) d->check();
}

void CudaEngine::set_sparse(const SparseSpec& spec) {
  DV_CHECK(!sparse_started_, "CUDA engine: set_sparse in the middle of a sparse sequence (reset or rewind first)");
  sparse_graph_.reset();
  ctx_->synchronize();
  sparse_persistent_.reset();
  sparse_.reset();
  check_sparse_fallback(spec.fallback);
  sparse_ = std::make_unique<SparseState>(weights_, spec, buffers_->batch, buffers_->max_len, ctx_->num_sms());
  fallback_ = spec.fallback;
  choice_ = StepChoice{};
  calibration_dense_ms_.clear();
  calibration_sparse_ms_.clear();
}

void CudaEngine::clear_sparse() {
  DV_CHECK(!sparse_started_, "CUDA engine: clear_sparse in the middle of a sparse sequence (reset or rewind first)");
  sparse_graph_.reset();
  ctx_->synchronize();
  sparse_persistent_.reset();
  sparse_.reset();
  fallback_ = SparseFallback{};
  choice_ = StepChoice{};
}

void CudaEngine::set_fixed_selection(bool mlp_block, int layer, const std::vector<int>& idx) {
  DV_CHECK(sparse_ != nullptr, "CUDA engine: set_fixed_selection before set_sparse");
  sparse_->set_fixed(mlp_block, layer, idx, ctx_->main());
}

std::vector<int> CudaEngine::selection(bool mlp_block, int layer) const {
  DV_CHECK(sparse_ != nullptr, "CUDA engine: selection() before set_sparse");
  ctx_->synchronize();
  check_persistent();
  return sparse_->read(mlp_block, layer, ctx_->main());
}

void CudaEngine::reset() {
  ctx_->synchronize();
  for (auto* d : {dense_persistent_.get(), sparse_persistent_.get()})
    if (d != nullptr && d->failed()) d->recover(ctx_->main());
  pos_ = 0;
  dense_len_ = 0;
  sparse_started_ = false;
  partial_prefill_ = false;
  launch_set_position(int_ptr(buffers_->pos), int_ptr(buffers_->positions), buffers_->batch, 0, ctx_->main());
}

void CudaEngine::prefill(const std::vector<std::vector<int32_t>>& rows, StepMode mode, PrefillOutputs* out) {
  DV_CHECK(mode == StepMode::kDense || sparse_ != nullptr, "CUDA engine: sparse prefill before set_sparse");
  DV_CHECK(!weights_.sharded() && !all_reduce_,
           "CUDA engine: prefill runs on one GPU only (a tensor-parallel rank runs the prompt through decode steps)");
  for (const auto& r : rows)
    for (int32_t t : r)
      DV_CHECK(t >= 0 && t < weights_.config.vocab_size, "CUDA engine: token id {} outside the vocabulary [0, {})", t,
               weights_.config.vocab_size);
  reset();
  run_prefill(*ctx_, weights_, *buffers_, mode == StepMode::kSparse ? sparse_.get() : nullptr, rows, out);
  // The prefilled K/V are dense (every head, every position) whatever the mode: a dense prefix.
  pos_ = dense_len_ = static_cast<int>(rows.at(0).size());
  partial_prefill_ = static_cast<int>(rows.size()) < buffers_->batch;
  launch_set_position(int_ptr(buffers_->pos), int_ptr(buffers_->positions), buffers_->batch, pos_, ctx_->main());
}

void CudaEngine::rewind(int position) {
  DV_CHECK(position >= 0 && position <= dense_len_,
           "CUDA engine: rewind to {} but only positions [0, {}) were written by dense steps", position, dense_len_);
  ctx_->synchronize();
  for (auto* d : {dense_persistent_.get(), sparse_persistent_.get()})
    if (d != nullptr && d->failed()) d->recover(ctx_->main());
  pos_ = position;
  dense_len_ = position;
  sparse_started_ = false;
  launch_set_position(int_ptr(buffers_->pos), int_ptr(buffers_->positions), buffers_->batch, position, ctx_->main());
}

void CudaEngine::set_tokens(const std::vector<int32_t>& tokens) {
  DV_CHECK(static_cast<int>(tokens.size()) == buffers_->batch, "CUDA engine: {} tokens for a batch of {}",
           tokens.size(), buffers_->batch);
  for (int32_t t : tokens)
    DV_CHECK(t >= 0 && t < weights_.config.vocab_size, "CUDA engine: token id {} outside the vocabulary [0, {})", t,
             weights_.config.vocab_size);
  // Pageable source: the call returns once the ids are staged, so `tokens` may change right after.
  DV_CUDA_CHECK(cudaMemcpyAsync(int_ptr(buffers_->tokens), tokens.data(), tokens.size() * sizeof(int32_t),
                                cudaMemcpyHostToDevice, ctx_->main()));
}

void CudaEngine::enqueue_step(StepMode mode) {
  DV_CHECK(pos_ < buffers_->max_len, "CUDA engine: position {} is past the KV cache of {} positions", pos_,
           buffers_->max_len);
  DV_CHECK(!partial_prefill_, "CUDA engine: decoding after a prefill of fewer rows than the batch");
  if (mode == StepMode::kSparse && calibrating()) return calibration_step();
  // Settled on dense: sparse requests run dense (unless real sparse steps ran, e.g. on the persistent path).
  if (mode == StepMode::kSparse && choice_.decided && !choice_.sparse && sparse_fallback_applies() && !sparse_started_)
    mode = StepMode::kDense;
  begin_step(mode);
  launch_step(mode);
}

void CudaEngine::begin_step(StepMode mode) {
  if (mode == StepMode::kDense) {
    DV_CHECK(!sparse_started_,
             "CUDA engine: a dense step after sparse steps would read K/V rows that skipped heads never wrote "
             "(reset or rewind first)");
  } else {
    DV_CHECK(sparse_ != nullptr, "CUDA engine: sparse step before set_sparse");
    DV_CHECK(!sparse_->has_oracle, "CUDA engine: oracle selections exist in prefill only (a decode step has no dense "
                                   "values to choose from)");
    if (!sparse_started_) {
      // Every head's K/V is valid up to here (dense steps, or nothing): catch-up starts at this position.
      sparse_->fill_kv_valid(pos_, ctx_->main());
      sparse_started_ = true;
    }
  }
}

void CudaEngine::launch_step(StepMode mode) {
  if (decode_path_ == DecodePath::kPersistent) {
    persistent(mode).enqueue(ctx_->main());
  } else {
    CudaGraph& graph = mode == StepMode::kDense ? dense_graph_ : sparse_graph_;
    if (use_graph_) {
      if (!graph.ready()) graph.capture(ctx_->main(), [&] { record(mode); });
      graph.launch(ctx_->main());
    } else {
      record(mode);
    }
  }
  ++pos_;
  if (mode == StepMode::kDense) dense_len_ = pos_;
}

void CudaEngine::record(StepMode mode) {
  record_decode_step(*ctx_, weights_, *buffers_, mode == StepMode::kSparse ? sparse_.get() : nullptr, all_reduce_);
}

void CudaEngine::drop_graphs() {
  ctx_->synchronize();
  dense_graph_.reset();
  sparse_graph_.reset();
}

std::vector<float> CudaEngine::logits() const {
  std::vector<float> out(static_cast<size_t>(buffers_->logits.numel()));
  DV_CUDA_CHECK(cudaMemcpyAsync(out.data(), float_ptr(buffers_->logits), out.size() * sizeof(float),
                                cudaMemcpyDeviceToHost, ctx_->main()));
  DV_CUDA_CHECK(cudaStreamSynchronize(ctx_->main()));
  check_persistent();
  return out;
}

}  // namespace dv::engine
