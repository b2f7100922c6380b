// activation_reader.cpp: opening, validating and hyperslab reads of an activation store.
#include "pipeline/store/activation_reader.h"

#include <filesystem>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernels/common/error.h"
#include "pipeline/store/fp16.h"
#include "pipeline/store/h5_attr.h"
#include "pipeline/store/h5_handle.h"
#include "pipeline/store/partial_file.h"
#include "pipeline/store/store_schema.h"

namespace dv {

struct ActivationReader::Impl {
  std::string path;
  StoreHeader header;
  std::string collect_stats;
  int64_t chunk_rows = 0;
  H5Id half;
  H5Id file;                      // declared before the datasets: they close first
  std::vector<H5Id> datasets;     // in store_datasets() order
  std::vector<StoreDataset> specs;

  size_t index_of(const std::string& name) const;
  void read(size_t index, StoreDtype mem_dtype, int64_t row0, int64_t n, void* out) const;
};

size_t ActivationReader::Impl::index_of(const std::string& name) const {
  for (size_t i = 0; i < specs.size(); ++i) {
    if (specs[i].path == name) return i;
  }
  DV_FAIL("{}: no dataset {} in this store", path, name);
}

void ActivationReader::Impl::read(size_t index, StoreDtype mem_dtype, int64_t row0, int64_t n, void* out) const {
  const StoreDataset& d = specs[index];
  const int64_t rows = header.rows_committed;
  DV_CHECK(row0 >= 0 && n >= 0 && row0 + n <= rows, "{}: rows [{}, {}) of {} are out of range (the store has {})",
           path, row0, row0 + n, d.path, rows);
  if (n == 0) return;
  const std::string action = fmt::format("read rows [{}, {}) of", row0, row0 + n);
  const int rank = d.cols > 0 ? 2 : 1;
  H5Id file_space = h5_owned_space(H5Dget_space(datasets[index].get()), path, d.path, action);
  const hsize_t offset[2] = {static_cast<hsize_t>(row0), 0};
  const hsize_t block[2] = {static_cast<hsize_t>(n), static_cast<hsize_t>(d.cols)};
  h5_check_status(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, offset, nullptr, block, nullptr), path, d.path,
                  action);
  H5Id mem_space = h5_owned_space(H5Screate_simple(rank, block, nullptr), path, d.path, action);
  h5_check_status(H5Dread(datasets[index].get(), store_mem_type(mem_dtype, half.get()), mem_space.get(),
                          file_space.get(), H5P_DEFAULT, out),
                  path, d.path, action);
}

namespace {

// A merged store (shard_merge.h) reads its shards in place, and HDF5 reads a missing source file as
// zeros: every shard must be there, complete, with the rows the merge saw.
void check_shards(hid_t file, const std::string& path, const StoreHeader& header) {
  const std::string text = h5_read_attr_string(file, store_attr::kShards, path, "/");
  const nlohmann::json list = nlohmann::json::parse(text, nullptr, false);
  DV_CHECK(!list.is_discarded() && list.is_array(), "{}: attribute 'shards' is not a JSON list", path);
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  int64_t rows = 0;
  for (const auto& s : list) {
    DV_CHECK(s.is_object() && s.contains("file") && s.contains("rows"), "{}: attribute 'shards' is malformed", path);
    const std::string shard = (dir / s["file"].get<std::string>()).string();
    std::error_code ec;
    DV_CHECK(std::filesystem::is_regular_file(shard, ec),
             "{}: shard file {} is missing (a merged store reads its shards in place; keep them beside it)", path, shard);
    const ActivationReader r(shard);
    DV_CHECK(r.rows() == s["rows"].get<int64_t>(), "{}: shard {} has {} rows, the merge saw {} (collected again? "
             "merge the shards again)", path, shard, r.rows(), s["rows"].get<int64_t>());
    rows += r.rows();
  }
  DV_CHECK(rows == header.rows_committed, "{}: shards hold {} rows, rows_committed says {}", path, rows,
           header.rows_committed);
}

}  // namespace

ActivationReader::ActivationReader(const std::string& path, ReaderOptions options) : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  h5_quiet();
  r.path = path;
  std::error_code ec;
  DV_CHECK(std::filesystem::is_regular_file(path, ec), "{}: no such activation store", path);
  r.half = h5_half_type(path);
  hid_t fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (fid < 0 && options.allow_incomplete) {
    // A partial file whose writer is running or was killed carries "being written" flags,
    // which a read-only open may ignore (nothing is written back).
    H5Eclear2(H5E_DEFAULT);
    H5Id fapl = store_fapl(path, true);
    fid = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get());
  }
  r.file = h5_owned_file(fid, path, "open as an HDF5 file (truncated or not HDF5?)");
  r.header = read_store_header(r.file.get(), path);
  DV_CHECK(r.header.complete || options.allow_incomplete,
           "{}: the collection is incomplete (complete = 0, {} rows committed); run `dejavu collect` again to "
           "finish it",
           path, r.header.rows_committed);
  if (h5_has_attr(r.file.get(), store_attr::kCollectStats, path, "/")) {
    r.collect_stats = h5_read_attr_string(r.file.get(), store_attr::kCollectStats, path, "/");
  }
  if (h5_has_attr(r.file.get(), store_attr::kShards, path, "/")) check_shards(r.file.get(), path, r.header);
  r.chunk_rows =
      validate_store_datasets(r.file.get(), path, r.header.meta.shape, r.header.rows_committed, r.header.complete);
  r.specs = store_datasets(r.header.meta.shape);
  for (const StoreDataset& d : r.specs) {
    // Room for two chunks, so sequential reads that straddle a chunk boundary decompress each
    // chunk once.
    const int64_t chunk_bytes = r.chunk_rows * std::max<int64_t>(1, d.cols) * store_dtype_bytes(d.dtype);
    H5Id dapl = h5_owned_plist(H5Pcreate(H5P_DATASET_ACCESS), path, d.path, "configure");
    h5_check_status(H5Pset_chunk_cache(dapl.get(), H5D_CHUNK_CACHE_NSLOTS_DEFAULT,
                                       static_cast<size_t>(2 * chunk_bytes + 1024), 1.0),
                    path, d.path, "configure the chunk cache of");
    r.datasets.push_back(
        h5_owned_dataset(H5Dopen2(r.file.get(), d.path.c_str(), dapl.get()), path, d.path, "open"));
  }
}

