// activation_writer.h: streams collected activations into an HDF5 store that survives kills.
//
// The store is written at "<path>.partial" and renamed onto <path> by finish(). Rows go to disk
// one whole chunk (chunk_rows rows, every dataset) at a time; rows short of a chunk wait in
// memory. commit() makes every whole chunk written so far durable: it syncs them and appends
// their locations to the commit log "<path>.partial.log" (commit_log.h), then updates the root
// attribute rows_committed. A later run with the same collection reopens the partial file,
// keeps exactly the committed rows (dropping any written after the last commit) and reports
// how many, so the caller continues from there. After a clean stop (destructor without
// finish(), e.g. on SIGINT) the file is reopened in place; after a crash it is rebuilt from the
// log (partial_file.h). Chunks are compressed on compress_threads worker threads and written in
// the order they were appended, so the file's bytes do not depend on the thread count. Memory: one
// chunk of every dataset, plus at most 64 MiB of chunks being compressed or waiting to be written.
//
// Typical use by `dejavu collect`:
//   ActivationWriter w(out, meta, opts);
//   if (w.start() == WriterStart::kAlreadyComplete) return;   // nothing to do
//   skip the first w.rows_committed() sampled rows, then for each batch:
//     w.append_batch(batch); every few batches w.commit();
//   w.finish();
// Not thread-safe (Debian's HDF5 is the serial build): one thread drives all HDF5 calls; the
// compression workers never call HDF5.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "pipeline/store/store_layout.h"

namespace dv {

struct WriterOptions {
  bool force = false;          // delete an existing store and partial file, start from row 0
  int64_t expected_rows = 0;   // rows the caller will write in all; sizes the free-space check (0: skip)
  int64_t chunk_rows = 0;      // rows per chunk of every dataset; 0 picks default_chunk_rows(shape)
  StoreCompression compression = StoreCompression::kShuffleGzip1;  // README.md: "Compression"
  int compress_threads = 0;    // threads compressing chunks (parallel_chunk_writer.h); 0: one per core
};

// One layer's arrays for the n rows of a batch; contiguous, row-major.
struct LayerRows {
  const uint16_t* attn_input = nullptr;  // [n, d] float16 bits
  const uint16_t* mlp_input = nullptr;   // [n, d] float16 bits
  const uint8_t* fc1_active = nullptr;   // [n, ceil(ffn/8)], from pack_active / pack_active_half
  const float* head_norm = nullptr;      // [n, H]
  const uint16_t* fc1_value = nullptr;   // [n, ffn] float16 bits; given iff shape.has_fc1_value
};

// n sampled token rows: their identity and, per layer, their activations.
struct RowBatch {
  int64_t n = 0;
  const int32_t* token_id = nullptr;  // [n]
  const int32_t* position = nullptr;  // [n] position inside its window
  const int32_t* window = nullptr;    // [n] window index
  std::vector<LayerRows> layers;      // [n_layers]
};

enum class WriterStart {
  kFresh,            // a new partial file, rows_committed() == 0
  kResumed,          // an existing partial file; skip rows_committed() rows
  kAlreadyComplete,  // <path> already holds this complete collection; append/commit refuse, finish is a no-op
};

// Chunk height aiming at ~512 KiB chunks of attn_input (at least 16 rows).
int64_t default_chunk_rows(const StoreShape& shape);

class ActivationWriter {
 public:
  // Creates <path>.partial, resumes it, or finds <path> complete (see WriterStart). dv::Error
  // when an existing file belongs to another collection (different model, corpus or sampling:
  // delete it or pass force), is damaged, or the disk cannot hold expected_rows.
  ActivationWriter(std::string path, StoreMeta meta, WriterOptions options = {});
  ~ActivationWriter();  // without finish(): the partial file stays, consistent at its last commit
  ActivationWriter(const ActivationWriter&) = delete;
  ActivationWriter& operator=(const ActivationWriter&) = delete;

  WriterStart start() const;
  const std::string& path() const;
  const std::string& partial_path() const;
  int64_t chunk_rows() const;
  int64_t rows_committed() const;  // durable rows: a rerun after a kill continues here
  int64_t rows_appended() const;   // rows handed to append_batch, committed or not (incl. resumed ones)

  // Appends batch.n rows. A failed write (disk full, file size limit) throws dv::Error and
  // leaves the partial file at its last commit; the writer then refuses further calls.
  void append_batch(const RowBatch& batch);
  // Makes every whole chunk appended so far durable; returns rows_committed().
  int64_t commit();
  // Writes the last partial chunk, sets complete = 1 and renames the file onto path().
  void finish();

  // Caller's text kept with every commit (in the commit log, so it survives a crash) and as the root
  // attribute collect_stats: note(R) describes the rows [0, R) being committed. Called inside commit()
  // and finish(), on their thread.
  void set_commit_note(std::function<std::string(int64_t rows)> note);
  // The note of the commit this writer resumed from; empty when fresh or none was given.
  const std::string& resumed_note() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dv
