// shard_merge.cpp: "I/N" parsing, the window split, and the virtual-dataset file over the shards.
#include "pipeline/store/shard_merge.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "kernels/common/error.h"
#include "pipeline/store/activation_reader.h"
#include "pipeline/store/h5_attr.h"
#include "pipeline/store/h5_handle.h"
#include "pipeline/store/partial_file.h"
#include "pipeline/store/store_schema.h"

namespace dv {

namespace fs = std::filesystem;

ShardSpec parse_shard(const std::string& text, const std::string& where) {
  ShardSpec s;
  char slash = 0;
  long long i = -1, n = -1;
  char extra = 0;
  const int got = std::sscanf(text.c_str(), "%lld%c%lld%c", &i, &slash, &n, &extra);
  DV_CHECK(got == 3 && slash == '/' && n >= 1 && i >= 0 && i < n,
           "{}: shard '{}' must be I/N with 0 <= I < N (e.g. 0/4 ... 3/4)", where, text);
  s.index = i;
  s.count = n;
  return s;
}

std::pair<int64_t, int64_t> shard_windows(int64_t windows, const ShardSpec& s) {
  return {windows * s.index / s.count, windows * (s.index + 1) / s.count};
}

namespace {

struct Shard {
  std::string path;
  std::unique_ptr<ActivationReader> reader;
  ShardSpec spec;
};

// sample_settings without its "shard" key: what the one-process collection would have recorded.
std::string unsharded_settings(const std::string& settings, const std::string& path, ShardSpec* spec) {
  nlohmann::json j = nlohmann::json::parse(settings, nullptr, false);
  DV_CHECK(!j.is_discarded() && j.is_object(), "{}: attribute sample_settings is not a JSON object", path);
  DV_CHECK(j.contains("shard") && j["shard"].is_string(),
           "{}: not a shard (collected without --shard); only shards of one collection can be merged", path);
  *spec = parse_shard(j["shard"].get<std::string>(), path + " (sample_settings)");
  j.erase("shard");
  return j.dump();
}

void create_virtual_dataset(hid_t file, const std::string& out, const StoreDataset& d, const std::vector<Shard>& shards,
                            const std::vector<std::string>& names, hid_t half) {
  const int rank = d.cols > 0 ? 2 : 1;
  hsize_t total = 0;
  for (const Shard& s : shards) total += static_cast<hsize_t>(s.reader->rows());
  const hsize_t dims[2] = {total, static_cast<hsize_t>(d.cols)};
  H5Id space = h5_owned_space(H5Screate_simple(rank, dims, nullptr), out, d.path, "create the dataspace of");
  H5Id dcpl = h5_owned_plist(H5Pcreate(H5P_DATASET_CREATE), out, d.path, "create");
  hsize_t offset = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const auto n = static_cast<hsize_t>(shards[i].reader->rows());
    if (n == 0) continue;
    const hsize_t src_dims[2] = {n, static_cast<hsize_t>(d.cols)};
    H5Id src = h5_owned_space(H5Screate_simple(rank, src_dims, nullptr), out, d.path, "map a shard onto");
    const hsize_t start[2] = {offset, 0};
    h5_check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, src_dims, nullptr), out, d.path,
                    "map a shard onto");
    h5_check_status(H5Pset_virtual(dcpl.get(), space.get(), names[i].c_str(), d.path.c_str(), src.get()), out, d.path,
                    "map a shard onto");
    offset += n;
  }
  h5_check_status(H5Sselect_all(space.get()), out, d.path, "create");
  H5Id ds = h5_owned_dataset(H5Dcreate2(file, d.path.c_str(), store_file_type(d.dtype, half), space.get(), H5P_DEFAULT,
                                        dcpl.get(), H5P_DEFAULT),
                             out, d.path, "create");
}

}  // namespace

