// store_codec_bench.cpp: speed and size of the store's compression choices on activation-like
// data (tests/store/synthetic_rows.h), the measurement behind WriterOptions' default.
// Usage: store_codec_bench [ROWS [D]] (rounded down to whole chunks) -> a table: per filter, write and read MB/s (of raw,
// uncompressed bytes; best of 3) and the compression ratio per field and overall.
#include <hdf5.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "kernels/common/error.h"
#include "pipeline/store/activation_reader.h"
#include "pipeline/store/activation_writer.h"
#include "tests/store/synthetic_rows.h"

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

struct Result {
  double write_s = 1e30, read_s = 1e30;
  int64_t file_bytes = 0;
  std::vector<double> field_ratio;
};

Result run(const std::string& path, const dv::StoreShape& shape, const std::vector<dv::test::SyntheticRows>& data,
           dv::StoreCompression c) {
  Result res;
  for (int rep = 0; rep < 3; ++rep) {
    dv::WriterOptions o;
    o.force = true;
    o.compression = c;
    auto t0 = Clock::now();
    {
      dv::ActivationWriter w(path, dv::test::test_meta(shape), o);
      for (const auto& b : data) {
        w.append_batch(b.batch());
        w.commit();
      }
      w.finish();
    }
    res.write_s = std::min(res.write_s, seconds_since(t0));
    t0 = Clock::now();
    dv::ActivationReader r(path);
    const int64_t block = r.chunk_rows();
    std::vector<uint8_t> buf(static_cast<size_t>(block * shape.row_bytes(dv::LayerField::kFc1Value)));
    for (int64_t l = 0; l < shape.n_layers; ++l) {
      for (dv::LayerField f : dv::kAllLayerFields) {
        for (int64_t r0 = 0; r0 < r.rows(); r0 += block) {
          const int64_t n = std::min(block, r.rows() - r0);
          if (dv::layer_field_dtype(f) == dv::StoreDtype::kFloat16) {
            r.read_rows(l, f, r0, n, reinterpret_cast<uint16_t*>(buf.data()));
          } else if (dv::layer_field_dtype(f) == dv::StoreDtype::kFloat32) {
            r.read_rows(l, f, r0, n, reinterpret_cast<float*>(buf.data()));
          } else {
            r.read_rows(l, f, r0, n, buf.data());
          }
        }
      }
    }
    res.read_s = std::min(res.read_s, seconds_since(t0));
  }
  res.file_bytes = static_cast<int64_t>(std::filesystem::file_size(path));
  hid_t file = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  for (dv::LayerField f : dv::kAllLayerFields) {
    hid_t ds = H5Dopen2(file, dv::layer_dataset_path(0, f).c_str(), H5P_DEFAULT);
    const double raw = static_cast<double>(shape.row_bytes(f)) * static_cast<double>(data.size() * data[0].n());
    res.field_ratio.push_back(raw / static_cast<double>(H5Dget_storage_size(ds)));
    H5Dclose(ds);
  }
  H5Fclose(file);
  return res;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const int64_t rows_wanted = argc > 1 ? std::atoll(argv[1]) : 4096;
    dv::StoreShape shape;
    shape.n_layers = 2;
    shape.hidden_size = argc > 2 ? std::atoll(argv[2]) : 768;
    shape.num_heads = 12;
    shape.head_dim = shape.hidden_size / 12;
    shape.ffn_dim = 4 * shape.hidden_size;
    shape.has_fc1_value = true;
    // Whole chunks only, so that the padded last chunk does not blur the ratios.
    const int64_t chunk = dv::default_chunk_rows(shape);
    const int64_t rows = std::max<int64_t>(chunk, rows_wanted / chunk * chunk);
    const int64_t batch = 512;
    std::vector<dv::test::SyntheticRows> data;
    for (int64_t r = 0; r < rows; r += batch) data.emplace_back(shape, 42, r, std::min(batch, rows - r));
    const double raw_mb = static_cast<double>(shape.bytes_per_row() * rows) / 1e6;
    const std::string path = (std::filesystem::temp_directory_path() / "dv_store_codec_bench.h5").string();
    std::printf("%lld rows, d=%lld, ffn=%lld, %lld layers, fc1 values kept: %.1f MB raw, chunks of %lld rows\n",
                static_cast<long long>(rows), static_cast<long long>(shape.hidden_size),
                static_cast<long long>(shape.ffn_dim), static_cast<long long>(shape.n_layers), raw_mb,
                static_cast<long long>(dv::default_chunk_rows(shape)));
    std::printf("| filter | write MB/s | read MB/s | ratio | attn_input | mlp_input | fc1_active | head_norm | fc1_value |\n");
    std::printf("| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n");
    const std::pair<const char*, dv::StoreCompression> filters[] = {{"none", dv::StoreCompression::kNone},
                                                                    {"gzip-1", dv::StoreCompression::kGzip1},
                                                                    {"shuffle+gzip-1",
                                                                     dv::StoreCompression::kShuffleGzip1}};
    for (const auto& [name, c] : filters) {
      const Result r = run(path, shape, data, c);
      std::printf("| %s | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", name, raw_mb / r.write_s,
                  raw_mb / r.read_s, raw_mb * 1e6 / static_cast<double>(r.file_bytes), r.field_ratio[0],
                  r.field_ratio[1], r.field_ratio[2], r.field_ratio[3], r.field_ratio[4]);
    }
    std::filesystem::remove(path);
  } catch (const dv::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return dv::kErrorExitCode;
  }
  return 0;
}
