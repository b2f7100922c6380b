// store_test_util.h: scaffolding for the store tests: scratch directories, whole-store
// comparisons, forked writers, and error-message assertions.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "pipeline/store/activation_reader.h"

namespace dv::test {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// Every dataset of `reader`, row by row in blocks, equals the SyntheticRows of `seed`
// (gtest failures name the dataset and the first differing row).
void expect_store_matches(const ActivationReader& reader, uint64_t seed);

// Both stores hold the same meta, row count and the same bytes in every dataset.
void expect_stores_equal(const ActivationReader& a, const ActivationReader& b);

// Runs `body` in a forked child and returns its wait status. The child exits 0 when body
// returns, 3 when it throws (printing the message to stderr), and never runs gtest teardown.
pid_t fork_child(const std::function<void()>& body);
int wait_child(pid_t pid);

// Calls fn, expecting a dv::Error whose message contains every one of `needles`.
void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> needles);

}  // namespace dv::test
