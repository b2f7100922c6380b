// stream_events.h: owners of the CUDA streams and events the sparse step records with (the forced K/V
// catch-up's low-priority stream, the side streams' ordering events, the fallback's timing events).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include <cuda_runtime.h>

namespace dv::engine {

// A stream of the device's least priority (the forced K/V catch-up), destroyed with its owner.
class LowPriorityStream {
 public:
  LowPriorityStream();
  ~LowPriorityStream();
  LowPriorityStream(const LowPriorityStream&) = delete;
  LowPriorityStream& operator=(const LowPriorityStream&) = delete;
  cudaStream_t get() const { return stream_; }

 private:
  cudaStream_t stream_ = nullptr;
};

// cudaEvent_t owners: timing disabled where they only order streams; `timing` for events that time a span
// (elapsed_ms).
class EventList {
 public:
  explicit EventList(size_t n = 0, bool timing = false);
  ~EventList();
  EventList(const EventList&) = delete;
  EventList& operator=(const EventList&) = delete;
  EventList(EventList&& other) noexcept : events_(std::move(other.events_)) { other.events_.clear(); }
  EventList& operator=(EventList&& other) noexcept {
    std::swap(events_, other.events_);
    return *this;
  }
  cudaEvent_t operator[](size_t i) const { return events_.at(i); }
  size_t size() const { return events_.size(); }
  double elapsed_ms(size_t from, size_t to) const;  // both recorded and complete; timing events only

 private:
  std::vector<cudaEvent_t> events_;
};

}  // namespace dv::engine
