// store_errors_test.cpp: damaged, foreign and mismatched files give one-line dv::Errors that
// name the file (and the dataset or attribute at fault), never a crash or wrong numbers.
// Each case starts from a valid store and breaks one thing with the HDF5 API or raw bytes.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "pipeline/store/activation_reader.h"
#include "pipeline/store/activation_writer.h"
#include "pipeline/store/h5_handle.h"
#include "tests/store/store_test_util.h"
#include "tests/store/synthetic_rows.h"

namespace dv {
namespace {

using test::expect_error;
using test::ScratchDir;

StoreShape small_shape() {
  StoreShape s;
  s.n_layers = 3;
  s.hidden_size = 40;
  s.num_heads = 5;
  s.head_dim = 8;
  s.ffn_dim = 160;
  return s;
}

class StoreErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.file("acts.h5");
    WriterOptions o;
    o.chunk_rows = 32;
    ActivationWriter w(path_, test::test_meta(small_shape()), o);
    test::write_rows(w, small_shape(), 77, 0, 300, {100}, 1);
    w.finish();
  }

  // Opens the finished store read-write and lets `edit` damage it.
  void edit(const std::function<void(hid_t)>& fn) {
    hid_t f = H5Fopen(path_.c_str(), H5F_ACC_RDWR, H5P_DEFAULT);
    ASSERT_GE(f, 0);
    fn(f);
    ASSERT_GE(H5Fclose(f), 0);
  }

  // Replaces `name` with a chunked dataset of the given type and shape.
  static void replace_dataset(hid_t f, const std::string& name, hid_t type, hsize_t rows, hsize_t cols) {
    ASSERT_GE(H5Ldelete(f, name.c_str(), H5P_DEFAULT), 0);
    const hsize_t dims[2] = {rows, cols}, max_dims[2] = {H5S_UNLIMITED, cols}, chunk[2] = {32, cols};
    hid_t space = H5Screate_simple(2, dims, max_dims);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 2, chunk);
    hid_t ds = H5Dcreate2(f, name.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    ASSERT_GE(ds, 0);
    H5Dclose(ds);
    H5Pclose(dcpl);
    H5Sclose(space);
  }

  void expect_open_error(std::initializer_list<std::string> needles) {
    expect_error([&] { ActivationReader r(path_); }, needles);
  }

  ScratchDir dir_;
  std::string path_;
};

TEST_F(StoreErrors, MissingFile) {
  expect_error([&] { ActivationReader r(dir_.file("nope.h5")); }, {dir_.file("nope.h5"), "no such"});
}

TEST_F(StoreErrors, NotHdf5) {
  std::ofstream(path_, std::ios::trunc) << "token,activation\n1,2\n";
  expect_open_error({path_, "HDF5", "signature"});
}

TEST_F(StoreErrors, EmptyFile) {
  std::ofstream(path_, std::ios::trunc).close();
  expect_open_error({path_, "HDF5"});
}

TEST_F(StoreErrors, TruncatedFile) {
  const auto size = std::filesystem::file_size(path_);
  std::filesystem::resize_file(path_, size * 3 / 5);
  expect_open_error({path_, "truncated"});
}

TEST_F(StoreErrors, HdfFileThatIsNotAStore) {
  hid_t f = H5Fcreate(path_.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  H5Fclose(f);
  expect_open_error({path_, "not a dejavu activation store"});
}

TEST_F(StoreErrors, WrongFormatVersion) {
  edit([](hid_t f) {
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    const int64_t two = 2;
    H5Awrite(a, H5T_NATIVE_INT64, &two);
    H5Aclose(a);
  });
  expect_open_error({path_, "format_version 2", "version 1"});
}

TEST_F(StoreErrors, MissingAttribute) {
  edit([](hid_t f) { ASSERT_GE(H5Adelete(f, "corpus_identity"), 0); });
  expect_open_error({path_, "missing attribute 'corpus_identity'"});
}

TEST_F(StoreErrors, AttributeOfTheWrongKind) {
  edit([](hid_t f) {
    ASSERT_GE(H5Adelete(f, "n_layers"), 0);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "n_layers", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT);
    const double three = 3.0;
    H5Awrite(a, H5T_NATIVE_DOUBLE, &three);
    H5Aclose(a);
    H5Sclose(space);
  });
  expect_open_error({path_, "'n_layers'", "integer"});
}

TEST_F(StoreErrors, MissingDataset) {
  edit([](hid_t f) { ASSERT_GE(H5Ldelete(f, "/layer_001/head_norm", H5P_DEFAULT), 0); });
  expect_open_error({path_, "missing dataset /layer_001/head_norm"});
}

