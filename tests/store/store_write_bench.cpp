// store_write_bench.cpp: how fast the store is written at a model's shape, by compression thread count, and what
// other deflate levels would cost: the measurement behind WriterOptions::compress_threads (README.md, results/cpu/
// 2026-12-07_collect_compression). Rows are synthetic activations (tests/store/synthetic_rows.h).
// Usage: store_write_bench DIR [ROWS [THREADS...]] (default 512 rows, threads 1 2) -> two tables:
//  1. the writer (ActivationWriter, shuffle + deflate 1 and none; commit every 256 rows, best of 3):
//     rows/s (= tokens/s at sample_every 1), raw MB/s, MB/s written to the file, ratio;
//  2. the chunk encoder alone (ChunkFilters on the same chunks, deflate levels 1 3 6): raw MB/s and ratio.
// Shape: opt-1.3b (24 layers, d 2048, ffn 8192, 32 heads), the four default layer fields.
#include <hdf5.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "kernels/common/error.h"
#include "pipeline/store/activation_writer.h"
#include "pipeline/store/chunk_filters.h"
#include "tests/store/synthetic_rows.h"

namespace {

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

dv::StoreShape opt_1_3b() {
  dv::StoreShape s;
  s.n_layers = 24;
  s.hidden_size = 2048;
  s.ffn_dim = 8192;
  s.num_heads = 32;
  s.head_dim = 64;
  return s;
}

// Best-of-3 seconds to write every batch through a fresh writer.
double time_writer(const std::string& path, const dv::StoreShape& shape, const std::vector<dv::test::SyntheticRows>& data,
                   dv::StoreCompression c, int threads) {
  double best = 1e30;
  for (int rep = 0; rep < 3; ++rep) {
    dv::WriterOptions o;
    o.force = true;
    o.compression = c;
    o.compress_threads = threads;
    const auto t0 = Clock::now();
    {
      dv::ActivationWriter w(path, dv::test::test_meta(shape), o);
      for (const auto& b : data) {
        w.append_batch(b.batch());
        w.commit();
      }
      w.finish();
    }
    best = std::min(best, seconds_since(t0));
  }
  return best;
}

// One chunk's bytes and the filters of a dataset of its element size at `level` (shuffle for multi-byte types).
struct EncodeCase {
  std::vector<uint8_t> raw;
  size_t element = 1;
};

// MB/s (raw) and ratio of encoding every chunk with `threads` threads, deflate at `level`.
std::pair<double, double> time_encoder(const std::string& dir, const std::vector<EncodeCase>& chunks, int level,
                                       int threads) {
  const std::string path = dir + "/filters.h5";
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  std::vector<dv::ChunkFilters> filters;  // by element size 1, 2, 4
  for (hid_t type : {H5T_NATIVE_UINT8, H5T_NATIVE_UINT16, H5T_NATIVE_UINT32}) {
    const hsize_t dims[1] = {1024};
    hid_t space = H5Screate_simple(1, dims, nullptr);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, dims);
    if (H5Tget_size(type) > 1) H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, static_cast<unsigned>(level));
    const std::string name = "d" + std::to_string(H5Tget_size(type));
    hid_t ds = H5Dcreate2(f, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    filters.push_back(dv::ChunkFilters::of_dataset(ds, path, name));
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
  }
  H5Fclose(f);
  std::atomic<size_t> next{0};
  std::atomic<int64_t> raw_bytes{0}, stored_bytes{0};
  const auto t0 = Clock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      std::vector<uint8_t> out, scratch;
      for (size_t i; (i = next++) < chunks.size();) {
        const EncodeCase& c = chunks[i];
        filters[c.element == 1 ? 0 : c.element == 2 ? 1 : 2].encode(c.raw.data(), c.raw.size(), out, scratch);
        raw_bytes += static_cast<int64_t>(c.raw.size());
        stored_bytes += static_cast<int64_t>(out.size());
      }
    });
  }
  for (std::thread& t : pool) t.join();
  const double s = seconds_since(t0);
  return {static_cast<double>(raw_bytes) / 1e6 / s, static_cast<double>(raw_bytes) / static_cast<double>(stored_bytes)};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    DV_CHECK(argc >= 2, "usage: store_write_bench DIR [ROWS [THREADS...]]");
    const std::string dir = argv[1];
    std::filesystem::create_directories(dir);
    const int64_t rows = argc > 2 ? std::atoll(argv[2]) : 512;
    std::vector<int> threads;
    for (int i = 3; i < argc; ++i) threads.push_back(std::atoi(argv[i]));
    if (threads.empty()) threads = {1, 2};
    const dv::StoreShape shape = opt_1_3b();
    const int64_t batch = 256;
    std::vector<dv::test::SyntheticRows> data;
    for (int64_t r = 0; r < rows; r += batch) data.emplace_back(shape, 42, r, std::min(batch, rows - r));
    const double raw_mb = static_cast<double>(shape.bytes_per_row() * rows) / 1e6;
    std::printf("opt-1.3b shape, %lld rows (tokens at sample_every 1), %.1f MB raw (%.0f KB a row), chunks of %lld rows, "
                "%u hardware threads\n\n", static_cast<long long>(rows), raw_mb,
                static_cast<double>(shape.bytes_per_row()) / 1e3, static_cast<long long>(dv::default_chunk_rows(shape)),
                std::thread::hardware_concurrency());
    std::printf("| compression | threads | rows/s | raw MB/s | file MB/s | ratio |\n| --- | --- | --- | --- | --- | --- |\n");
    const std::string path = dir + "/bench.h5";
    for (const auto& [name, c] : {std::pair<const char*, dv::StoreCompression>{"none", dv::StoreCompression::kNone},
                                  {"shuffle+gzip-1", dv::StoreCompression::kShuffleGzip1}}) {
      for (int t : threads) {
        if (c == dv::StoreCompression::kNone && t != threads.front()) continue;  // no compression: no workers
        const double s = time_writer(path, shape, data, c, t);
        const double file_mb = static_cast<double>(std::filesystem::file_size(path)) / 1e6;
        std::printf("| %s | %s | %.0f | %.0f | %.0f | %.3f |\n", name,
                    c == dv::StoreCompression::kNone ? "-" : std::to_string(t).c_str(),
                    static_cast<double>(rows) / s, raw_mb / s, file_mb / s, raw_mb / file_mb);
      }
    }
    // The encoder alone on every chunk of the first 128 rows' layer fields (what the writer compresses).
    std::vector<EncodeCase> chunks;
    const dv::test::SyntheticRows& b = data.front();
    const int64_t n = std::min<int64_t>(b.n(), dv::default_chunk_rows(shape));
    auto add = [&](const void* p, int64_t bytes, size_t element) {
      const auto* u = static_cast<const uint8_t*>(p);
      chunks.push_back({std::vector<uint8_t>(u, u + bytes), element});
    };
    for (const auto& l : b.layers) {
      add(l.attn_input.data(), n * shape.hidden_size * 2, 2);
      add(l.mlp_input.data(), n * shape.hidden_size * 2, 2);
      add(l.fc1_active.data(), n * shape.fc1_packed_bytes(), 1);
      add(l.head_norm.data(), n * shape.num_heads * 4, 4);
    }
    std::printf("\n| deflate level | threads | raw MB/s | ratio |\n| --- | --- | --- | --- |\n");
    for (int level : {1, 3, 6}) {
      for (int t : threads) {
        const auto [mbs, ratio] = time_encoder(dir, chunks, level, t);
        std::printf("| %d | %d | %.0f | %.3f |\n", level, t, mbs, ratio);
      }
    }
    std::filesystem::remove(path);
    std::filesystem::remove(dir + "/filters.h5");
  } catch (const dv::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return dv::kErrorExitCode;
  }
  return 0;
}
