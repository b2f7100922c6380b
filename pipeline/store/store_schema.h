// store_schema.h: creating and checking the store's layout inside an open HDF5 file.
// Shared by ActivationWriter (create, resume) and ActivationReader (validate) so that both
// hold the same idea of a well-formed store. Private to pipeline/store.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/store/store_layout.h"

namespace dv {

// What the root attributes say about a store.
struct StoreHeader {
  StoreMeta meta;
  int64_t rows_committed = 0;  // complete rows; datasets may hold more after a crash
  bool complete = false;
};

// Writes every root attribute (rows_committed = 0, complete = 0) and creates /tokens and the
// /layer_XXX groups with empty, chunked, unlimited datasets.
void create_store_layout(hid_t file, const std::string& path, const StoreMeta& meta, int64_t chunk_rows,
                         StoreCompression compression);

// The pieces of create_store_layout, for stores whose datasets are made otherwise (shard_merge.h):
// every root attribute (rows_committed = 0, complete = 0), then /tokens and the /layer_XXX groups.
void write_store_attributes(hid_t file, const std::string& path, const StoreMeta& meta);
void create_store_groups(hid_t file, const std::string& path, const StoreShape& shape);
// The file type of a dtype (float16: half_type, the hand-built IEEE half).
hid_t store_file_type(StoreDtype t, hid_t half_type);

// Reads the root attributes. dv::Error naming `path` for a file that is not a store, a
// format_version other than kStoreFormatVersion, or missing/ill-typed attributes.
StoreHeader read_store_header(hid_t file, const std::string& path);

// Checks that every dataset the shape calls for exists with the right type and width and at
// least `rows` rows (exactly `rows` when exact_rows), and that all share one chunk height.
// Returns that chunk height. dv::Error names the file and the dataset.
int64_t validate_store_datasets(hid_t file, const std::string& path, const StoreShape& shape, int64_t rows,
                                bool exact_rows);

// Empty when `stored` may be resumed to produce `wanted`; otherwise names the first field
// that differs (shape, model config, corpus, corpus identity, sample settings).
std::string store_identity_mismatch(const StoreMeta& stored, const StoreMeta& wanted);

// The in-memory HDF5 type the store uses for a dtype (float16: the hand-built half type).
// The caller owns nothing: native types are library constants, the half type is `half_type`.
hid_t store_mem_type(StoreDtype t, hid_t half_type);

// Every dataset path of a store, /tokens first, then layers in order.
struct StoreDataset {
  std::string path;
  StoreDtype dtype;
  int64_t cols;              // 0 for the 1-D /tokens datasets
  bool mostly_zero = false;  // fc1_value: post-ReLU, mostly zeros, which deflate packs best unshuffled
};
std::vector<StoreDataset> store_datasets(const StoreShape& shape);

}  // namespace dv
