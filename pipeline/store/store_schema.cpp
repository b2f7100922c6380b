// store_schema.cpp: layout creation, header reading and dataset validation for the store.
#include "pipeline/store/store_schema.h"

#include <fmt/format.h>

#include "kernels/common/error.h"
#include "pipeline/store/h5_attr.h"
#include "pipeline/store/h5_handle.h"

namespace dv {

namespace {

bool dtype_matches(hid_t type, StoreDtype want) {
  const H5T_class_t cls = H5Tget_class(type);
  const size_t size = H5Tget_size(type);
  switch (want) {
    case StoreDtype::kFloat16: return cls == H5T_FLOAT && size == 2;
    case StoreDtype::kFloat32: return cls == H5T_FLOAT && size == 4;
    case StoreDtype::kUint8: return cls == H5T_INTEGER && size == 1 && H5Tget_sign(type) == H5T_SGN_NONE;
    case StoreDtype::kInt32: return cls == H5T_INTEGER && size == 4 && H5Tget_sign(type) == H5T_SGN_2;
  }
  return false;
}

std::string describe_type(hid_t type) {
  const H5T_class_t cls = H5Tget_class(type);
  const char* kind = cls == H5T_FLOAT ? "float" : cls == H5T_INTEGER ? "integer" : cls == H5T_STRING ? "string" : "other";
  return fmt::format("{} of {} bytes", kind, H5Tget_size(type));
}

void create_dataset(hid_t file, const std::string& path, const StoreDataset& d, int64_t chunk_rows,
                    StoreCompression compression, hid_t half_type) {
  const int rank = d.cols > 0 ? 2 : 1;
  const hsize_t dims[2] = {0, static_cast<hsize_t>(d.cols)};
  const hsize_t max_dims[2] = {H5S_UNLIMITED, static_cast<hsize_t>(d.cols)};
  const hsize_t chunk[2] = {static_cast<hsize_t>(chunk_rows), static_cast<hsize_t>(d.cols)};
  H5Id space = h5_owned_space(H5Screate_simple(rank, dims, max_dims), path, d.path, "create the dataspace of");
  H5Id dcpl = h5_owned_plist(H5Pcreate(H5P_DATASET_CREATE), path, d.path, "create");
  h5_check_status(H5Pset_chunk(dcpl.get(), rank, chunk), path, d.path, "set the chunking of");
  // Every row is written before it is read; skipping fill-value writes saves a pass.
  h5_check_status(H5Pset_fill_time(dcpl.get(), H5D_FILL_TIME_NEVER), path, d.path, "configure");
  // No modification times in object headers: the same rows give the same file bytes.
  h5_check_status(H5Pset_obj_track_times(dcpl.get(), false), path, d.path, "configure");
  // Shuffling groups the bytes of dense float and integer values by significance (the high
  // bytes repeat); on mostly-zero data it only breaks up deflate's long runs (README.md).
  if (compression == StoreCompression::kShuffleGzip1 && !d.mostly_zero && store_dtype_bytes(d.dtype) > 1) {
    h5_check_status(H5Pset_shuffle(dcpl.get()), path, d.path, "set the shuffle filter of");
  }
  if (compression != StoreCompression::kNone) {
    h5_check_status(H5Pset_deflate(dcpl.get(), 1), path, d.path, "set the gzip filter of");
  }
  const hid_t file_type = store_file_type(d.dtype, half_type);
  H5Id ds = h5_owned_dataset(
      H5Dcreate2(file, d.path.c_str(), file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), path, d.path,
      "create");
}

}  // namespace

hid_t store_file_type(StoreDtype t, hid_t half_type) {
  switch (t) {
    case StoreDtype::kFloat16: return half_type;
    case StoreDtype::kFloat32: return H5T_IEEE_F32LE;
    case StoreDtype::kUint8: return H5T_STD_U8LE;
    case StoreDtype::kInt32: return H5T_STD_I32LE;
  }
  return -1;
}

hid_t store_mem_type(StoreDtype t, hid_t half_type) {
  switch (t) {
    case StoreDtype::kFloat16: return half_type;
    case StoreDtype::kFloat32: return H5T_NATIVE_FLOAT;
    case StoreDtype::kUint8: return H5T_NATIVE_UINT8;
    case StoreDtype::kInt32: return H5T_NATIVE_INT32;
  }
  return -1;
}

std::vector<StoreDataset> store_datasets(const StoreShape& shape) {
  std::vector<StoreDataset> out = {{kTokenIdPath, StoreDtype::kInt32, 0},
                                   {kPositionPath, StoreDtype::kInt32, 0},
                                   {kWindowPath, StoreDtype::kInt32, 0}};
  for (int64_t l = 0; l < shape.n_layers; ++l) {
    for (LayerField f : kAllLayerFields) {
      if (shape.has_field(f)) {
        out.push_back({layer_dataset_path(l, f), layer_field_dtype(f), shape.cols(f), f == LayerField::kFc1Value});
      }
    }
  }
  return out;
}

void write_store_attributes(hid_t file, const std::string& path, const StoreMeta& meta) {
  namespace a = store_attr;
  const StoreShape& s = meta.shape;
  h5_write_attr_int64(file, a::kFormatVersion, kStoreFormatVersion, path, "/");
  h5_write_attr_string(file, a::kModelConfig, meta.model_config, path, "/");
  h5_write_attr_string(file, a::kModelDir, meta.model_dir, path, "/");
  h5_write_attr_string(file, a::kCorpus, meta.corpus, path, "/");
  h5_write_attr_string(file, a::kCorpusIdentity, meta.corpus_identity, path, "/");
  h5_write_attr_string(file, a::kDtype, "float16", path, "/");
  h5_write_attr_int64(file, a::kNLayers, s.n_layers, path, "/");
  h5_write_attr_int64(file, a::kHiddenSize, s.hidden_size, path, "/");
  h5_write_attr_int64(file, a::kFfnDim, s.ffn_dim, path, "/");
  h5_write_attr_int64(file, a::kNumHeads, s.num_heads, path, "/");
  h5_write_attr_int64(file, a::kHeadDim, s.head_dim, path, "/");
  h5_write_attr_int64(file, a::kHasFc1Value, s.has_fc1_value ? 1 : 0, path, "/");
  h5_write_attr_string(file, a::kFields, field_list(s.field_mask, s.has_fc1_value), path, "/");
  h5_write_attr_string(file, a::kSampleSettings, meta.sample_settings, path, "/");
  h5_write_attr_int64(file, a::kRowsCommitted, 0, path, "/");
  h5_write_attr_int64(file, a::kComplete, 0, path, "/");
  h5_write_attr_string(file, a::kCreatedBy, meta.created_by, path, "/");
}

void create_store_groups(hid_t file, const std::string& path, const StoreShape& s) {
  H5Id gcpl = h5_owned_plist(H5Pcreate(H5P_GROUP_CREATE), path, "/", "create group properties for");
  h5_check_status(H5Pset_obj_track_times(gcpl.get(), false), path, "/", "configure group properties for");
  H5Id tokens = h5_owned_group(H5Gcreate2(file, kTokensGroup, H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), path,
                               kTokensGroup, "create");
  for (int64_t l = 0; l < s.n_layers; ++l) {
    const std::string g = layer_group_path(l);
    H5Id group = h5_owned_group(H5Gcreate2(file, g.c_str(), H5P_DEFAULT, gcpl.get(), H5P_DEFAULT), path, g, "create");
  }
}

void create_store_layout(hid_t file, const std::string& path, const StoreMeta& meta, int64_t chunk_rows,
                         StoreCompression compression) {
  write_store_attributes(file, path, meta);
  create_store_groups(file, path, meta.shape);
  H5Id half = h5_half_type(path);
  for (const StoreDataset& d : store_datasets(meta.shape)) create_dataset(file, path, d, chunk_rows, compression, half.get());
}

StoreHeader read_store_header(hid_t file, const std::string& path) {
  namespace a = store_attr;
  DV_CHECK(h5_has_attr(file, a::kFormatVersion, path, "/"),
           "{}: not a dejavu activation store (no format_version attribute at the root)", path);
  const int64_t version = h5_read_attr_int64(file, a::kFormatVersion, path, "/");
  DV_CHECK(version == kStoreFormatVersion,
           "{}: activation store format_version {} is not supported (this build reads version {}); collect it "
           "again with this build",
           path, version, kStoreFormatVersion);
  StoreHeader h;
  StoreMeta& m = h.meta;
  m.model_config = h5_read_attr_string(file, a::kModelConfig, path, "/");
  m.model_dir = h5_read_attr_string(file, a::kModelDir, path, "/");
  m.corpus = h5_read_attr_string(file, a::kCorpus, path, "/");
  m.corpus_identity = h5_read_attr_string(file, a::kCorpusIdentity, path, "/");
  m.sample_settings = h5_read_attr_string(file, a::kSampleSettings, path, "/");
  m.created_by = h5_read_attr_string(file, a::kCreatedBy, path, "/");
  const std::string dtype = h5_read_attr_string(file, a::kDtype, path, "/");
  DV_CHECK(dtype == "float16", "{}: attribute 'dtype' is '{}'; this build reads float16 stores", path, dtype);
  m.shape.n_layers = h5_read_attr_int64(file, a::kNLayers, path, "/");
  m.shape.hidden_size = h5_read_attr_int64(file, a::kHiddenSize, path, "/");
  m.shape.ffn_dim = h5_read_attr_int64(file, a::kFfnDim, path, "/");
  m.shape.num_heads = h5_read_attr_int64(file, a::kNumHeads, path, "/");
  m.shape.head_dim = h5_read_attr_int64(file, a::kHeadDim, path, "/");
  m.shape.has_fc1_value = h5_read_attr_int64(file, a::kHasFc1Value, path, "/") != 0;
  if (h5_has_attr(file, a::kFields, path, "/")) {
    // fc1_value is listed too; its presence is has_fc1_value's to say.
    std::string list = h5_read_attr_string(file, a::kFields, path, "/");
    const std::string values = layer_field_name(LayerField::kFc1Value);
    const size_t at = list.find(values);
    DV_CHECK((at != std::string::npos) == m.shape.has_fc1_value, "{}: attribute 'fields' ({}) disagrees with "
             "has_fc1_value", path, list);
    if (at != std::string::npos) list.erase(at > 0 ? at - 1 : at, values.size() + 1);
    m.shape.field_mask = list.empty() ? 0 : parse_field_list(list, path + " (attribute 'fields')");
  }
  m.shape.validate(path);
  h.rows_committed = h5_read_attr_int64(file, a::kRowsCommitted, path, "/");
  DV_CHECK(h.rows_committed >= 0, "{}: attribute rows_committed is negative ({})", path, h.rows_committed);
  h.complete = h5_read_attr_int64(file, a::kComplete, path, "/") != 0;
  return h;
}

int64_t validate_store_datasets(hid_t file, const std::string& path, const StoreShape& shape, int64_t rows,
                                bool exact_rows) {
  int64_t chunk_rows = -1;
  for (const StoreDataset& d : store_datasets(shape)) {
    // H5Lexists fails (rather than answering no) when the parent group is missing.
    const std::string group = d.path.substr(0, d.path.rfind('/'));
    const bool group_ok = H5Lexists(file, group.c_str(), H5P_DEFAULT) > 0;
    DV_CHECK(group_ok && H5Lexists(file, d.path.c_str(), H5P_DEFAULT) > 0,
             "{}: missing dataset {} (the store is damaged or was written by another tool)", path, d.path);
    H5Id ds = h5_owned_dataset(H5Dopen2(file, d.path.c_str(), H5P_DEFAULT), path, d.path, "open");
    H5Id type = h5_owned_type(H5Dget_type(ds.get()), path, d.path, "read the type of");
    DV_CHECK(dtype_matches(type.get(), d.dtype), "{}: dataset {} holds {}, expected {}", path, d.path,
             describe_type(type.get()), store_dtype_name(d.dtype));
    H5Id space = h5_owned_space(H5Dget_space(ds.get()), path, d.path, "read the shape of");
    const int rank = H5Sget_simple_extent_ndims(space.get());
    const int want_rank = d.cols > 0 ? 2 : 1;
    hsize_t dims[2] = {0, 0};
    DV_CHECK(rank == want_rank && H5Sget_simple_extent_dims(space.get(), dims, nullptr) == rank,
             "{}: dataset {} has {} dimensions, expected {}", path, d.path, rank, want_rank);
    const auto n = static_cast<int64_t>(dims[0]);
    if (d.cols > 0) {
      DV_CHECK(static_cast<int64_t>(dims[1]) == d.cols, "{}: dataset {} has shape [{}, {}], expected [{}, {}]", path,
               d.path, n, dims[1], rows, d.cols);
    }
    DV_CHECK(exact_rows ? n == rows : n >= rows, "{}: dataset {} has {} rows, expected {}{} (truncated store?)", path,
             d.path, n, exact_rows ? "" : "at least ", rows);
    H5Id dcpl = h5_owned_plist(H5Dget_create_plist(ds.get()), path, d.path, "read the layout of");
    hsize_t chunk[2] = {0, 0};
    if (H5Pget_layout(dcpl.get()) == H5D_VIRTUAL) {
      // A merged store (shard_merge.h): rows live in the shard files, which have their own chunks.
      DV_CHECK(h5_has_attr(file, store_attr::kChunkRows, path, "/"),
               "{}: dataset {} is virtual but the file has no chunk_rows attribute (not a merged store)", path, d.path);
      chunk[0] = static_cast<hsize_t>(h5_read_attr_int64(file, store_attr::kChunkRows, path, "/"));
    } else {
      DV_CHECK(H5Pget_layout(dcpl.get()) == H5D_CHUNKED && H5Pget_chunk(dcpl.get(), 2, chunk) == rank,
               "{}: dataset {} is not chunked; the store cannot grow or resume", path, d.path);
    }
    if (chunk_rows < 0) chunk_rows = static_cast<int64_t>(chunk[0]);
    DV_CHECK(static_cast<int64_t>(chunk[0]) == chunk_rows,
             "{}: dataset {} has chunks of {} rows where the others have {}", path, d.path, chunk[0], chunk_rows);
  }
  return chunk_rows;
}

std::string store_identity_mismatch(const StoreMeta& stored, const StoreMeta& wanted) {
  const StoreShape& a = stored.shape;
  const StoreShape& b = wanted.shape;
  if (a.n_layers != b.n_layers || a.hidden_size != b.hidden_size || a.ffn_dim != b.ffn_dim ||
      a.num_heads != b.num_heads || a.head_dim != b.head_dim) {
    return fmt::format("model shape (stored: {} layers, d={}, ffn={}, heads={}; now: {} layers, d={}, ffn={}, heads={})",
                       a.n_layers, a.hidden_size, a.ffn_dim, a.num_heads, b.n_layers, b.hidden_size, b.ffn_dim,
                       b.num_heads);
  }
  if (a.field_mask != b.field_mask) {
    return fmt::format("fields (stored: {}, now: {})", field_list(a.field_mask, false), field_list(b.field_mask, false));
  }
  if (a.has_fc1_value != b.has_fc1_value) {
    return fmt::format("fc1 values (stored: {}, now: {})", a.has_fc1_value ? "kept" : "not kept",
                       b.has_fc1_value ? "kept" : "not kept");
  }
  if (stored.model_config != wanted.model_config) return "model_config (the model's config.json differs)";
  if (stored.corpus != wanted.corpus) {
    return fmt::format("corpus (stored: '{}', now: '{}')", stored.corpus, wanted.corpus);
  }
  if (stored.corpus_identity != wanted.corpus_identity) {
    return fmt::format("corpus_identity (the text file changed: stored {}, now {})", stored.corpus_identity,
                       wanted.corpus_identity);
  }
  if (stored.sample_settings != wanted.sample_settings) {
    return fmt::format("sample_settings (stored: {}, now: {})", stored.sample_settings, wanted.sample_settings);
  }
  return {};
}

}  // namespace dv
