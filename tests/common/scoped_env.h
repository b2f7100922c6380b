// scoped_env.h: an environment variable set for a scope and restored after it. The engine's switches
// (DEJAVU_PDL, DEJAVU_PDL_JOINS, ...) are read when a step is captured; a test that sets one must neither leave
// it changed for the tests after it nor drop a value the caller exported (scripts/device/step_decode.sh runs
// suites under DEJAVU_PDL_JOINS=wait).
#pragma once

#include <cstdlib>
#include <string>

namespace dv::test {

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    const char* before = std::getenv(name);
    had_ = before != nullptr;
    if (had_) saved_ = before;
    ::setenv(name, value, 1);
  }
  ~ScopedEnv() {
    if (had_) {
      ::setenv(name_.c_str(), saved_.c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_, saved_;
  bool had_ = false;
};

}  // namespace dv::test
