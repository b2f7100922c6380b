// missing_dependency.h: the suite's one rule for a test whose data file, module or tool is missing
// (the Python twin is tests/python/missing_dependency.py; both read CI the same way).
//
// On a developer's machine the test skips (GTEST_SKIP). Under CI=true (the clean-clone CI, .ci/run) it fails:
// scripts/install_deps.sh installs every dependency there, so a skip would only hide that the test's evidence
// was never produced. A test that needs a GPU is not a dependency skip: it keeps GTEST_SKIP without one.
#pragma once

#include <cctype>
#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace dv::test {

// True when CI is set to anything but "", "0" or "false" (GitHub Actions, GitLab and .ci/run set CI=true).
inline bool under_ci() {
  const char* ci = std::getenv("CI");
  if (ci == nullptr) return false;
  std::string v;
  for (const char* c = ci; *c != '\0'; ++c) {
    if (*c != ' ') v += static_cast<char>(std::tolower(static_cast<unsigned char>(*c)));
  }
  return !(v.empty() || v == "0" || v == "false");
}

}  // namespace dv::test

// DV_MISSING_DEPENDENCY(why): skips the test, or fails it under CI=true; `why` is a stream expression
// (`path << " not found"`). Like GTEST_SKIP it returns from the enclosing void function (a test body or SetUp).
#define DV_MISSING_DEPENDENCY(why)                                                                          \
  do {                                                                                                      \
    if (::dv::test::under_ci()) {                                                                           \
      GTEST_FAIL() << "CI=true: a missing dependency fails the test instead of skipping it "                \
                      "(scripts/install_deps.sh installs what the tests need): "                           \
                   << why;                                                                                  \
    }                                                                                                       \
    GTEST_SKIP() << why;                                                                                    \
  } while (0)
