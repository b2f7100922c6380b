// activation_writer.cpp: create / resume / append / commit / finish of the activation store.
// Crash safety rests on two rules (see activation_writer.h and partial_file.h): only whole
// chunks are written, each once, so a committed chunk's bytes never move or change; and a
// commit is durable when its chunks' locations are in the commit log, which is written after
// the chunks are synced and before the rows_committed attribute. Chunks are compressed on worker
// threads and written in order by parallel_chunk_writer.h; a commit first waits for all of them.
#include "pipeline/store/activation_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "kernels/common/error.h"
#include "pipeline/store/activation_reader.h"
#include "pipeline/store/disk_space.h"
#include "pipeline/store/h5_attr.h"
#include "pipeline/store/h5_handle.h"
#include "pipeline/store/parallel_chunk_writer.h"
#include "pipeline/store/partial_file.h"
#include "pipeline/store/store_schema.h"

namespace dv {

namespace fs = std::filesystem;

namespace {

constexpr int64_t kChunkTargetBytes = 512 * 1024;
// HDF5 metadata and slack on top of the raw row bytes in the free-space check.
constexpr int64_t kSpaceMarginBytes = 16 * 1024 * 1024;

void remove_if_exists(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  DV_CHECK(!ec, "{}: cannot delete: {}", path, ec.message());
}

}  // namespace

int64_t default_chunk_rows(const StoreShape& shape) {
  return std::max<int64_t>(16, kChunkTargetBytes / std::max<int64_t>(1, shape.row_bytes(LayerField::kAttnInput)));
}

// One dataset being appended to, with the rows that do not yet make a whole chunk.
struct AppendSlot {
  StoreDataset spec;
  int64_t row_bytes = 0;
  H5Id dataset;
  std::vector<uint8_t> tail;  // [chunk_rows, cols] of the dataset's element type
};

struct ActivationWriter::Impl {
  std::string path;
  std::string partial;
  StoreMeta meta;
  WriterOptions options;
  WriterStart start = WriterStart::kFresh;
  int64_t chunk_rows = 0;
  int64_t rows_committed = 0;
  int64_t rows_on_disk = 0;  // rows handed to `chunks` (on disk after chunks->drain()), whole chunks until finish()
  int64_t buffered = 0;      // rows waiting in the slots' tails
  bool finished = false;
  bool failed = false;
  bool rename_pending = false;  // the partial file is already complete (killed inside finish())
  std::string log;              // the commit log, "<partial>.log"
  std::function<std::string(int64_t)> note;  // set_commit_note
  std::string resumed_note;
  H5Id file;                     // declared before slots: datasets close first
  std::vector<AppendSlot> slots;
  std::unique_ptr<ParallelChunkWriter> chunks;  // one registered dataset per slot, same order

  void check_final();
  void open_datasets();
  void require_writable(const char* what) const;
  void write_rows(const std::vector<const uint8_t*>& src, int64_t k);
  void flush();
  void sync_data();
  void log_commit(bool complete);
  void set_root_int(const char* name, int64_t value);
  template <typename F>
  void guarded(F&& body);
};

template <typename F>
void ActivationWriter::Impl::guarded(F&& body) {
  try {
    body();
  } catch (const Error& e) {
    failed = true;
    throw Error(fmt::format("{} (the partial file keeps its {} committed rows; run again to resume)", e.what(),
                            rows_committed));
  }
}

void ActivationWriter::Impl::require_writable(const char* what) const {
  DV_CHECK(start != WriterStart::kAlreadyComplete, "{}: {} on a store that is already complete", path, what);
  DV_CHECK(!finished, "{}: {} after finish()", path, what);
  DV_CHECK(!failed, "{}: {} after a failed write; the partial file keeps its last commit", partial, what);
}

void ActivationWriter::Impl::check_final() {
  std::unique_ptr<ActivationReader> existing;
  try {
    existing = std::make_unique<ActivationReader>(path);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + "; delete it or pass --force to collect again");
  }
  const std::string diff = store_identity_mismatch(existing->meta(), meta);
  DV_CHECK(diff.empty(), "{}: already holds a complete store of a different collection ({}); delete it or pass "
           "--force", path, diff);
  start = WriterStart::kAlreadyComplete;
  rows_committed = rows_on_disk = existing->rows();
  chunk_rows = existing->chunk_rows();
  // A finish() killed between its rename and removing the log leaves the log behind.
  if (!fs::exists(partial)) remove_if_exists(log);
}

