// stage_record_test.cpp: the per-stage record (<stage>/stage_run.json) read back field for field, older and
// malformed records, and the report of a run folder from before the record (no times at all; an old run-wide
// stage_times.json is not read), which must say what it lacks instead of failing or leaving blank cells unexplained, and
// name a stage the experiment lists that left no folder.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"
#include "pipeline/report/run_report.h"
#include "pipeline/report/stage_record.h"

namespace dv {
namespace {

namespace fs = std::filesystem;

std::string fresh_dir(const std::string& name) {
  const std::string dir = testing::TempDir() + "/" + name + "_" + std::to_string(::getpid());
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

TEST(StageRecord, RoundTripsEveryField) {
  const std::string dir = fresh_dir("stage_record");
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<double> u(0.5, 5000);
  StageRecord r = make_stage_record("train", "2026-12-01T10:00:00Z", u(rng), u(rng));
  r.machine.gpus = {"GPU A", "GPU B"};
  write_stage_record(dir, r);
  const std::optional<StageRecord> back = read_stage_record(dir);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->stage, "train");
  EXPECT_EQ(back->started_utc, "2026-12-01T10:00:00Z");
  EXPECT_EQ(back->finished_utc, r.finished_utc);
  EXPECT_GE(back->finished_utc, back->started_utc);  // ISO 8601 in UTC sorts as time
  EXPECT_EQ(back->seconds, r.seconds);
  EXPECT_EQ(back->cpu_seconds, r.cpu_seconds);
  EXPECT_EQ(back->commit, r.commit);
  EXPECT_FALSE(back->commit.empty());
  EXPECT_EQ(back->machine.cpu, r.machine.cpu);
  EXPECT_EQ(back->machine.cores, r.machine.cores);
  EXPECT_EQ(back->machine.gpus, r.machine.gpus);
  EXPECT_EQ(back->machine.load_1min, r.machine.load_1min);
  fs::remove_all(dir);
}

TEST(StageRecord, OlderMissingAndMalformedRecords) {
  const std::string dir = fresh_dir("stage_record_old");
  EXPECT_FALSE(read_stage_record(dir));
  // A record from before started_utc, cpu_seconds and machine were kept.
  write_file_atomic(dir + "/" + kStageRecordName, R"({"stage": "collect", "seconds": 7.5, "commit": "abc"})");
  const std::optional<StageRecord> r = read_stage_record(dir);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->seconds, 7.5);
  EXPECT_EQ(r->started_utc, "");
  EXPECT_EQ(r->cpu_seconds, -1);
  EXPECT_EQ(r->machine.load_1min, -1);
  write_file_atomic(dir + "/" + kStageRecordName, R"({"stage": "collect"})");
  try {
    read_stage_record(dir);
    FAIL() << "a record without seconds was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(dir + "/" + kStageRecordName + ": not a stage record"), std::string::npos)
        << e.what();
  }
  fs::remove_all(dir);
}

void finished_stage(const std::string& dir) {
  fs::create_directories(dir);
  write_file_atomic(dir + "/config.yaml", "key: 1\n");
  write_file_atomic(dir + "/stage.hash", "h");
}

// collect and train: no record (an old run-wide stage_times.json beside them is not read); measure: a record
// without a start; eval: a full record.
TEST(RunReport, OldRunFolderSaysWhatIsMissing) {
  const std::string run = fresh_dir("old_run");
  write_file_atomic(run + "/stage_times.json", R"({"collect": {"status": "ran", "seconds": 12.5},
                                                   "train": {"status": "unchanged", "seconds": 0}})");
  for (const char* s : {"collect", "train", "measure", "eval"}) finished_stage(run + "/" + s);
  write_file_atomic(run + "/train/metrics.csv", "layer,recall\n0,0.9\n");
  write_file_atomic(run + "/measure/" + kStageRecordName, R"({"stage": "measure", "seconds": 3.3})");
  write_stage_record(run + "/eval", make_stage_record("eval", "2026-12-01T11:00:00Z", 4.7, 4.5));
  const RunReport report = write_run_report(run);
  const std::string md = read_small_file(report.markdown);
  auto has = [&](const std::string& text) { EXPECT_NE(md.find(text), std::string::npos) << text << "\n" << md; };
  has("| collect | finished |  |");
  has("| measure | finished | 3.3 |");
  has("| eval | finished | 4.7 | 4.5 | 2026-12-01T11:00:00Z |");
  has("No stage_run.json in collect, train: no times, commit or machine recorded");
  has("The stage_run.json of measure has no start time");
  EXPECT_EQ(md.find("| train | finished | 0.0"), std::string::npos) << md;
  EXPECT_EQ(md.find("Listed in experiment.yaml"), std::string::npos) << md;  // no experiment.yaml here
  // The experiment lists bench too, which left no folder (a machine without a GPU skips it).
  write_file_atomic(run + "/experiment.yaml", "model: m\noutput_dir: " + run +
                                                  "\nstages: [collect, train, measure, eval, bench]\n"
                                                  "collect:\n  text: t.txt\neval:\n  text: t.txt\n");
  write_run_report(run);
  EXPECT_NE(read_small_file(report.markdown).find("Listed in experiment.yaml but without results in this folder: "
                                                  "bench (skipped"),
            std::string::npos)
      << read_small_file(report.markdown);
  fs::remove_all(run);
}

}  // namespace
}  // namespace dv
