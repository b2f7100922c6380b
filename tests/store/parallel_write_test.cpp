// parallel_write_test.cpp: chunks compressed on worker threads and written with HDF5's direct chunk write
// (pipeline/store/parallel_chunk_writer.h, chunk_filters.h): the bytes equal HDF5's own filters', the file is
// the same byte for byte whatever the thread count, and a small in-flight bound still writes everything.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "pipeline/store/activation_reader.h"
#include "pipeline/store/activation_writer.h"
#include "pipeline/store/chunk_filters.h"
#include "pipeline/store/parallel_chunk_writer.h"
#include "tests/store/store_test_util.h"
#include "tests/store/synthetic_rows.h"

namespace dv {
namespace {

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// One chunk of `rows` x `cols` values of type `type` written by HDF5's own pipeline (shuffle if asked, then
// deflate at `level`): its stored bytes equal what ChunkFilters makes of the same values.
void expect_hdf5_stores_what_we_encode(const std::string& path, hid_t type, size_t elem, int rows, int cols,
                                       bool shuffle, int level, const std::vector<uint8_t>& raw) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t dims[2] = {static_cast<hsize_t>(rows), static_cast<hsize_t>(cols)};
  hid_t space = H5Screate_simple(2, dims, nullptr);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, dims);
  if (shuffle) H5Pset_shuffle(dcpl);
  H5Pset_deflate(dcpl, static_cast<unsigned>(level));
  hid_t ds = H5Dcreate2(f, "d", type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  EXPECT_GE(H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), 0);
  H5Fflush(f, H5F_SCOPE_LOCAL);
  const hsize_t offset[2] = {0, 0};
  hsize_t size = 0;
  EXPECT_GE(H5Dget_chunk_storage_size(ds, offset, &size), 0);
  std::vector<uint8_t> stored(size);
  uint32_t mask = 0;
  EXPECT_GE(H5Dread_chunk(ds, H5P_DEFAULT, offset, &mask, stored.data()), 0);
  EXPECT_EQ(mask, 0u);
  std::vector<uint8_t> ours, scratch;
  ChunkFilters::of_dataset(ds, path, "d").encode(raw.data(), raw.size(), ours, scratch);
  EXPECT_EQ(ours, stored) << "shuffle " << shuffle << ", level " << level << ", element " << elem;
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
}

TEST(ChunkFilters, SameBytesAsHdf5sOwnPipeline) {
  test::ScratchDir dir;
  std::mt19937 rng(7);
  for (const auto& [type, elem] : {std::pair<hid_t, size_t>{H5T_NATIVE_INT32, 4}, {H5T_NATIVE_UINT8, 1}}) {
    for (bool shuffle : {false, true}) {
      for (int level : {1, 6}) {
        const int rows = 33, cols = 7;
        std::vector<uint8_t> raw(static_cast<size_t>(rows * cols) * elem);
        for (uint8_t& b : raw) b = static_cast<uint8_t>(rng() % 16);  // compressible, not constant
        expect_hdf5_stores_what_we_encode(dir.file("h5.h5"), type, elem, rows, cols, shuffle, level, raw);
      }
    }
  }
}

TEST(ChunkFilters, ShuffleGroupsBytesByPosition) {
  const std::vector<uint8_t> src = {1, 2, 3, 4, 5, 6, 7};  // two 3-byte elements and a trailing byte
  std::vector<uint8_t> dst(src.size());
  shuffle_bytes(src.data(), src.size(), 3, dst.data());
  EXPECT_EQ(dst, (std::vector<uint8_t>{1, 4, 2, 5, 3, 6, 7}));
}

// The same rows, batches and commits with 1, 2 and 5 compression threads give the same file, byte for byte,
// and the rows read back; with compression off no worker is needed and the rows still round-trip.
TEST(ParallelWrite, FileBytesDoNotDependOnThreadCount) {
  test::ScratchDir dir;
  for (bool fc1_values : {false, true}) {
    const StoreShape shape = test::odd_shape(fc1_values);
    std::string first;
    for (int threads : {1, 2, 5}) {
      const std::string path = dir.file("t" + std::to_string(threads) + (fc1_values ? "v" : "") + ".h5");
      WriterOptions o;
      o.chunk_rows = 16;
      o.compress_threads = threads;
      {
        ActivationWriter w(path, test::test_meta(shape), o);
        test::write_rows(w, shape, 11, 0, 203, {5, 37, 1, 64}, 2);  // ends inside a chunk
        w.finish();
      }
      ActivationReader r(path);
      ASSERT_EQ(r.rows(), 203);
      test::expect_store_matches(r, 11);
      const std::string bytes = read_bytes(path);
      if (threads == 1) {
        first = bytes;
      } else {
        EXPECT_TRUE(bytes == first) << threads << " threads wrote other bytes than 1 thread (fc1 values "
                                    << fc1_values << ")";
      }
    }
  }
  const StoreShape shape = test::odd_shape(false);
  WriterOptions o;
  o.chunk_rows = 16;
  o.compression = StoreCompression::kNone;
  {
    ActivationWriter w(dir.file("raw.h5"), test::test_meta(shape), o);
    test::write_rows(w, shape, 12, 0, 100, {7, 30}, 1);
    w.finish();
  }
  test::expect_store_matches(ActivationReader(dir.file("raw.h5")), 12);
}

// An in-flight bound far below one row block of chunks still writes every chunk, in order.
TEST(ParallelWrite, TinyInFlightBoundWritesEverything) {
  test::ScratchDir dir;
  const std::string path = dir.file("bound.h5");
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  const hsize_t dims[2] = {0, 10}, max_dims[2] = {H5S_UNLIMITED, 10}, chunk[2] = {4, 10};
  hid_t space = H5Screate_simple(2, dims, max_dims);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_chunk(dcpl, 2, chunk);
  H5Pset_deflate(dcpl, 1);
  hid_t ds = H5Dcreate2(f, "d", H5T_NATIVE_INT32, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  const int64_t rows = 4 * 25 + 3;  // the last chunk is short
  std::vector<int32_t> values(static_cast<size_t>(rows * 10));
  for (size_t i = 0; i < values.size(); ++i) values[i] = static_cast<int32_t>(i * 7 % 1000);
  {
    ParallelChunkWriter w(path, 3, /*max_pending_bytes=*/1);
    const size_t index = w.add_dataset(ds, "d", 4, 40, 10, 0);
    EXPECT_EQ(w.threads(), 3);
    for (int64_t r = 0; r < rows; r += 4) {
      w.submit(index, r, std::min<int64_t>(4, rows - r), reinterpret_cast<const uint8_t*>(values.data() + r * 10));
    }
    w.drain();
  }
  std::vector<int32_t> back(static_cast<size_t>(rows * 10));
  ASSERT_GE(H5Dread(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, back.data()), 0);
  EXPECT_EQ(back, values);
  H5Dclose(ds);
  H5Pclose(dcpl);
  H5Sclose(space);
  H5Fclose(f);
}

}  // namespace
}  // namespace dv
