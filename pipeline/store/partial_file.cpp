// partial_file.cpp: creating, reopening and rebuilding "<store>.partial".
#include "pipeline/store/partial_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "kernels/common/error.h"
#include "pipeline/store/h5_attr.h"
#include "pipeline/store/store_schema.h"

namespace dv {

namespace fs = std::filesystem;

namespace {

constexpr const char* kForceHint = "delete it or pass --force to start over";

void rename_or_fail(const std::string& from, const std::string& to) {
  DV_CHECK(std::rename(from.c_str(), to.c_str()) == 0, "{}: cannot rename to {}: {}", from, to, std::strerror(errno));
}

void remove_if_exists(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
  DV_CHECK(!ec, "{}: cannot delete: {}", path, ec.message());
}

std::string parent_dir(const std::string& path) {
  const std::string p = fs::path(path).parent_path().string();
  return p.empty() ? "." : p;
}

// Removes a rebuild's leftovers: its log first, so that a kill in between never leaves the
// "log without file" state that means "the file is already in place".
void discard_rebuild(const std::string& partial) {
  remove_if_exists(partial + ".new.log");
  remove_if_exists(partial + ".new");
}

// A rebuild killed between its two renames: the new file is in place, its log is not yet.
void finish_interrupted_rebuild(const std::string& partial) {
  const std::string fresh = partial + ".new";
  const std::string fresh_log = partial + ".new.log";
  if (fs::exists(fresh_log) && !fs::exists(fresh)) {
    rename_or_fail(fresh_log, commit_log_path(partial));
    return;
  }
  discard_rebuild(partial);
}

// Clean stop: the HDF5 file is consistent. Drops rows past the last commit in place.
ResumePoint reopen_in_place(const std::string& partial, const CommitLogState& log) {
  ResumePoint at;
  at.file = open_partial_file(partial);
  const StoreHeader header = read_store_header(at.file.get(), partial);
  DV_CHECK(header.rows_committed == log.rows, "{}: rows_committed {} disagrees with the commit log's {}", partial,
           header.rows_committed, log.rows);
  at.chunk_rows = validate_store_datasets(at.file.get(), partial, header.meta.shape, header.rows_committed, false);
  DV_CHECK(at.chunk_rows == log.chunk_rows, "{}: chunks of {} rows, the commit log says {}", partial, at.chunk_rows,
           log.chunk_rows);
  at.rows = header.rows_committed;
  at.complete = header.complete;
  at.note = log.note;
  if (at.complete) {
    h5_check_status(at.file.close(), partial, "", "close");
    return at;
  }
  for (const StoreDataset& d : store_datasets(header.meta.shape)) {
    H5Id ds = h5_owned_dataset(H5Dopen2(at.file.get(), d.path.c_str(), H5P_DEFAULT), partial, d.path, "open");
    const hsize_t dims[2] = {static_cast<hsize_t>(at.rows), static_cast<hsize_t>(d.cols)};
    h5_check_status(H5Dset_extent(ds.get(), dims), partial, d.path, "shrink to the committed rows");
  }
  return at;
}

// Unclean stop: a new file from the commit log and the committed chunks' bytes.
void rebuild_from_log(const std::string& partial, const CommitLogState& log) {
  const std::string fresh = partial + ".new";
  const std::string fresh_log = partial + ".new.log";
  const StoreShape& shape = log.meta.shape;
  const int64_t n_chunks = (log.rows + log.chunk_rows - 1) / log.chunk_rows;
  const int fd = ::open(partial.c_str(), O_RDONLY);
  DV_CHECK(fd >= 0, "{}: cannot open: {}", partial, std::strerror(errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  std::vector<ChunkRecord> records;
  {
    H5Id fapl = store_fapl(fresh, false);
    H5Id fcpl = store_fcpl(fresh);
    H5Id f = h5_owned_file(H5Fcreate(fresh.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), fresh, "create");
    create_store_layout(f.get(), fresh, log.meta, log.chunk_rows, log.compression);
    const std::vector<StoreDataset> datasets = store_datasets(shape);
    std::vector<char> buf;
    for (size_t i = 0; i < datasets.size(); ++i) {
      const StoreDataset& d = datasets[i];
      H5Id ds = h5_owned_dataset(H5Dopen2(f.get(), d.path.c_str(), H5P_DEFAULT), fresh, d.path, "open");
      const hsize_t dims[2] = {static_cast<hsize_t>(log.rows), static_cast<hsize_t>(d.cols)};
      h5_check_status(H5Dset_extent(ds.get(), dims), fresh, d.path, "extend");
      for (int64_t c = 0; c < n_chunks; ++c) {
        const auto it = log.chunks.find({static_cast<uint32_t>(i), static_cast<uint64_t>(c)});
        DV_CHECK(it != log.chunks.end(), "{}: the commit log lacks chunk {} of {}", partial, c, d.path);
        const ChunkRecord& r = it->second;
        buf.resize(r.size);
        const ssize_t got = ::pread(fd, buf.data(), r.size, static_cast<off_t>(r.addr));
        DV_CHECK(got == static_cast<ssize_t>(r.size), "{}: committed chunk {} of {} is cut short (file truncated?)",
                 partial, c, d.path);
        const hsize_t offset[2] = {static_cast<hsize_t>(c * log.chunk_rows), 0};
        h5_check_status(H5Dwrite_chunk(ds.get(), H5P_DEFAULT, r.filter_mask, offset, r.size, buf.data()), fresh,
                        d.path, fmt::format("copy chunk {} of", c));
      }
    }
    h5_write_attr_int64(f.get(), store_attr::kRowsCommitted, log.rows, fresh, "/");
    h5_write_attr_int64(f.get(), store_attr::kComplete, log.complete ? 1 : 0, fresh, "/");
    if (!log.note.empty()) h5_write_attr_string(f.get(), store_attr::kCollectStats, log.note, fresh, "/");
    h5_check_status(H5Fflush(f.get(), H5F_SCOPE_LOCAL), fresh, "", "flush");
    records = chunk_records(f.get(), fresh, shape, log.chunk_rows, 0, n_chunks);
    h5_check_status(f.close(), fresh, "", "close");
  }
  fsync_path(fresh, false);
  commit_log_create(fresh_log, log.meta, log.chunk_rows, log.compression);
  commit_log_append_commit(fresh_log, log.rows, log.complete, records, log.note);
  commit_log_append_closed(fresh_log, log.rows);
  rename_or_fail(fresh, partial);
  rename_or_fail(fresh_log, commit_log_path(partial));
  fsync_path(parent_dir(partial), true);
}

}  // namespace

std::string commit_log_path(const std::string& partial) { return partial + ".log"; }

H5Id store_fapl(const std::string& path, bool clear_crash_flags) {
  H5Id fapl = h5_owned_plist(H5Pcreate(H5P_FILE_ACCESS), path, "", "create file access properties for");
  h5_check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_V110, H5F_LIBVER_V110), path, "", "set the format of");
  if (clear_crash_flags) {
    // The property `h5clear -s` sets; it is not in HDF5's public headers, so a library without
    // it falls back to the plain open (whose error then suggests h5clear).
    hbool_t clear = true;
    if (H5Pset(fapl.get(), "clear_status_flags", &clear) < 0) H5Eclear2(H5E_DEFAULT);
  }
  return fapl;
}

H5Id store_fcpl(const std::string& path) {
  H5Id fcpl = h5_owned_plist(H5Pcreate(H5P_FILE_CREATE), path, "", "create file creation properties for");
  h5_check_status(H5Pset_obj_track_times(fcpl.get(), false), path, "", "configure the creation of");
  return fcpl;
}

void create_partial_file(const std::string& partial, const StoreMeta& meta, int64_t chunk_rows,
                         StoreCompression compression) {
  commit_log_create(commit_log_path(partial), meta, chunk_rows, compression);
  const std::string fresh = partial + ".new";
  {
    H5Id fapl = store_fapl(fresh, false);
    H5Id fcpl = store_fcpl(fresh);
    H5Id f = h5_owned_file(H5Fcreate(fresh.c_str(), H5F_ACC_TRUNC, fcpl.get(), fapl.get()), fresh, "create");
    create_store_layout(f.get(), fresh, meta, chunk_rows, compression);
    h5_check_status(f.close(), fresh, "", "close");
  }
  commit_log_append_closed(commit_log_path(partial), 0);
  rename_or_fail(fresh, partial);
}

H5Id open_partial_file(const std::string& partial) {
  H5Id fapl = store_fapl(partial, false);
  return h5_owned_file(H5Fopen(partial.c_str(), H5F_ACC_RDWR, fapl.get()), partial, "open for appending");
}

ResumePoint resume_partial_file(const std::string& partial, const StoreMeta& meta) {
  finish_interrupted_rebuild(partial);
  CommitLogState log;
  try {
    log = commit_log_read(commit_log_path(partial));
  } catch (const Error& e) {
    DV_FAIL("{}: cannot resume ({}); {}", partial, e.what(), kForceHint);
  }
  const std::string diff = store_identity_mismatch(log.meta, meta);
  DV_CHECK(diff.empty(), "{}: this partial collection was started with a different {}; {}", partial, diff, kForceHint);
  if (log.closed_cleanly) {
    // Drop a torn tail (a kill during an append) so that new records follow valid ones.
    std::error_code ec;
    if (fs::file_size(commit_log_path(partial), ec) > log.valid_bytes && !ec) {
      fs::resize_file(commit_log_path(partial), log.valid_bytes, ec);
      DV_CHECK(!ec, "{}: cannot truncate the commit log: {}", partial, ec.message());
    }
    try {
      return reopen_in_place(partial, log);
    } catch (const Error&) {
      // Closed cleanly by the log, yet unreadable: fall back on the log's copy of the truth.
      H5Eclear2(H5E_DEFAULT);
    }
  }
  try {
    rebuild_from_log(partial, log);
  } catch (const Error& e) {
    discard_rebuild(partial);
    DV_FAIL("{}: cannot recover the committed rows ({}); {}", partial, e.what(), kForceHint);
  }
  ResumePoint at = reopen_in_place(partial, commit_log_read(commit_log_path(partial)));
  at.rebuilt = true;
  return at;
}

std::vector<ChunkRecord> chunk_records(hid_t file, const std::string& path, const StoreShape& shape,
                                       int64_t chunk_rows, int64_t first, int64_t end) {
  std::vector<ChunkRecord> out;
  const std::vector<StoreDataset> datasets = store_datasets(shape);
  for (size_t i = 0; i < datasets.size(); ++i) {
    const StoreDataset& d = datasets[i];
    H5Id ds = h5_owned_dataset(H5Dopen2(file, d.path.c_str(), H5P_DEFAULT), path, d.path, "open");
    for (int64_t c = first; c < end; ++c) {
      const hsize_t offset[2] = {static_cast<hsize_t>(c * chunk_rows), 0};
      ChunkRecord r;
      r.dataset = static_cast<uint32_t>(i);
      r.chunk = static_cast<uint64_t>(c);
      unsigned mask = 0;
      haddr_t addr = HADDR_UNDEF;
      hsize_t size = 0;
      h5_check_status(H5Dget_chunk_info_by_coord(ds.get(), offset, &mask, &addr, &size), path, d.path,
                      fmt::format("locate chunk {} of", c));
      DV_CHECK(addr != HADDR_UNDEF && size > 0, "{}: chunk {} of {} is not on disk", path, c, d.path);
      r.addr = addr;
      r.size = size;
      r.filter_mask = mask;
      out.push_back(r);
    }
  }
  return out;
}

void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  DV_CHECK(fd >= 0, "{}: cannot open to sync: {}", path, std::strerror(errno));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  DV_CHECK(rc == 0, "{}: fsync failed: {}", path, std::strerror(err));
}

}  // namespace dv
