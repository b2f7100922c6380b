// sparse_calibration.cpp: CudaEngine's measured sparse/dense choice (SparseSpec::fallback, sparse_fallback.h).
// A calibration request decodes the requested position twice: the sparse step (its graph replay timed with CUDA
// events on the main stream, which joins the predictor and catch-up streams before the step ends), then, rewound
// to the same position, the dense step (timed the same way). The dense step rewrites every head's K/V row and the
// logits, so the sequence stays dense-written (a dense choice continues it, a sparse one starts its catch-up
// from here) and the request's tokens are the dense step's. A request costs a dense and a sparse step and a
// synchronization; the pairs alternate, so clock and cache drift touch both modes alike. The sparse figure is
// measured from a sequence with every head's K/V valid: the re-selection catch-up of later steps is not in it
// (bench --model's -auto rows time the settled mode over real steps, catch-up included).
#include <cuda_runtime.h>

#include "engine/cuda/cuda_engine.h"
#include "engine/cuda/sparse_state.h"
#include "kernels/common/cuda_check.h"

namespace dv::engine {

bool CudaEngine::sparse_fallback_applies() const {
  return fallback_.enabled && decode_path_ == DecodePath::kGraph && use_graph_ && !all_reduce_ && !weights_.sharded();
}

bool CudaEngine::calibrating() const {
  // After real sparse steps (the path switched back mid-sequence) a dense step is not allowed: no calibration.
  return sparse_fallback_applies() && !choice_.decided && !sparse_started_;
}

void CudaEngine::calibration_step() {
  const int position = pos_;
  cudaStream_t s = ctx_->main();
  // Capture outside the timed span (the first request of each mode would otherwise time the capture).
  for (StepMode m : {StepMode::kSparse, StepMode::kDense}) {
    CudaGraph& graph = m == StepMode::kDense ? dense_graph_ : sparse_graph_;
    if (!graph.ready()) graph.capture(s, [&] { record(m); });
  }
  const EventList ev(4, /*timing=*/true);  // per request: calibration runs a handful of times per spec
  begin_step(StepMode::kSparse);
  DV_CUDA_CHECK(cudaEventRecord(ev[0], s));
  launch_step(StepMode::kSparse);
  DV_CUDA_CHECK(cudaEventRecord(ev[1], s));
  rewind(position);  // synchronizes; no sparse step counts as started, the position is back
  begin_step(StepMode::kDense);
  DV_CUDA_CHECK(cudaEventRecord(ev[2], s));
  launch_step(StepMode::kDense);
  DV_CUDA_CHECK(cudaEventRecord(ev[3], s));
  DV_CUDA_CHECK(cudaStreamSynchronize(s));
  calibration_sparse_ms_.push_back(ev.elapsed_ms(0, 1));
  calibration_dense_ms_.push_back(ev.elapsed_ms(2, 3));
  if (static_cast<int>(calibration_dense_ms_.size()) < fallback_.calibration_steps) return;
  choice_ = choose_step_mode(calibration_dense_ms_, calibration_sparse_ms_, fallback_.margin);
  calibration_dense_ms_.clear();
  calibration_sparse_ms_.clear();
}

}  // namespace dv::engine
