// cuda_graph.h: an instantiated CUDA graph captured once from a stream (thread-local capture mode, so a
// stray call on another thread cannot invalidate it) and replayed into that stream.
#pragma once

#include <functional>

#include <cuda_runtime.h>

namespace dv::engine {

class CudaGraph {
 public:
  CudaGraph() = default;
  ~CudaGraph();
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;

  // Runs `record` under capture on `stream` and instantiates the result; an exception inside `record`
  // ends the capture before it propagates, leaving the stream usable.
  void capture(cudaStream_t stream, const std::function<void()>& record);
  void launch(cudaStream_t stream) const;
  bool ready() const { return exec_ != nullptr; }
  void reset();

 private:
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
};

}  // namespace dv::engine