void ActivationWriter::Impl::open_datasets() {
  chunks = std::make_unique<ParallelChunkWriter>(partial, options.compress_threads);
  // No chunk cache: every write is a whole, final chunk, so caching would only delay the
  // write (and its error) to an unrelated later call.
  H5Id dapl = h5_owned_plist(H5Pcreate(H5P_DATASET_ACCESS), partial, "", "create dataset access properties for");
  h5_check_status(H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT, 0, 1.0), partial, "",
                  "configure the chunk cache of");
  for (const StoreDataset& d : store_datasets(meta.shape)) {
    AppendSlot s;
    s.spec = d;
    s.row_bytes = std::max<int64_t>(1, d.cols) * store_dtype_bytes(d.dtype);
    s.dataset = h5_owned_dataset(H5Dopen2(file.get(), d.path.c_str(), dapl.get()), partial, d.path, "open");
    s.tail.resize(static_cast<size_t>(chunk_rows * s.row_bytes));
    chunks->add_dataset(s.dataset.get(), d.path, chunk_rows, s.row_bytes, d.cols, rows_on_disk);
    slots.push_back(std::move(s));
  }
}

void ActivationWriter::Impl::set_root_int(const char* name, int64_t value) {
  h5_write_attr_int64(file.get(), name, value, partial, "/");
}

void ActivationWriter::Impl::sync_data() {
  void* handle = nullptr;
  h5_check_status(H5Fget_vfd_handle(file.get(), H5P_DEFAULT, &handle), partial, "", "get the descriptor of");
  DV_CHECK(::fdatasync(*static_cast<int*>(handle)) == 0, "{}: fdatasync failed: {}", partial, std::strerror(errno));
}

// Flushes, syncs, and records where the chunks since the last commit live: the commit point.
void ActivationWriter::Impl::log_commit(bool complete) {
  chunks->drain();
  flush();
  const int64_t first = rows_committed / chunk_rows;
  const int64_t end = (rows_on_disk + chunk_rows - 1) / chunk_rows;
  const std::vector<ChunkRecord> records = chunk_records(file.get(), partial, meta.shape, chunk_rows, first, end);
  sync_data();
  const std::string text = note ? note(rows_on_disk) : std::string();
  commit_log_append_commit(log, rows_on_disk, complete, records, text);
  if (!text.empty()) h5_write_attr_string(file.get(), store_attr::kCollectStats, text, partial, "/");
}

void ActivationWriter::Impl::flush() {
  h5_check_status(H5Fflush(file.get(), H5F_SCOPE_LOCAL), partial, "", "flush");
}

// Hands k rows (whole chunks, or the last short one) of every dataset to the chunk writer, row block by row
// block, so that the write order, and with it the file, does not depend on the thread count.
void ActivationWriter::Impl::write_rows(const std::vector<const uint8_t*>& src, int64_t k) {
  for (int64_t r = 0; r < k; r += chunk_rows) {
    const int64_t n = std::min(chunk_rows, k - r);
    for (size_t i = 0; i < slots.size(); ++i) chunks->submit(i, rows_on_disk + r, n, src[i] + r * slots[i].row_bytes);
  }
  rows_on_disk += k;
}

