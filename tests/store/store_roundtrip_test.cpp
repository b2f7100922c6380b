// store_roundtrip_test.cpp: what the writer stores is what the reader returns, for odd shapes
// and batch sizes; attributes; the already-complete and wrong-collection cases; and the
// writer's argument checks.
#include <gtest/gtest.h>
#include <hdf5.h>

#include <filesystem>
#include <random>

#include "pipeline/store/activation_reader.h"
#include "pipeline/store/activation_writer.h"
#include "pipeline/store/fp16.h"
#include "pipeline/store/h5_attr.h"
#include "tests/store/store_test_util.h"
#include "tests/store/synthetic_rows.h"

namespace dv {
namespace {

using test::expect_error;
using test::ScratchDir;
using test::SyntheticRows;

using test::odd_shape;

class StoreRoundTrip : public ::testing::TestWithParam<std::tuple<bool, int64_t>> {};

TEST_P(StoreRoundTrip, ReaderReturnsWhatWasWritten) {
  const auto [fc1_values, chunk_rows] = GetParam();
  ScratchDir dir;
  const StoreShape shape = odd_shape(fc1_values);
  const uint64_t seed = std::random_device{}();
  std::mt19937 rng(static_cast<uint32_t>(seed));
  const int64_t total = 50 + static_cast<int64_t>(rng() % 400);
  const std::string path = dir.file("acts.h5");
  {
    WriterOptions opts;
    opts.chunk_rows = chunk_rows;
    ActivationWriter w(path, test::test_meta(shape), opts);
    ASSERT_EQ(w.start(), WriterStart::kFresh);
    if (chunk_rows > 0) {
      EXPECT_EQ(w.chunk_rows(), chunk_rows);
    }
    // Empty batches, single rows, and batches spanning several chunks.
    test::write_rows(w, shape, seed, 0, total, {0, 1, 5, 64, 13, 200}, 2);
    EXPECT_EQ(w.rows_appended(), total);
    EXPECT_EQ(w.rows_committed() % w.chunk_rows(), 0);
    w.finish();
    EXPECT_TRUE(std::filesystem::exists(path));
    EXPECT_FALSE(std::filesystem::exists(w.partial_path()));
  }
  ActivationReader r(path);
  EXPECT_EQ(r.rows(), total);
  EXPECT_TRUE(r.complete());
  EXPECT_EQ(r.shape().ffn_dim, 37);
  EXPECT_EQ(r.shape().has_fc1_value, fc1_values);
  test::expect_store_matches(r, seed);

  // Random sub-ranges, and the float overload widening fp16 exactly.
  for (int k = 0; k < 20; ++k) {
    const int64_t row0 = static_cast<int64_t>(rng() % static_cast<uint32_t>(total));
    const int64_t n = 1 + static_cast<int64_t>(rng() % static_cast<uint32_t>(total - row0));
    const int64_t layer = static_cast<int64_t>(rng() % 3);
    SyntheticRows want(shape, seed, row0, n);
    std::vector<float> got(static_cast<size_t>(n * shape.hidden_size));
    r.read_rows(layer, LayerField::kMlpInput, row0, n, got.data());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], half_to_float(want.layers[static_cast<size_t>(layer)].mlp_input[i]));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, StoreRoundTrip,
                         ::testing::Values(std::make_tuple(false, int64_t{7}), std::make_tuple(true, int64_t{1}),
                                           std::make_tuple(true, int64_t{64}), std::make_tuple(false, int64_t{0})));

TEST(StoreAttributes, RootAttributesHoldTheMeta) {
  ScratchDir dir;
  const StoreShape shape = odd_shape(false);
  const std::string path = dir.file("acts.h5");
  StoreMeta meta = test::test_meta(shape, R"({"seq_len":64,"sample_every":3})");
  {
    ActivationWriter w(path, meta);
    test::write_rows(w, shape, 5, 0, 10, {4}, 1);
    w.finish();
  }
  ActivationReader r(path);
  const StoreMeta& m = r.meta();
  EXPECT_EQ(m.model_config, meta.model_config);
  EXPECT_EQ(m.model_dir, meta.model_dir);
  EXPECT_EQ(m.corpus, meta.corpus);
  EXPECT_EQ(m.corpus_identity, meta.corpus_identity);
  EXPECT_EQ(m.sample_settings, meta.sample_settings);
  EXPECT_EQ(m.created_by, meta.created_by);
  EXPECT_EQ(m.shape.n_layers, 3);
  EXPECT_EQ(m.shape.hidden_size, 36);
  EXPECT_EQ(m.shape.num_heads, 3);
  EXPECT_EQ(m.shape.head_dim, 12);

  // The raw attributes a Python user sees.
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  EXPECT_EQ(h5_read_attr_int64(f, "format_version", path, "/"), 1);
  EXPECT_EQ(h5_read_attr_int64(f, "rows_committed", path, "/"), 10);
  EXPECT_EQ(h5_read_attr_int64(f, "complete", path, "/"), 1);
  EXPECT_EQ(h5_read_attr_string(f, "dtype", path, "/"), "float16");
  EXPECT_EQ(h5_read_attr_int64(f, "ffn_dim", path, "/"), 37);
  H5Fclose(f);
}

TEST(StoreWriter, FinishedStoreIsReportedCompleteAndLeftAlone) {
  ScratchDir dir;
  const StoreShape shape = odd_shape(false);
  const std::string path = dir.file("acts.h5");
  {
    ActivationWriter w(path, test::test_meta(shape));
    test::write_rows(w, shape, 9, 0, 30, {11}, 1);
    w.finish();
  }
  const auto mtime = std::filesystem::last_write_time(path);
  {
    ActivationWriter again(path, test::test_meta(shape));
    EXPECT_EQ(again.start(), WriterStart::kAlreadyComplete);
    EXPECT_EQ(again.rows_committed(), 30);
    SyntheticRows rows(shape, 9, 30, 2);
    expect_error([&] { again.append_batch(rows.batch()); }, {path, "already complete"});
    again.finish();  // a no-op
  }
  EXPECT_EQ(std::filesystem::last_write_time(path), mtime);
  // A different collection at the same path is an error unless forced.
  expect_error([&] { ActivationWriter w(path, test::test_meta(shape, R"({"seq_len":128})")); },
               {path, "sample_settings", "--force"});
  WriterOptions force;
  force.force = true;
  ActivationWriter fresh(path, test::test_meta(shape, R"({"seq_len":128})"), force);
  EXPECT_EQ(fresh.start(), WriterStart::kFresh);
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(StoreWriter, PartialFromAnotherCollectionIsRefused) {
  ScratchDir dir;
  const StoreShape shape = odd_shape(false);
  const std::string path = dir.file("acts.h5");
  {
    WriterOptions o;
    o.chunk_rows = 4;
    ActivationWriter w(path, test::test_meta(shape), o);
    test::write_rows(w, shape, 1, 0, 20, {5}, 1);
  }  // no finish(): acts.h5.partial remains
  StoreMeta other = test::test_meta(shape);
  other.corpus_identity = "sha256:ffff";
  expect_error([&] { ActivationWriter w(path, other); }, {path + ".partial", "corpus_identity", "--force"});
  StoreShape wider = shape;
  wider.has_fc1_value = true;
  expect_error([&] { ActivationWriter w(path, test::test_meta(wider)); }, {path + ".partial", "fc1 values"});
  ActivationWriter same(path, test::test_meta(shape));
  EXPECT_EQ(same.start(), WriterStart::kResumed);
  EXPECT_EQ(same.rows_committed(), 20);
}

TEST(StoreWriter, RejectsMalformedBatches) {
  ScratchDir dir;
  const StoreShape shape = odd_shape(false);
  const std::string path = dir.file("acts.h5");
  ActivationWriter w(path, test::test_meta(shape));
  SyntheticRows rows(shape, 2, 0, 3);
  RowBatch b = rows.batch();
  b.layers.pop_back();
  expect_error([&] { w.append_batch(b); }, {path, "2 layers", "has 3"});
  b = rows.batch();
  b.layers[1].head_norm = nullptr;
  expect_error([&] { w.append_batch(b); }, {path, "layer 1"});
  b = rows.batch();
  b.layers[0].fc1_value = b.layers[0].attn_input;
  expect_error([&] { w.append_batch(b); }, {path, "fc1_value"});
  b = rows.batch();
  b.window = nullptr;
  expect_error([&] { w.append_batch(b); }, {path, "windows"});
  // The checks come before any write: a valid batch still goes in.
  w.append_batch(rows.batch());
  EXPECT_EQ(w.rows_appended(), 3);
}

TEST(StoreWriter, RejectsInconsistentShapes) {
  ScratchDir dir;
  StoreShape s = odd_shape(false);
  s.head_dim = 11;
  expect_error([&] { ActivationWriter w(dir.file("a.h5"), test::test_meta(s)); }, {"a.h5", "head_dim"});
  s = odd_shape(false);
  s.n_layers = 0;
  expect_error([&] { ActivationWriter w(dir.file("a.h5"), test::test_meta(s)); }, {"a.h5", "n_layers"});
}

TEST(StoreReader, RejectsOutOfRangeReadsAndWrongBufferTypes) {
  ScratchDir dir;
  const StoreShape shape = odd_shape(false);
  const std::string path = dir.file("acts.h5");
  {
    ActivationWriter w(path, test::test_meta(shape));
    test::write_rows(w, shape, 3, 0, 12, {12}, 0);
    w.finish();
  }
  ActivationReader r(path);
  std::vector<uint16_t> h(100 * 36);
  std::vector<uint8_t> u(100 * 5);
  expect_error([&] { r.read_rows(0, LayerField::kAttnInput, 5, 8, h.data()); }, {path, "out of range"});
  expect_error([&] { r.read_rows(3, LayerField::kAttnInput, 0, 1, h.data()); }, {path, "layer 3"});
  expect_error([&] { r.read_rows(0, LayerField::kAttnInput, 0, 1, u.data()); }, {path, "float16"});
  expect_error([&] { r.read_rows(0, LayerField::kFc1Value, 0, 1, h.data()); }, {path, "fc1_value"});
  r.read_rows(0, LayerField::kAttnInput, 12, 0, h.data());  // empty range at the end is fine
}

}  // namespace
}  // namespace dv
