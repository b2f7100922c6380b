// store_resume_test.cpp: interrupted collections lose nothing and duplicate nothing.
// A resumed store must equal, dataset by dataset and byte by byte, a store written in one
// clean run: after an orderly stop without finish(), after a process that vanished without
// closing the file, after SIGKILL at random instants, and after a write that hit the file
// size limit.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "kernels/common/error.h"
#include "pipeline/store/activation_reader.h"
#include "pipeline/store/activation_writer.h"
#include "tests/store/store_test_util.h"
#include "tests/store/synthetic_rows.h"

namespace dv {
namespace {

using test::ScratchDir;

StoreShape resume_shape() {
  StoreShape s;
  s.n_layers = 4;
  s.hidden_size = 96;
  s.num_heads = 4;
  s.head_dim = 24;
  s.ffn_dim = 389;
  s.has_fc1_value = true;
  return s;
}

WriterOptions chunked(int64_t rows) {
  WriterOptions o;
  o.chunk_rows = rows;
  return o;
}

// A child that writes rows [0, committed) with commits, appends up to `written` without
// committing, and exits without closing anything, as a killed collector would.
void abandon_after(const std::string& path, const StoreShape& shape, uint64_t seed, int64_t chunk, int64_t committed,
                   int64_t written) {
  const pid_t pid = test::fork_child([&] {
    auto* w = new ActivationWriter(path, test::test_meta(shape), chunked(chunk));
    test::write_rows(*w, shape, seed, 0, committed, {40}, 1);
    w->commit();
    test::write_rows(*w, shape, seed, committed, written, {150}, 0);
    ::_exit(0);
  });
  const int status = test::wait_child(pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
}

void write_clean(const std::string& path, const StoreShape& shape, uint64_t seed, int64_t total, int64_t chunk) {
  ActivationWriter w(path, test::test_meta(shape), chunked(chunk));
  test::write_rows(w, shape, seed, 0, total, {total}, 0);
  w.finish();
}

// What a collector does: continue at rows_committed() until `total`, committing as it goes.
void collect(const std::string& path, const StoreShape& shape, uint64_t seed, int64_t total, int64_t chunk,
             const std::vector<int64_t>& batches) {
  ActivationWriter w(path, test::test_meta(shape), chunked(chunk));
  if (w.start() == WriterStart::kAlreadyComplete) return;
  test::write_rows(w, shape, seed, w.rows_committed(), total, batches, 2);
  w.finish();
}

TEST(StoreResume, DroppedUncommittedRowsAreWrittenAgainIdentically) {
  ScratchDir dir;
  const StoreShape shape = resume_shape();
  const uint64_t seed = std::random_device{}();
  const std::string path = dir.file("acts.h5");
  int64_t committed = 0;
  {
    ActivationWriter w(path, test::test_meta(shape), chunked(16));
    test::write_rows(w, shape, seed, 0, 100, {7, 30}, 0);
    committed = w.commit();
    EXPECT_EQ(committed, 96);  // whole chunks only; 4 rows wait in memory
    // Whole chunks reach the file uncommitted, plus a buffered tail: all of it must go.
    test::write_rows(w, shape, seed, 100, 187, {50, 37}, 0);
    EXPECT_EQ(w.rows_appended(), 187);
  }
  {
    ActivationReader partial(path + ".partial", ReaderOptions{true});
    EXPECT_EQ(partial.rows(), committed);
    EXPECT_FALSE(partial.complete());
  }
  {
    ActivationWriter w(path, test::test_meta(shape), chunked(16));
    ASSERT_EQ(w.start(), WriterStart::kResumed);
    ASSERT_EQ(w.rows_committed(), committed);
    test::write_rows(w, shape, seed, committed, 300, {23, 1, 64}, 3);
    w.finish();
  }
  write_clean(dir.file("clean.h5"), shape, seed, 300, 16);
  ActivationReader resumed(path), clean(dir.file("clean.h5"));
  test::expect_stores_equal(resumed, clean);
  test::expect_store_matches(resumed, seed);
}

TEST(StoreResume, WriterThatVanishedWithoutClosingIsResumed) {
  ScratchDir dir;
  const StoreShape shape = resume_shape();
  const uint64_t seed = std::random_device{}();
  const std::string path = dir.file("acts.h5");
  // The child commits, appends more, and exits without closing anything: the file keeps the
  // SWMR "being written" flags and the library never flushed the tail.
  abandon_after(path, shape, seed, 32, 250, 400);
  {
    // Reopening rebuilds the file from the commit log; the rows are those committed.
    ActivationWriter w(path, test::test_meta(shape), chunked(32));
    EXPECT_EQ(w.rows_committed(), 224);  // 250 rounded down to whole chunks of 32
  }
  {
    ActivationReader partial(path + ".partial", ReaderOptions{true});
    EXPECT_EQ(partial.rows(), 224);
    test::expect_store_matches(partial, seed);
  }
  collect(path, shape, seed, 500, 32, {41, 3});
  write_clean(dir.file("clean.h5"), shape, seed, 500, 32);
  ActivationReader resumed(path), clean(dir.file("clean.h5"));
  test::expect_stores_equal(resumed, clean);
}

// After a crash the HDF5 metadata is never trusted: wreck it, and the committed rows still
// come back from the commit log and the chunks' bytes.
TEST(StoreResume, CrashedFileWithWreckedMetadataIsRebuiltFromTheLog) {
  ScratchDir dir;
  const StoreShape shape = resume_shape();
  const uint64_t seed = std::random_device{}();
  const std::string path = dir.file("acts.h5");
  abandon_after(path, shape, seed, 32, 300, 350);
  {
    // Zero the root group's object header (right after the 48-byte superblock).
    std::fstream f(path + ".partial", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(48);
    const std::string zeros(200, '\0');
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  EXPECT_THROW(ActivationReader(path + ".partial", ReaderOptions{true}), Error);
  // A torn last log record is ignored too.
  std::ofstream(path + ".partial.log", std::ios::app | std::ios::binary) << std::string("CMIT") + std::string(16, '\x7f');
  {
    ActivationWriter w(path, test::test_meta(shape), chunked(32));
    ASSERT_EQ(w.start(), WriterStart::kResumed);
    EXPECT_EQ(w.rows_committed(), 288);
  }
  collect(path, shape, seed, 420, 32, {100});
  write_clean(dir.file("clean.h5"), shape, seed, 420, 32);
  ActivationReader resumed(path), clean(dir.file("clean.h5"));
  test::expect_stores_equal(resumed, clean);
  EXPECT_FALSE(std::filesystem::exists(path + ".partial.log"));
}

TEST(StoreResume, PartialWithoutItsLogAsksForForce) {
  ScratchDir dir;
  const StoreShape shape = resume_shape();
  const std::string path = dir.file("acts.h5");
  abandon_after(path, shape, 1, 32, 64, 64);
  std::filesystem::remove(path + ".partial.log");
  test::expect_error([&] { ActivationWriter w(path, test::test_meta(shape), chunked(32)); },
                     {path + ".partial", "commit log", "--force"});
}

// Kills a collecting child with SIGKILL at random instants until a run gets to the end. Set
// DEJAVU_STORE_KILL_ROUNDS to kill more often (a stress run).
TEST(StoreResume, SigkillAtRandomPointsThenResumeEqualsCleanRun) {
  ScratchDir dir;
  const StoreShape shape = resume_shape();
  const uint64_t seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  const int64_t total = 3000, chunk = 24;
  const std::vector<int64_t> batches = {37, 5, 90, 24, 61};
  const char* env = std::getenv("DEJAVU_STORE_KILL_ROUNDS");
  const int rounds = env != nullptr ? std::max(1, std::atoi(env)) : 8;

  const std::string clean_path = dir.file("clean.h5");
  const auto t0 = std::chrono::steady_clock::now();
  write_clean(clean_path, shape, seed, total, chunk);
  const auto clean_us =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0).count();

  const std::string path = dir.file("acts.h5");
  int killed = 0;
  int64_t last_committed = 0;
  for (int round = 0; round < rounds && !std::filesystem::exists(path); ++round) {
    const pid_t pid = test::fork_child([&] { collect(path, shape, seed, total, chunk, batches); });
    // Delays scale so that all rounds together cover about 60% of a clean run: every kill lands
    // mid-collection (many rounds: many land in startup, resume and commit paths).
    const auto delay = std::uniform_int_distribution<int64_t>(0, clean_us * 6 / 5 / rounds)(rng);
    std::this_thread::sleep_for(std::chrono::microseconds(delay));
    ::kill(pid, SIGKILL);
    const int status = test::wait_child(pid);
    if (WIFSIGNALED(status)) ++killed;
    ASSERT_TRUE(WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) == 0))
        << "collector failed in round " << round << " (status " << status << ")";
    if (round % 3 == 2 && std::filesystem::exists(path + ".partial")) {
      // Every third round, reopen as the next collector would and check what survived: a
      // prefix of the clean data that never shrinks. (Other rounds leave the crashed file to
      // the next child, so rebuilds get killed too.)
      int64_t rows = 0;
      {
        ActivationWriter w(path, test::test_meta(shape), chunked(chunk));
        rows = w.rows_committed();
      }
      EXPECT_GE(rows, last_committed);
      last_committed = rows;
      ActivationReader partial(path + ".partial", ReaderOptions{true});
      EXPECT_EQ(partial.rows(), rows);
      test::expect_store_matches(partial, seed);
      if (::testing::Test::HasFailure()) return;
    }
  }
  collect(path, shape, seed, total, chunk, batches);
  ActivationReader resumed(path), clean(clean_path);
  test::expect_stores_equal(resumed, clean);
  RecordProperty("kills", killed);
  std::printf("[   info   ] %d of %d rounds killed; %lld of %lld rows committed before the last run (clean run %.1f ms)\n",
              killed, rounds, static_cast<long long>(last_committed), static_cast<long long>(total), clean_us / 1e3);
}

TEST(StoreResume, FileSizeLimitGivesACleanErrorAndAResumablePartial) {
  ScratchDir dir;
  const StoreShape shape = resume_shape();
  const uint64_t seed = std::random_device{}();
  const std::string path = dir.file("acts.h5");
  const std::string message_file = dir.file("message.txt");
  const pid_t pid = test::fork_child([&] {
    // Past the limit write() fails with EFBIG instead of killing us with SIGXFSZ.
    ::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{1 << 20, 1 << 20};
    ::setrlimit(RLIMIT_FSIZE, &limit);
    try {
      collect(path, shape, seed, 4000, 16, {50});
    } catch (const Error& e) {
      std::ofstream(message_file) << e.what();
      ::_exit(0);
    }
    ::_exit(5);  // the limit was never hit
  });
  const int status = test::wait_child(pid);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  ASSERT_EQ(WEXITSTATUS(status), 0) << "the writer did not fail at the file size limit";
  std::string message;
  std::getline(std::ifstream(message_file), message);
  EXPECT_NE(message.find(path + ".partial"), std::string::npos) << message;
  EXPECT_NE(message.find("File too large"), std::string::npos) << message;
  EXPECT_NE(message.find("run again to resume"), std::string::npos) << message;

  {
    // The failed writes may leave the file shorter than its superblock says; reopening for
    // the resume repairs that and keeps every committed row.
    ActivationWriter w(path, test::test_meta(shape), chunked(16));
    ASSERT_EQ(w.start(), WriterStart::kResumed);
    EXPECT_GT(w.rows_committed(), 0);
  }
  {
    ActivationReader partial(path + ".partial", ReaderOptions{true});
    EXPECT_GT(partial.rows(), 0);
    test::expect_store_matches(partial, seed);
  }
  collect(path, shape, seed, 4000, 16, {50});
  write_clean(dir.file("clean.h5"), shape, seed, 4000, 16);
  ActivationReader resumed(path), clean(dir.file("clean.h5"));
  test::expect_stores_equal(resumed, clean);
}

TEST(StoreResume, NotEnoughDiskSpaceFailsBeforeWriting) {
  ScratchDir dir;
  const StoreShape shape = resume_shape();
  WriterOptions o;
  o.expected_rows = int64_t{1} << 40;  // petabytes
  const std::string path = dir.file("acts.h5");
  test::expect_error([&] { ActivationWriter w(path, test::test_meta(shape), o); },
                     {path, "not enough disk space", "rows of", "as collect's plan says, plus a 16.0 MiB margin"});
  EXPECT_FALSE(std::filesystem::exists(path + ".partial"));
}

}  // namespace
}  // namespace dv
