// cuda_graph.cpp: capture, instantiate, replay.
#include "engine/cuda/cuda_graph.h"

#include "kernels/common/cuda_check.h"

namespace dv::engine {

CudaGraph::~CudaGraph() { reset(); }

void CudaGraph::reset() {
  if (exec_ != nullptr) (void)cudaGraphExecDestroy(exec_);
  if (graph_ != nullptr) (void)cudaGraphDestroy(graph_);
  exec_ = nullptr;
  graph_ = nullptr;
}

void CudaGraph::capture(cudaStream_t stream, const std::function<void()>& record) {
  reset();
  DV_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
  try {
    record();
  } catch (...) {
    cudaGraph_t broken = nullptr;
    (void)cudaStreamEndCapture(stream, &broken);
    if (broken != nullptr) (void)cudaGraphDestroy(broken);
    (void)cudaGetLastError();
    throw;
  }
  DV_CUDA_CHECK(cudaStreamEndCapture(stream, &graph_));
  // Node priorities (copied from the capturing streams' priorities) rather than the launch stream's: the
  // side stream's predictor kernels keep their priority inside the graph (DEJAVU_SIDE_PRIORITY=high).
  DV_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, cudaGraphInstantiateFlagUseNodePriority));
}

void CudaGraph::launch(cudaStream_t stream) const {
  DV_CHECK(exec_ != nullptr, "internal: CUDA graph launched before capture");
  DV_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
}

}  // namespace dv::engine