ActivationWriter::ActivationWriter(std::string path, StoreMeta meta, WriterOptions options)
    : impl_(std::make_unique<Impl>()) {
  Impl& w = *impl_;
  h5_quiet();
  w.path = std::move(path);
  w.partial = w.path + ".partial";
  w.meta = std::move(meta);
  w.options = options;
  w.meta.shape.validate(w.path);
  DV_CHECK(options.chunk_rows >= 0 && options.expected_rows >= 0, "{}: chunk_rows and expected_rows must be >= 0",
           w.path);
  w.chunk_rows = options.chunk_rows > 0 ? options.chunk_rows : default_chunk_rows(w.meta.shape);
  const fs::path parent = fs::path(w.path).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    fs::create_directories(parent, ec);
    DV_CHECK(!ec, "{}: cannot create directory {}: {}", w.path, parent.string(), ec.message());
  }
  w.log = commit_log_path(w.partial);
  if (options.force) {
    for (const std::string& p : {w.path, w.partial, w.log, w.partial + ".new", w.partial + ".new.log"}) {
      remove_if_exists(p);
    }
  } else if (fs::exists(w.path)) {
    w.check_final();
    return;
  }
  const int64_t bytes_per_row = w.meta.shape.bytes_per_row();
  if (fs::exists(w.partial)) {
    ResumePoint at = resume_partial_file(w.partial, w.meta);
    w.start = WriterStart::kResumed;
    w.rows_committed = w.rows_on_disk = at.rows;
    w.chunk_rows = at.chunk_rows;
    w.rename_pending = at.complete;
    w.resumed_note = at.note;
    if (w.rename_pending) return;
    w.file = std::move(at.file);
    const int64_t left = std::max<int64_t>(0, options.expected_rows - w.rows_committed);
    check_free_space(w.partial, left * bytes_per_row + kSpaceMarginBytes,
                     fmt::format("the remaining {} rows of {} ({}, as collect's plan says, plus a {} margin for the "
                                 "file's metadata)",
                                 left, human_bytes(bytes_per_row), human_bytes(left * bytes_per_row),
                                 human_bytes(kSpaceMarginBytes)));
  } else {
    check_free_space(w.partial, options.expected_rows * bytes_per_row + kSpaceMarginBytes,
                     fmt::format("{} rows of {} ({}, as collect's plan says, plus a {} margin for the file's "
                                 "metadata)",
                                 options.expected_rows, human_bytes(bytes_per_row),
                                 human_bytes(options.expected_rows * bytes_per_row), human_bytes(kSpaceMarginBytes)));
    create_partial_file(w.partial, w.meta, w.chunk_rows, options.compression);
    w.start = WriterStart::kFresh;
    w.file = open_partial_file(w.partial);
  }
  // Until the matching 'CLSD', a crash means the HDF5 metadata is not to be trusted.
  commit_log_append_open(w.log);
  w.open_datasets();
}

ActivationWriter::~ActivationWriter() {
  if (!impl_) return;
  // A clean close (no failed write, close succeeded) lets the next run reopen the file in
  // place; otherwise it is rebuilt from the commit log. Errors cannot be reported here.
  Impl& w = *impl_;
  w.chunks.reset();  // chunks not yet written are past the last commit
  w.slots.clear();
  if (w.file.valid()) {
    const bool closed = w.file.close() >= 0;
    if (closed && !w.failed) {
      try {
        commit_log_append_closed(w.log, w.rows_committed);
      } catch (const Error&) {
      }
    }
  }
  H5Eclear2(H5E_DEFAULT);
}

WriterStart ActivationWriter::start() const { return impl_->start; }
void ActivationWriter::set_commit_note(std::function<std::string(int64_t)> note) { impl_->note = std::move(note); }
const std::string& ActivationWriter::resumed_note() const { return impl_->resumed_note; }
const std::string& ActivationWriter::path() const { return impl_->path; }
const std::string& ActivationWriter::partial_path() const { return impl_->partial; }
int64_t ActivationWriter::chunk_rows() const { return impl_->chunk_rows; }
int64_t ActivationWriter::rows_committed() const { return impl_->rows_committed; }
int64_t ActivationWriter::rows_appended() const { return impl_->rows_on_disk + impl_->buffered; }

