// commit_log.h: "<store>.partial.log", the writer's commit record, kept outside HDF5.
//
// Why: a process killed while HDF5 writes its metadata can leave that metadata torn (the kernel
// may cut a write() that spans pages), and HDF5 has no journal to repair it. Raw chunks are
// different: the store writes each chunk once, whole, before it is committed, and never frees
// or rewrites it. So each commit appends to this log where every newly committed chunk lives
// (file offset, byte count, filter mask); after an unclean stop the partial file is rebuilt
// from the log and those bytes alone, and its HDF5 metadata is never trusted.
//
// Format (little endian): "DVSLOG01", u32 header length, header, u32 crc32(header); then
// records: u32 tag, u32 payload length, payload, u32 crc32(tag, length, payload).
//   header: the collection's identity (StoreMeta), chunk_rows, compression
//   'CMIT': i64 rows, u8 complete, u32 n, n x {u32 dataset, u64 chunk, u64 addr, u64 size, u32 mask},
//           then (optional, newer logs) the writer's commit note: u64 length, bytes
//   'OPEN': a writer opened the HDF5 file (until 'CLSD', its metadata may be in flux)
//   'CLSD': i64 rows: the HDF5 file was closed cleanly with rows_committed = rows
// A torn last record (a kill during append) fails its crc and is ignored.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/store/store_layout.h"

namespace dv {

// Where one committed chunk's bytes are in the partial file.
struct ChunkRecord {
  uint32_t dataset = 0;  // index into store_datasets(shape)
  uint64_t chunk = 0;    // chunk number along the rows
  uint64_t addr = 0;     // byte offset in the file
  uint64_t size = 0;     // stored (filtered) bytes
  uint32_t filter_mask = 0;
};

// What a log says, read back.
struct CommitLogState {
  StoreMeta meta;
  int64_t chunk_rows = 0;
  StoreCompression compression = StoreCompression::kNone;
  int64_t rows = 0;             // rows of the last commit
  bool complete = false;        // the last commit was finish()'s
  bool closed_cleanly = false;  // the last record says the HDF5 file was closed cleanly at `rows`
  std::string note;             // the last commit's note (ActivationWriter::set_commit_note)
  uint64_t valid_bytes = 0;     // length of the log up to the end of its last valid record
  std::map<std::pair<uint32_t, uint64_t>, ChunkRecord> chunks;  // latest record per (dataset, chunk)
};

// Writes a new log holding only the header (replacing any file at `path`).
void commit_log_create(const std::string& path, const StoreMeta& meta, int64_t chunk_rows,
                       StoreCompression compression);
// Appends one commit and syncs it to disk: from then on these rows survive any crash.
void commit_log_append_commit(const std::string& path, int64_t rows, bool complete,
                              const std::vector<ChunkRecord>& records, const std::string& note = "");
void commit_log_append_open(const std::string& path);
void commit_log_append_closed(const std::string& path, int64_t rows);
// dv::Error naming the file when it is missing or its header is damaged.
CommitLogState commit_log_read(const std::string& path);

uint32_t crc32(const void* data, size_t n, uint32_t crc = 0);

}  // namespace dv
