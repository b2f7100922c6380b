// content_hash_test.cpp: SHA-256 against the FIPS test vectors, file and directory identities,
// and stage hashes that change exactly when a stage's config or inputs change.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

#include "kernels/common/error.h"
#include "pipeline/experiment/config_diff.h"
#include "pipeline/experiment/content_hash.h"
#include "pipeline/experiment/experiment.h"
#include "pipeline/experiment/experiment_yaml.h"
#include "pipeline/experiment/sha256.h"
#include "tests/experiment/experiment_fixture.h"

namespace dv {
namespace {

using test::ExperimentDir;

TEST(Sha256, FipsVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(sha256_hex(std::string(1000000, 'a')), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PiecewiseUpdatesEqualOneShot) {
  std::mt19937 rng(std::random_device{}());
  for (int trial = 0; trial < 50; ++trial) {
    std::string data(rng() % 1000, '\0');
    for (char& c : data) c = static_cast<char>(rng());
    Sha256 h;
    for (size_t at = 0; at < data.size();) {
      const size_t n = std::min<size_t>(rng() % 130, data.size() - at);
      h.update(data.data() + at, n);
      at += n;
    }
    ASSERT_EQ(h.hex_digest(), sha256_hex(data)) << "length " << data.size();
  }
}

TEST(FileIdentity, SmallFilesByContentLargeBySizeAndTime) {
  ExperimentDir dir;
  const std::string a = dir.write("a.txt", "hello\n");
  const std::string b = dir.write("b.txt", "hello\n");
  EXPECT_EQ(file_identity(a), "sha256:" + sha256_hex("hello\n"));
  EXPECT_EQ(file_identity(a), file_identity(b));  // content, not name or time
  dir.write("a.txt", "hello!\n");
  EXPECT_NE(file_identity(a), file_identity(b));

  const std::string big = dir.write("big.bin", std::string(100, 'x'));
  const std::string id = file_identity(big, /*hash_limit_bytes=*/10);
  EXPECT_EQ(id.rfind("size=100;mtime_ns=", 0), 0u) << id;
  std::filesystem::last_write_time(big, std::filesystem::last_write_time(big) + std::chrono::seconds(5));
  EXPECT_NE(file_identity(big, 10), id);
}

TEST(FileIdentity, DirectoriesHashTheirFiles) {
  ExperimentDir dir;
  const std::string model = dir.path("model");
  const std::string before = file_identity(model);
  EXPECT_EQ(before.rfind("dir:", 0), 0u);
  EXPECT_EQ(file_identity(model), before);
  dir.write("model/tokenizer.json", "{}");
  const std::string with_tokenizer = file_identity(model);
  EXPECT_NE(with_tokenizer, before);
  std::filesystem::create_directories(dir.path("model/sub"));
  dir.write("model/sub/extra.txt", "x");
  const std::string with_extra = file_identity(model);
  EXPECT_NE(with_extra, with_tokenizer);
  // Documentation, pictures and hidden files do not change a result, so they do not change the identity.
  dir.write("model/MODEL_CARD.md", "# edited");
  dir.write("model/loss.png", "png");
  std::filesystem::create_directories(dir.path("model/.git"));
  dir.write("model/.git/HEAD", "ref");
  dir.write("model/.gitattributes", "*.safetensors filter=lfs");
  EXPECT_EQ(file_identity(model), with_extra);
  std::string previous = with_extra;
  for (const char* result_file : {"model/config.json", "model/merges.txt", "model/w.safetensors", "model/w.bin"}) {
    dir.write(result_file, std::string("changed ") + result_file);
    const std::string now = file_identity(model);
    EXPECT_NE(now, previous) << result_file;
    previous = now;
  }
  EXPECT_THROW(file_identity(dir.path("absent")), Error);
  try {
    file_identity(dir.path("absent"));
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir.path("absent")), std::string::npos);
  }
}

TEST(StageHash, ChangesWithTheStagesConfigAndInputsOnly) {
  ExperimentDir dir;
  Experiment e = parse_experiment(dir.minimal_yaml() + "stages: [collect, train, eval]\n", "x.yaml");
  const std::vector<std::string> collect_inputs = {dir.path("model"), dir.path("train.txt")};
  const std::string collect0 = stage_hash(e, Stage::kCollect, collect_inputs);
  const std::string train0 = stage_hash(e, Stage::kTrain, {dir.path("train.txt")});
  EXPECT_EQ(collect0.size(), 64u);
  EXPECT_EQ(stage_hash(e, Stage::kCollect, collect_inputs), collect0);
  EXPECT_NE(collect0, train0);

  Experiment renamed = e;
  renamed.name = "other";
  renamed.output_dir = "elsewhere";
  EXPECT_EQ(stage_hash(renamed, Stage::kCollect, collect_inputs), collect0);

  Experiment tuned = e;
  tuned.train.lr_mlp = 5e-3;
  EXPECT_EQ(stage_hash(tuned, Stage::kCollect, collect_inputs), collect0);
  EXPECT_NE(stage_hash(tuned, Stage::kTrain, {dir.path("train.txt")}), train0);

  Experiment reseeded = e;
  reseeded.seed = 7;
  EXPECT_NE(stage_hash(reseeded, Stage::kCollect, collect_inputs), collect0);

  dir.write("train.txt", "a different corpus\n");
  EXPECT_NE(stage_hash(e, Stage::kCollect, collect_inputs), collect0);
}

// An input inside the run folder counts by the stage.hash of the stage that made it: a copy of the folder
// elsewhere (other absolute paths, new mtimes, here a large file identified by size and time) hashes the
// same, and a remade upstream stage (another stage.hash) changes the hash.
TEST(RunStageHash, InputsInsideTheRunCountByWhatMadeThem) {
  ExperimentDir dir;
  Experiment e = parse_experiment(dir.minimal_yaml() + "stages: [collect, train]\n", "x.yaml");
  std::filesystem::create_directories(dir.path("run/collect"));
  dir.write("run/collect/acts.h5", std::string(kContentHashLimitBytes + 1, 'x'));
  dir.write("run/collect/stage.hash", "made-by-collect-1");
  const std::string h0 = run_stage_hash(e, Stage::kTrain, {dir.path("run/collect/acts.h5")}, dir.path("run"));
  std::filesystem::copy(dir.path("run"), dir.path("copy"), std::filesystem::copy_options::recursive);
  std::filesystem::last_write_time(dir.path("copy/collect/acts.h5"),
                                   std::filesystem::last_write_time(dir.path("run/collect/acts.h5")) +
                                       std::chrono::seconds(5));
  EXPECT_EQ(run_stage_hash(e, Stage::kTrain, {dir.path("copy/collect/acts.h5")}, dir.path("copy")), h0);
  dir.write("copy/collect/stage.hash", "made-by-collect-2");
  EXPECT_NE(run_stage_hash(e, Stage::kTrain, {dir.path("copy/collect/acts.h5")}, dir.path("copy")), h0);
  // Outside the run folder an input counts by its own identity, as in stage_hash.
  const std::string collect0 = run_stage_hash(e, Stage::kCollect, {dir.path("train.txt")}, dir.path("run"));
  dir.write("train.txt", "a different corpus\n");
  EXPECT_NE(run_stage_hash(e, Stage::kCollect, {dir.path("train.txt")}, dir.path("run")), collect0);
}

}  // namespace
}  // namespace dv

