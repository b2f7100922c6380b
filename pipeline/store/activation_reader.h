// activation_reader.h: validated, streaming access to an activation store.
// Opening checks the format version, every attribute, and every dataset's type and shape
// against the header, so train/measure fail at once with the file and dataset named instead
// of reading garbage later. Reads copy a row range of one dataset into the caller's buffer;
// nothing loads a whole file. Not thread-safe (serial HDF5): one thread reads at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "pipeline/store/store_layout.h"

namespace dv {

struct ReaderOptions {
  bool allow_incomplete = false;  // open a .partial (or unfinished) store: rows() = its committed rows
};

class ActivationReader {
 public:
  // dv::Error naming the file: missing, not HDF5, truncated, wrong format_version, missing or
  // misshapen dataset, or incomplete (unless allow_incomplete).
  explicit ActivationReader(const std::string& path, ReaderOptions options = {});
  ~ActivationReader();
  ActivationReader(const ActivationReader&) = delete;
  ActivationReader& operator=(const ActivationReader&) = delete;

  const std::string& path() const;
  const StoreMeta& meta() const;
  const StoreShape& shape() const { return meta().shape; }
  int64_t rows() const;        // N: the committed rows every read may address
  bool complete() const;
  int64_t chunk_rows() const;  // reads aligned to this many rows decompress each chunk once
  // The collect_stats attribute (JSON: rows dropped for NaN/Inf, per layer), or "" when absent.
  const std::string& collect_stats() const;
  // dv::Error naming the store, the field and what it holds when `field` is not stored (collect --fields).
  void require_field(LayerField field, const std::string& needed_by) const;

  // Rows [row0, row0 + n) of /tokens; a null output skips that dataset.
  void read_tokens(int64_t row0, int64_t n, int32_t* token_id, int32_t* position, int32_t* window) const;

  // Rows [row0, row0 + n) of one layer dataset into out: [n, shape().cols(field)], row-major.
  // The overload must match the field's stored type (uint16_t bits for float16 fields,
  // uint8_t for fc1_active, float for head_norm); the float overload also accepts float16
  // fields and converts them.
  void read_rows(int64_t layer, LayerField field, int64_t row0, int64_t n, uint16_t* out) const;
  void read_rows(int64_t layer, LayerField field, int64_t row0, int64_t n, uint8_t* out) const;
  void read_rows(int64_t layer, LayerField field, int64_t row0, int64_t n, float* out) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace dv