void ActivationWriter::append_batch(const RowBatch& batch) {
  Impl& w = *impl_;
  w.require_writable("append_batch");
  DV_CHECK(!w.rename_pending, "{}: append_batch on a collection that already finished writing", w.partial);
  const StoreShape& shape = w.meta.shape;
  DV_CHECK(batch.n >= 0, "{}: append_batch with n = {}", w.partial, batch.n);
  if (batch.n == 0) return;
  DV_CHECK(batch.token_id && batch.position && batch.window, "{}: append_batch without token ids/positions/windows",
           w.partial);
  DV_CHECK(static_cast<int64_t>(batch.layers.size()) == shape.n_layers, "{}: append_batch with {} layers, store has {}",
           w.partial, batch.layers.size(), shape.n_layers);
  // Source pointers in the order of w.slots (= store_datasets()).
  std::vector<const uint8_t*> src = {reinterpret_cast<const uint8_t*>(batch.token_id),
                                     reinterpret_cast<const uint8_t*>(batch.position),
                                     reinterpret_cast<const uint8_t*>(batch.window)};
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    const LayerRows& r = batch.layers[static_cast<size_t>(l)];
    const void* given[] = {r.attn_input, r.mlp_input, r.fc1_active, r.head_norm, r.fc1_value};
    for (LayerField f : kAllLayerFields) {
      const void* p = given[static_cast<size_t>(f)];
      DV_CHECK((p != nullptr) == shape.has_field(f), "{}: append_batch: layer {} {} {} but the store {}", w.partial,
               l, p ? "gives" : "lacks", layer_field_name(f), shape.has_field(f) ? "keeps it" : "does not keep it");
      if (p != nullptr) src.push_back(static_cast<const uint8_t*>(p));
    }
  }
  w.guarded([&] {
    std::vector<const uint8_t*> at(src.size());
    int64_t i = 0;
    while (i < batch.n) {
      if (w.buffered == 0 && batch.n - i >= w.chunk_rows) {
        // Whole chunks straight from the caller's arrays.
        const int64_t k = (batch.n - i) / w.chunk_rows * w.chunk_rows;
        for (size_t s = 0; s < src.size(); ++s) at[s] = src[s] + i * w.slots[s].row_bytes;
        w.write_rows(at, k);
        i += k;
        continue;
      }
      const int64_t take = std::min(w.chunk_rows - w.buffered, batch.n - i);
      for (size_t s = 0; s < src.size(); ++s) {
        const int64_t rb = w.slots[s].row_bytes;
        std::memcpy(w.slots[s].tail.data() + w.buffered * rb, src[s] + i * rb, static_cast<size_t>(take * rb));
      }
      w.buffered += take;
      i += take;
      if (w.buffered == w.chunk_rows) {
        for (size_t s = 0; s < src.size(); ++s) at[s] = w.slots[s].tail.data();
        w.write_rows(at, w.chunk_rows);
        w.buffered = 0;
      }
    }
  });
}

int64_t ActivationWriter::commit() {
  Impl& w = *impl_;
  w.require_writable("commit");
  if (w.rename_pending || w.rows_on_disk == w.rows_committed) return w.rows_committed;
  w.guarded([&] {
    w.log_commit(false);
    // For readers of the partial file and for a reopen in place after a clean stop.
    w.set_root_int(store_attr::kRowsCommitted, w.rows_on_disk);
    w.flush();
  });
  w.rows_committed = w.rows_on_disk;
  return w.rows_committed;
}

void ActivationWriter::finish() {
  Impl& w = *impl_;
  if (w.start == WriterStart::kAlreadyComplete) {
    w.finished = true;
    return;
  }
  w.require_writable("finish");
  w.guarded([&] {
    if (!w.rename_pending) {
      if (w.buffered > 0) {
        std::vector<const uint8_t*> at;
        for (AppendSlot& s : w.slots) at.push_back(s.tail.data());
        w.write_rows(at, w.buffered);
        w.buffered = 0;
      }
      w.log_commit(true);
      w.set_root_int(store_attr::kRowsCommitted, w.rows_on_disk);
      w.set_root_int(store_attr::kComplete, 1);
      w.rows_committed = w.rows_on_disk;
      w.chunks.reset();
      w.slots.clear();
      h5_check_status(w.file.close(), w.partial, "", "close");
      fsync_path(w.partial, false);
      commit_log_append_closed(w.log, w.rows_committed);
    }
    DV_CHECK(std::rename(w.partial.c_str(), w.path.c_str()) == 0, "{}: cannot rename onto {}: {}", w.partial, w.path,
             std::strerror(errno));
    const fs::path parent = fs::path(w.path).parent_path();
    fsync_path(parent.empty() ? "." : parent.string(), true);
    remove_if_exists(w.log);
  });
  w.finished = true;
}

}  // namespace dv
