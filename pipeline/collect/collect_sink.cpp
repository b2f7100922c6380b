// collect_sink.cpp: the writer thread of collect: bounded queue, NaN/Inf rows dropped and counted, commits.
#include "pipeline/collect/collect_sink.h"

#include <chrono>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernels/common/error.h"

namespace dv {

namespace {
constexpr size_t kQueueDepth = 2;          // batches waiting: one being copied, one being written
constexpr int64_t kEarlyCheckRows = 10000;  // sampled rows before the NaN share is judged mid-run
}  // namespace

std::string NonfiniteCounts::to_json() const {
  return nlohmann::json{{"nonfinite_rows_dropped", dropped}, {"nonfinite_rows_per_layer", per_layer}}.dump();
}

NonfiniteCounts NonfiniteCounts::from_json(const std::string& text, int64_t n_layers, const std::string& where) {
  NonfiniteCounts c;
  c.per_layer.assign(static_cast<size_t>(n_layers), 0);
  if (text.empty()) return c;
  const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  DV_CHECK(!j.is_discarded() && j.is_object() && j.contains("nonfinite_rows_dropped") &&
               j.contains("nonfinite_rows_per_layer") && j["nonfinite_rows_per_layer"].is_array() &&
               static_cast<int64_t>(j["nonfinite_rows_per_layer"].size()) == n_layers,
           "{}: collect statistics are not the expected JSON: {}", where, text);
  c.dropped = j["nonfinite_rows_dropped"].get<int64_t>();
  for (int64_t l = 0; l < n_layers; ++l) c.per_layer[static_cast<size_t>(l)] = j["nonfinite_rows_per_layer"][l].get<int64_t>();
  return c;
}

std::string NonfiniteCounts::describe() const {
  std::string out;
  for (size_t l = 0; l < per_layer.size(); ++l) {
    if (per_layer[l] > 0) out += fmt::format("{}{}: {}", out.empty() ? "" : ", ", l, per_layer[l]);
  }
  return out;
}

CollectSink::CollectSink(ActivationWriter& writer, int64_t n_layers, NonfiniteCounts committed, double max_share,
                         double commit_seconds)
    : writer_(writer),
      n_layers_(n_layers),
      max_share_(max_share),
      commit_seconds_(commit_seconds),
      committed_(std::move(committed)),
      all_(committed_),
      rows_stored_(writer.rows_appended()) {
  thread_ = std::thread([this] { run(); });
}

CollectSink::~CollectSink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CollectSink::push(HostBatch batch) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return queue_.size() < kQueueDepth || error_; });
  if (error_) std::rethrow_exception(error_);
  queue_.push_back(std::move(batch));
  cv_.notify_all();
}

NonfiniteCounts CollectSink::close() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    closing_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (error_) std::rethrow_exception(error_);
  return all_;
}

std::string CollectSink::commit_note(int64_t rows) {
  size_t moved = 0;
  for (; moved < pending_.size() && pending_[moved].first < rows; ++moved) {
    ++committed_.dropped;
    for (int32_t l : pending_[moved].second) ++committed_.per_layer[static_cast<size_t>(l)];
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(moved));
  return committed_.to_json();
}

void CollectSink::store(HostBatch& b) {
  b.wait_ready();
  const bool* bad = b.nonfinite.data_ptr<bool>();  // [n_layers, n]
  std::vector<uint8_t> keep(static_cast<size_t>(b.n), 1);
  bool any = false;
  for (int64_t i = 0; i < b.n * n_layers_; ++i) {
    if (bad[i]) {
      keep[static_cast<size_t>(i % b.n)] = 0;
      any = true;
    }
  }
  if (any) {
    int64_t kept_before = 0;
    for (int64_t i = 0; i < b.n; ++i) {
      if (keep[static_cast<size_t>(i)]) {
        ++kept_before;
        continue;
      }
      std::vector<int32_t> layers;
      for (int64_t l = 0; l < n_layers_; ++l) {
        if (bad[l * b.n + i]) {
          layers.push_back(static_cast<int32_t>(l));
          ++all_.per_layer[static_cast<size_t>(l)];
        }
      }
      ++all_.dropped;
      pending_.emplace_back(rows_stored_ + kept_before, std::move(layers));
    }
    b.drop_rows(keep);
  }
  writer_.append_batch(b.row_batch());
  rows_stored_ += b.n;
  const int64_t sampled = rows_stored_ + all_.dropped;
  DV_CHECK(sampled < kEarlyCheckRows || all_.dropped <= max_share_ * static_cast<double>(sampled),
           "collect: {} of the first {} sampled rows ({:.2f}%) hold NaN/Inf activations (rows per layer: {}), more "
           "than --max-nonfinite {:g}; fp16 overflow? collect with --dtype bfloat16 or float32",
           all_.dropped, sampled, 100.0 * static_cast<double>(all_.dropped) / static_cast<double>(sampled),
           all_.describe(), max_share_);
}

void CollectSink::run() {
  auto last_commit = std::chrono::steady_clock::now();
  try {
    for (;;) {
      HostBatch batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty() || closing_; });
        if (queue_.empty()) return;
        batch = std::move(queue_.front());
        queue_.pop_front();
      }
      cv_.notify_all();
      store(batch);
      const auto now = std::chrono::steady_clock::now();
      if (std::chrono::duration<double>(now - last_commit).count() > commit_seconds_) {
        writer_.commit();
        last_commit = now;
      }
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
    queue_.clear();
    cv_.notify_all();
  }
}

}  // namespace dv