ActivationReader::~ActivationReader() {
  if (!impl_) return;
  impl_->datasets.clear();
  (void)impl_->file.close();
  H5Eclear2(H5E_DEFAULT);
}

const std::string& ActivationReader::path() const { return impl_->path; }
const StoreMeta& ActivationReader::meta() const { return impl_->header.meta; }
int64_t ActivationReader::rows() const { return impl_->header.rows_committed; }
bool ActivationReader::complete() const { return impl_->header.complete; }
int64_t ActivationReader::chunk_rows() const { return impl_->chunk_rows; }
const std::string& ActivationReader::collect_stats() const { return impl_->collect_stats; }

void ActivationReader::require_field(LayerField field, const std::string& needed_by) const {
  const StoreShape& s = shape();
  DV_CHECK(s.has_field(field), "{}: {} needs {} but this store holds only {}; collect again with --fields (YAML "
           "collect.fields) including it{}", impl_->path, needed_by, layer_field_name(field),
           field_list(s.field_mask, s.has_fc1_value),
           field == LayerField::kFc1Value ? " (or --store-fc1-values)" : "");
}

void ActivationReader::read_tokens(int64_t row0, int64_t n, int32_t* token_id, int32_t* position,
                                   int32_t* window) const {
  const Impl& r = *impl_;
  if (token_id) r.read(r.index_of(kTokenIdPath), StoreDtype::kInt32, row0, n, token_id);
  if (position) r.read(r.index_of(kPositionPath), StoreDtype::kInt32, row0, n, position);
  if (window) r.read(r.index_of(kWindowPath), StoreDtype::kInt32, row0, n, window);
}

namespace {

void check_field(const std::string& path, const StoreShape& shape, int64_t layer, LayerField field,
                 StoreDtype asked) {
  DV_CHECK(layer >= 0 && layer < shape.n_layers, "{}: layer {} out of range (the store has {} layers)", path, layer,
           shape.n_layers);
  DV_CHECK(shape.has_field(field), "{}: this store has no {} datasets (it holds {}; collect again with --fields or "
           "--store-fc1-values to get them)", path, layer_field_name(field),
           field_list(shape.field_mask, shape.has_fc1_value));
  const StoreDtype stored = layer_field_dtype(field);
  const bool ok = stored == asked || (asked == StoreDtype::kFloat32 && stored == StoreDtype::kFloat16);
  DV_CHECK(ok, "{}: {} holds {}; read it into a {} buffer", path, layer_dataset_path(layer, field),
           store_dtype_name(stored), store_dtype_name(stored));
}

}  // namespace

void ActivationReader::read_rows(int64_t layer, LayerField field, int64_t row0, int64_t n, uint16_t* out) const {
  check_field(impl_->path, shape(), layer, field, StoreDtype::kFloat16);
  impl_->read(impl_->index_of(layer_dataset_path(layer, field)), StoreDtype::kFloat16, row0, n, out);
}

void ActivationReader::read_rows(int64_t layer, LayerField field, int64_t row0, int64_t n, uint8_t* out) const {
  check_field(impl_->path, shape(), layer, field, StoreDtype::kUint8);
  impl_->read(impl_->index_of(layer_dataset_path(layer, field)), StoreDtype::kUint8, row0, n, out);
}

void ActivationReader::read_rows(int64_t layer, LayerField field, int64_t row0, int64_t n, float* out) const {
  check_field(impl_->path, shape(), layer, field, StoreDtype::kFloat32);
  const size_t index = impl_->index_of(layer_dataset_path(layer, field));
  if (layer_field_dtype(field) == StoreDtype::kFloat32) {
    impl_->read(index, StoreDtype::kFloat32, row0, n, out);
    return;
  }
  // float16 fields: read the bits, widen on the host (HDF5's soft float conversion is slow).
  const int64_t count = n * shape().cols(field);
  std::vector<uint16_t> bits(static_cast<size_t>(std::max<int64_t>(0, count)));
  impl_->read(index, StoreDtype::kFloat16, row0, n, bits.data());
  for (int64_t i = 0; i < count; ++i) out[i] = half_to_float(bits[static_cast<size_t>(i)]);
}

}  // namespace dv
