// partial_file.h: the life of "<store>.partial" outside of appending: creating it with its
// layout and commit log, and reopening one that a stopped collection left behind, cut back to
// its last commit. Private to pipeline/store (ActivationWriter uses it).
//
// Reopening takes one of two paths. After a clean stop (the log's last record says the HDF5
// file was closed cleanly) the file is opened in place and rows past the last commit are
// dropped. After anything else (SIGKILL, OOM, power loss, a failed write) its HDF5 metadata may
// be torn, so a fresh file is rebuilt from the commit log: every committed chunk's stored
// bytes are copied as they are (H5Dwrite_chunk) into a new layout, which then replaces the
// partial file. The swap is ordered so that a kill at any point of the rebuild leaves either
// the old pair (file, log) or the new one: "<partial>.new" and "<partial>.new.log" are written
// completely, then renamed over the originals, file first; a run that finds "<partial>.new.log"
// without "<partial>.new" finishes the second rename.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/store/commit_log.h"
#include "pipeline/store/h5_handle.h"
#include "pipeline/store/store_layout.h"

namespace dv {

// "<partial>.log".
std::string commit_log_path(const std::string& partial);

// File access properties of every store file: the HDF5 1.10 format, pinned (rather than
// "latest") so that files from newer libraries stay readable by 1.10. clear_crash_flags lets
// H5Fopen accept a file whose writer died (what `h5clear -s` does).
H5Id store_fapl(const std::string& path, bool clear_crash_flags);
// File creation properties of a store: no modification times in object headers (the root group's
// included), so the same rows written the same way give the same bytes.
H5Id store_fcpl(const std::string& path);

// Creates the commit log, then `partial` with attributes, groups and empty datasets (written
// as "<partial>.new", renamed when complete).
void create_partial_file(const std::string& partial, const StoreMeta& meta, int64_t chunk_rows,
                         StoreCompression compression);

// Opens `partial` read-write.
H5Id open_partial_file(const std::string& partial);

struct ResumePoint {
  int64_t rows = 0;        // committed rows kept; the datasets now hold exactly these
  int64_t chunk_rows = 0;  // chunk height of the datasets
  bool complete = false;   // finish() had committed everything: only the rename is left
  bool rebuilt = false;    // the file was rebuilt from the commit log (unclean stop)
  std::string note;        // the last commit's note
  H5Id file;               // open read-write unless complete
};

// Reopens `partial` for the collection `meta` (dv::Error naming the differing field and
// suggesting --force when it is another collection, or when it cannot be recovered).
ResumePoint resume_partial_file(const std::string& partial, const StoreMeta& meta);

// Stored location of chunks [first, end) of every dataset, for the commit log. The chunks
// must be on disk (flushed).
std::vector<ChunkRecord> chunk_records(hid_t file, const std::string& path, const StoreShape& shape,
                                       int64_t chunk_rows, int64_t first, int64_t end);

// fsync of a file or a directory; dv::Error naming it on failure.
void fsync_path(const std::string& path, bool directory);

}  // namespace dv
