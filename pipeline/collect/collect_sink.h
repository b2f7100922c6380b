// collect_sink.h: the storing side of `dejavu collect`, on its own thread. The model thread hands over
// gathered batches (collect_batch.h) through a bounded queue; the sink waits for each batch's device
// copies, drops the rows holding a NaN or Inf (fp16 overflow; counted per layer, never stored), appends
// the rest to the store and commits every few seconds. So the forward of the next batch runs while this
// one is written, and HDF5 is only ever entered from this thread (or from the caller once it is closed).
//
// Dropped rows and resume: a dropped row is remembered with the number of rows stored before it. A
// commit of R rows records (in the commit log, as the writer's commit note) the drops that precede
// stored row R, so a resumed run skips exactly R + those drops sampled rows and recounts the rest:
// killed and resumed, the store and its counts equal a clean run's.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "pipeline/collect/collect_batch.h"

namespace dv {

// Rows dropped for NaN/Inf values; a row may count in several layers.
struct NonfiniteCounts {
  int64_t dropped = 0;
  std::vector<int64_t> per_layer;
  std::string to_json() const;  // {"nonfinite_rows_dropped": N, "nonfinite_rows_per_layer": [...]}
  // Empty text: no drops. dv::Error naming `where` for malformed JSON.
  static NonfiniteCounts from_json(const std::string& text, int64_t n_layers, const std::string& where);
  std::string describe() const;  // "3: 12, 7: 1" (layers with drops)
};

class CollectSink {
 public:
  // committed: the counts of the rows the writer resumed from. max_share: more dropped rows than this
  // share of the sampled rows is an error (checked early, once 10,000 rows are in, and by the caller
  // at the end).
  CollectSink(ActivationWriter& writer, int64_t n_layers, NonfiniteCounts committed, double max_share,
              double commit_seconds = 5.0);
  ~CollectSink();  // stops and joins; errors are dropped (close() reports them)
  CollectSink(const CollectSink&) = delete;
  CollectSink& operator=(const CollectSink&) = delete;

  // Blocks while two batches wait; rethrows a storing error (disk full, too many NaN rows).
  void push(HostBatch batch);
  // Stores everything queued, joins the thread, rethrows its error; returns every count so far.
  NonfiniteCounts close();
  // The commit note for R stored rows: the counts of the drops before stored row R (the writer calls
  // it inside commit() and finish(), so on the thread that drives it).
  std::string commit_note(int64_t rows);

 private:
  void run();
  void store(HostBatch& batch);

  ActivationWriter& writer_;
  int64_t n_layers_;
  double max_share_, commit_seconds_;
  NonfiniteCounts committed_;  // drops before the last committed row
  NonfiniteCounts all_;        // every drop so far
  std::vector<std::pair<int64_t, std::vector<int32_t>>> pending_;  // (rows stored before it, its layers)
  int64_t rows_stored_ = 0;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<HostBatch> queue_;
  bool closing_ = false;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace dv