namespace dv {
namespace {

// The keys `dejavu run` names when a stage runs again: nested keys dotted, lists compared whole, keys added or
// dropped; a stage's recorded config against the experiment now, hashed keys only.
TEST(ConfigDiff, NamesTheChangedKeys) {
  EXPECT_EQ(changed_yaml_keys("a: 1\nb:\n  c: [1, 2]\n  e: x\nf: 0\n", "a: 1\nb:\n  c: [1, 3]\n  e: x\nd: y\n"),
            (std::vector<std::string>{"b.c", "d", "f"}));
  EXPECT_TRUE(changed_yaml_keys("a: [1, 2]\n", "a: [1,2]\n").empty());
  EXPECT_EQ(changed_yaml_keys("a: [1\n", "a: 1\n"), std::vector<std::string>{"(config)"});
  Experiment e;
  e.model = "m";
  e.stages = {Stage::kEval};
  e.eval.text = "t.txt";
  const std::string recorded = stage_config_yaml(e, Stage::kEval);
  e.eval.sweep.mlp_densities = {0.5};
  e.seed = 4;
  EXPECT_EQ(changed_stage_keys(recorded, e, Stage::kEval), (std::vector<std::string>{"seed", "eval.mlp_densities"}));
}

}  // namespace
}  // namespace dv
