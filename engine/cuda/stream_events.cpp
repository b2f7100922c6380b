// stream_events.cpp: see stream_events.h.
#include "engine/cuda/stream_events.h"

#include "kernels/common/cuda_check.h"

namespace dv::engine {

LowPriorityStream::LowPriorityStream() {
  int least = 0, greatest = 0;
  DV_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  DV_CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, least));
}

LowPriorityStream::~LowPriorityStream() {
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
}

EventList::EventList(size_t n, bool timing) : events_(n, nullptr) {
  const unsigned flags = timing ? cudaEventDefault : cudaEventDisableTiming;
  for (auto& e : events_) DV_CUDA_CHECK(cudaEventCreateWithFlags(&e, flags));
}

double EventList::elapsed_ms(size_t from, size_t to) const {
  float t = 0;
  DV_CUDA_CHECK(cudaEventElapsedTime(&t, events_.at(from), events_.at(to)));
  return t;
}

EventList::~EventList() {
  for (auto e : events_)
    if (e != nullptr) (void)cudaEventDestroy(e);
}

}  // namespace dv::engine
