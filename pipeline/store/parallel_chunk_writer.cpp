// parallel_chunk_writer.cpp: the worker pool and the in-order writes of parallel_chunk_writer.h.
#include "pipeline/store/parallel_chunk_writer.h"

#include <algorithm>
#include <cstring>
#include <exception>

#include <fmt/format.h>

#include "kernels/common/error.h"
#include "pipeline/store/h5_handle.h"

namespace dv {

ParallelChunkWriter::ParallelChunkWriter(std::string file, int threads, int64_t max_pending_bytes)
    : file_(std::move(file)),
      threads_wanted_(threads > 0 ? threads : std::max(1, static_cast<int>(std::thread::hardware_concurrency()))),
      max_pending_bytes_(max_pending_bytes) {}

ParallelChunkWriter::~ParallelChunkWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

size_t ParallelChunkWriter::add_dataset(hid_t dataset, const std::string& name, int64_t chunk_rows,
                                        int64_t row_bytes, int64_t cols, int64_t rows) {
  Dataset d;
  d.id = dataset;
  d.name = name;
  d.chunk_rows = chunk_rows;
  d.row_bytes = row_bytes;
  d.cols = cols;
  d.extent = rows;
  d.filters = ChunkFilters::of_dataset(dataset, file_, name);
  const bool needs_workers = !d.filters.identity();
  datasets_.push_back(std::move(d));
  if (needs_workers && workers_.empty()) {
    for (int i = 0; i < threads_wanted_; ++i) workers_.emplace_back([this] { work(); });
  }
  return datasets_.size() - 1;
}

void ParallelChunkWriter::work() {
  std::vector<uint8_t> scratch;
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      // Jobs before next_claim_ are all claimed; skip the ones done on the caller's thread.
      auto claimable = [&] {
        while (next_claim_ < queue_.size() && queue_[next_claim_]->claimed) ++next_claim_;
        return next_claim_ < queue_.size();
      };
      work_cv_.wait(lock, [&] { return stop_ || claimable(); });
      if (stop_) return;
      job = queue_[next_claim_++];
      job->claimed = true;
    }
    try {
      job->filters->encode(job->raw.data(), job->raw.size(), job->encoded, scratch);
    } catch (const std::exception& e) {
      job->error = e.what();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      job->done = true;
    }
    done_cv_.notify_all();
  }
}

int64_t ParallelChunkWriter::job_bytes(const Job& j) const {
  return static_cast<int64_t>(j.raw.capacity() + j.encoded.capacity());
}

void ParallelChunkWriter::submit(size_t index, int64_t first_row, int64_t rows, const uint8_t* raw) {
  DV_CHECK(index < datasets_.size(), "{}: submit to dataset {} of {}", file_, index, datasets_.size());
  const Dataset& d = datasets_[index];
  DV_CHECK(rows > 0 && rows <= d.chunk_rows && first_row % d.chunk_rows == 0,
           "{}: {}: submit of rows [{}, {}) is not one chunk of {} rows", file_, d.name, first_row, first_row + rows,
           d.chunk_rows);
  auto job = std::make_shared<Job>();
  job->dataset = index;
  job->first_row = first_row;
  job->rows = rows;
  job->filters = &d.filters;
  const auto used = static_cast<size_t>(rows * d.row_bytes);
  job->raw.assign(static_cast<size_t>(d.chunk_rows * d.row_bytes), 0);
  std::memcpy(job->raw.data(), raw, used);
  const bool inline_job = d.filters.identity() || workers_.empty();
  if (inline_job) {
    if (d.filters.identity()) {
      job->encoded.swap(job->raw);
    } else {
      std::vector<uint8_t> scratch;
      d.filters.encode(job->raw.data(), job->raw.size(), job->encoded, scratch);
      job->raw = {};
    }
    job->claimed = job->done = true;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    pending_bytes_ += job_bytes(*job);
    queue_.push_back(job);
  }
  if (!inline_job) work_cv_.notify_one();
  // Write what is finished at the front, then wait while too much is in flight.
  for (;;) {
    bool front_done = false, over = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) break;
      front_done = queue_.front()->done;
      over = pending_bytes_ > max_pending_bytes_;
    }
    if (!front_done && !over) break;
    write_oldest();
  }
}

void ParallelChunkWriter::drain() {
  for (;;) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queue_.empty()) return;
    }
    write_oldest();
  }
}

void ParallelChunkWriter::write_oldest() {
  std::shared_ptr<Job> job;
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return queue_.front()->done; });
    job = queue_.front();
    queue_.pop_front();
    if (next_claim_ > 0) --next_claim_;
    pending_bytes_ -= job_bytes(*job);
  }
  Dataset& d = datasets_[job->dataset];
  const std::string action = fmt::format("write rows [{}, {}) of", job->first_row, job->first_row + job->rows);
  DV_CHECK(job->error.empty(), "{}: cannot {} {}: {}", file_, action, d.name, job->error);
  const int64_t end = job->first_row + job->rows;
  if (end > d.extent) {
    const hsize_t dims[2] = {static_cast<hsize_t>(end), static_cast<hsize_t>(d.cols)};
    h5_check_status(H5Dset_extent(d.id, dims), file_, d.name, "extend");
    d.extent = end;
  }
  const hsize_t offset[2] = {static_cast<hsize_t>(job->first_row), 0};
  h5_check_status(H5Dwrite_chunk(d.id, H5P_DEFAULT, 0, offset, job->encoded.size(), job->encoded.data()), file_,
                  d.name, action);
}

}  // namespace dv