TEST_F(StoreErrors, MissingLayerGroup) {
  edit([](hid_t f) { ASSERT_GE(H5Ldelete(f, "/layer_002", H5P_DEFAULT), 0); });
  expect_open_error({path_, "missing dataset /layer_002/"});
}

TEST_F(StoreErrors, WrongWidth) {
  const H5Id half = h5_half_type(path_);
  edit([&](hid_t f) { replace_dataset(f, "/layer_000/mlp_input", half.get(), 300, 39); });
  expect_open_error({path_, "/layer_000/mlp_input", "shape [300, 39]", "[300, 40]"});
}

TEST_F(StoreErrors, IntegersWhereHalvesBelong) {
  edit([](hid_t f) { replace_dataset(f, "/layer_000/mlp_input", H5T_STD_U16LE, 300, 40); });
  expect_open_error({path_, "/layer_000/mlp_input", "integer of 2 bytes", "expected float16"});
}

TEST_F(StoreErrors, WrongElementType) {
  edit([](hid_t f) { replace_dataset(f, "/layer_002/head_norm", H5T_IEEE_F64LE, 300, 5); });
  expect_open_error({path_, "/layer_002/head_norm", "float of 8 bytes", "expected float32"});
}

TEST_F(StoreErrors, DatasetShorterThanRowsCommitted) {
  edit([](hid_t f) {
    hid_t ds = H5Dopen2(f, "/tokens/window", H5P_DEFAULT);
    const hsize_t dims[1] = {250};
    ASSERT_GE(H5Dset_extent(ds, dims), 0);
    H5Dclose(ds);
  });
  expect_open_error({path_, "/tokens/window", "250 rows", "truncated"});
}

TEST_F(StoreErrors, IncompleteStoreNeedsOptIn) {
  const std::string partial = dir_.file("p.h5");
  {
    WriterOptions o;
    o.chunk_rows = 16;
    ActivationWriter w(partial, test::test_meta(small_shape()), o);
    test::write_rows(w, small_shape(), 3, 0, 40, {40}, 1);
  }
  expect_error([&] { ActivationReader r(partial + ".partial"); }, {partial + ".partial", "incomplete", "32 rows"});
  ActivationReader r(partial + ".partial", ReaderOptions{true});
  EXPECT_EQ(r.rows(), 32);
  EXPECT_FALSE(r.complete());
}

TEST_F(StoreErrors, CorruptedChunkFailsOnReadNamingTheDataset) {
  // Find where chunk 2 of /layer_001/attn_input lives and overwrite it with noise.
  haddr_t addr = 0;
  hsize_t size = 0;
  edit([&](hid_t f) {
    hid_t ds = H5Dopen2(f, "/layer_001/attn_input", H5P_DEFAULT);
    hid_t space = H5Dget_space(ds);
    hsize_t offset[2];
    unsigned mask = 0;
    ASSERT_GE(H5Dget_chunk_info(ds, space, 2, offset, &mask, &addr, &size), 0);
    EXPECT_EQ(offset[0], 64u);
    H5Sclose(space);
    H5Dclose(ds);
  });
  {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(static_cast<std::streamoff>(addr));
    std::mt19937 rng(std::random_device{}());
    for (hsize_t i = 0; i < size; ++i) f.put(static_cast<char>(rng()));
  }
  ActivationReader r(path_);  // metadata is intact: opening works
  std::vector<uint16_t> buf(300 * 40);
  r.read_rows(1, LayerField::kAttnInput, 0, 64, buf.data());  // chunks 0-1 are fine
  expect_error([&] { r.read_rows(1, LayerField::kAttnInput, 60, 10, buf.data()); },
               {path_, "/layer_001/attn_input", "rows [60, 70)"});
}

TEST_F(StoreErrors, DamagedPartialFileAsksForForce) {
  const std::string out = dir_.file("run.h5");
  std::filesystem::copy_file(path_, out + ".partial");
  std::filesystem::resize_file(out + ".partial", std::filesystem::file_size(path_) / 2);
  expect_error([&] { ActivationWriter w(out, test::test_meta(small_shape())); }, {out + ".partial", "--force"});
  WriterOptions force;
  force.force = true;
  ActivationWriter w(out, test::test_meta(small_shape()), force);
  EXPECT_EQ(w.start(), WriterStart::kFresh);
}

TEST_F(StoreErrors, DamagedFinalFileAsksForForce) {
  std::filesystem::resize_file(path_, 100);
  expect_error([&] { ActivationWriter w(path_, test::test_meta(small_shape())); }, {path_, "--force"});
}

}  // namespace
}  // namespace dv
