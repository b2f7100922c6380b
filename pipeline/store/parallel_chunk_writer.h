// parallel_chunk_writer.h: whole chunks of the store's datasets, compressed on worker threads (chunk_filters.h)
// and written by HDF5's direct chunk write (H5Dwrite_chunk) on the caller's thread, in the order they were
// submitted. The HDF5 calls therefore come in the same order whatever the thread count or timing, so the file's
// bytes are the same with 1 or N threads; HDF5 itself is only ever called from the caller's thread (Debian's
// HDF5 is the serial build). Memory is bounded: submit() writes finished chunks, and waits for the oldest, while
// more than max_pending_bytes of chunks (raw + compressed) are in flight.
#pragma once

#include <hdf5.h>

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pipeline/store/chunk_filters.h"

namespace dv {

class ParallelChunkWriter {
 public:
  // `file` names the store in errors. threads: compression workers (0: hardware_concurrency(); none are started
  // while every dataset is unfiltered).
  ParallelChunkWriter(std::string file, int threads, int64_t max_pending_bytes = int64_t{64} << 20);
  // Drops the chunks not yet written (they are past the last commit) and joins the workers.
  ~ParallelChunkWriter();
  ParallelChunkWriter(const ParallelChunkWriter&) = delete;
  ParallelChunkWriter& operator=(const ParallelChunkWriter&) = delete;

  // Registers an open, chunked dataset of `chunk_rows` rows of `row_bytes` bytes per chunk, whose current extent
  // is `rows` rows; `cols` is its second dimension (0 for a 1-D dataset). Returns its index for submit().
  size_t add_dataset(hid_t dataset, const std::string& name, int64_t chunk_rows, int64_t row_bytes, int64_t cols,
                     int64_t rows);
  // Queues `rows` rows (at most chunk_rows) of dataset `index` starting at `first_row`, a multiple of chunk_rows,
  // copied from `raw`; a short chunk is padded with zeros (rows past the extent, which no reader sees). The
  // dataset is extended to first_row + rows when the chunk is written. May write earlier chunks and wait for
  // workers. dv::Error from a failed compression or write (of this chunk or an earlier one).
  void submit(size_t index, int64_t first_row, int64_t rows, const uint8_t* raw);
  // Writes every queued chunk; returns when all are in the file (not yet flushed).
  void drain();
  int threads() const { return static_cast<int>(workers_.size()); }

 private:
  struct Dataset {
    hid_t id = -1;
    std::string name;
    int64_t chunk_rows = 0, row_bytes = 0, cols = 0, extent = 0;
    ChunkFilters filters;
  };
  struct Job {
    size_t dataset = 0;
    int64_t first_row = 0, rows = 0;
    const ChunkFilters* filters = nullptr;
    std::vector<uint8_t> raw, encoded;
    std::string error;     // compression failure
    bool claimed = false;  // a worker took it (or the caller encoded it)
    bool done = false;
  };

  void work();
  void write_oldest();  // waits for the oldest job, writes it, pops it
  int64_t job_bytes(const Job& j) const;

  std::string file_;
  int threads_wanted_;
  int64_t max_pending_bytes_;
  std::deque<Dataset> datasets_;  // a deque: workers hold pointers to its filters while datasets are added
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_, done_cv_;
  std::deque<std::shared_ptr<Job>> queue_;  // submission order; workers take the first not yet claimed
  size_t next_claim_ = 0;                   // every job in queue_ before this index is claimed
  int64_t pending_bytes_ = 0;
  bool stop_ = false;
};

}  // namespace dv