void merge_shards(const std::string& out, const std::vector<std::string>& paths) {
  DV_CHECK(!paths.empty(), "{}: no shard files to merge", out);
  std::vector<Shard> shards;
  std::string settings;
  for (const std::string& p : paths) {
    Shard s;
    s.path = p;
    s.reader = std::make_unique<ActivationReader>(p);  // complete stores only
    const std::string own = unsharded_settings(s.reader->meta().sample_settings, p, &s.spec);
    if (shards.empty()) settings = own;
    DV_CHECK(own == settings, "{}: collected with other sampling settings than {} ({} vs {})", p, paths[0], own,
             settings);
    if (!shards.empty()) {
      StoreMeta a = s.reader->meta(), b = shards[0].reader->meta();
      a.sample_settings = b.sample_settings = "";
      const std::string diff = store_identity_mismatch(a, b);
      DV_CHECK(diff.empty(), "{}: not a shard of the same collection as {} ({})", p, paths[0], diff);
      DV_CHECK(s.spec.count == shards[0].spec.count, "{}: shard of {} where {} is a shard of {}", p, s.spec.count,
               paths[0], shards[0].spec.count);
    }
    shards.push_back(std::move(s));
  }
  const int64_t n = shards[0].spec.count;
  std::map<int64_t, size_t> by_index;
  for (size_t i = 0; i < shards.size(); ++i) {
    DV_CHECK(by_index.emplace(shards[i].spec.index, i).second, "{}: shard {}/{} is given twice", shards[i].path,
             shards[i].spec.index, n);
  }
  for (int64_t i = 0; i < n; ++i) {
    DV_CHECK(by_index.count(i), "{}: shard {}/{} is missing from the list ({} of {} given)", out, i, n, shards.size(), n);
  }
  std::vector<Shard> ordered;
  for (const auto& [index, i] : by_index) ordered.push_back(std::move(shards[i]));

  // Paths as HDF5 will look for them: relative to the merged file's directory.
  const fs::path out_dir = fs::absolute(fs::path(out)).parent_path();
  std::vector<std::string> names;
  nlohmann::json listing = nlohmann::json::array();
  int64_t rows = 0, dropped = 0;
  std::vector<int64_t> per_layer(static_cast<size_t>(ordered[0].reader->shape().n_layers), 0);
  bool any_stats = false;
  for (const Shard& s : ordered) {
    names.push_back(fs::relative(fs::absolute(s.path), out_dir).string());
    listing.push_back({{"file", names.back()}, {"rows", s.reader->rows()}});
    rows += s.reader->rows();
    const std::string stats = s.reader->collect_stats();
    if (stats.empty()) continue;
    const nlohmann::json j = nlohmann::json::parse(stats, nullptr, false);
    DV_CHECK(!j.is_discarded() && j.contains("nonfinite_rows_dropped"), "{}: attribute collect_stats is not JSON",
             s.path);
    any_stats = true;
    dropped += j["nonfinite_rows_dropped"].get<int64_t>();
    const auto& pl = j["nonfinite_rows_per_layer"];
    for (size_t l = 0; l < per_layer.size() && l < pl.size(); ++l) per_layer[l] += pl[l].get<int64_t>();
  }

  StoreMeta meta = ordered[0].reader->meta();
  meta.sample_settings = settings;
  const std::string tmp = out + ".tmp";
  {
    H5Id fapl = store_fapl(tmp, false);
    H5Id f = h5_owned_file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), tmp, "create");
    write_store_attributes(f.get(), tmp, meta);
    h5_write_attr_int64(f.get(), store_attr::kRowsCommitted, rows, tmp, "/");
    h5_write_attr_int64(f.get(), store_attr::kComplete, 1, tmp, "/");
    h5_write_attr_int64(f.get(), store_attr::kChunkRows, ordered[0].reader->chunk_rows(), tmp, "/");
    h5_write_attr_string(f.get(), store_attr::kShards, listing.dump(), tmp, "/");
    if (any_stats) {
      const nlohmann::json stats = {{"nonfinite_rows_dropped", dropped}, {"nonfinite_rows_per_layer", per_layer}};
      h5_write_attr_string(f.get(), store_attr::kCollectStats, stats.dump(), tmp, "/");
    }
    create_store_groups(f.get(), tmp, meta.shape);
    H5Id half = h5_half_type(tmp);
    for (const StoreDataset& d : store_datasets(meta.shape)) create_virtual_dataset(f.get(), tmp, d, ordered, names, half.get());
    h5_check_status(f.close(), tmp, "", "close");
  }
  DV_CHECK(std::rename(tmp.c_str(), out.c_str()) == 0, "{}: cannot rename onto {}: {}", tmp, out, std::strerror(errno));
}

}  // namespace dv
