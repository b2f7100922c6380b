// error.h: the project's one error type and its check macros.
// Every input or runtime failure throws dv::Error; only a command's main() catches it,
// prints its one-line message and exits with code 2. Lives in kernels/ because it is the
// bottom layer: the torch-free kernels, the engine and the pipeline all share it.
#pragma once

#include <stdexcept>
#include <string>

#include <fmt/format.h>

namespace dv {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Exit status for any dv::Error: bad input, failed I/O, failed device call.
constexpr int kErrorExitCode = 2;

[[noreturn]] inline void fail(const std::string& message) { throw Error(message); }

}  // namespace dv

// DV_FAIL("{}: tensor '{}' missing", path, name): throws dv::Error with a formatted message.
#define DV_FAIL(...) ::dv::fail(::fmt::format(__VA_ARGS__))

// DV_CHECK(cond, "{}: ...", args...): throws dv::Error with the formatted message when cond is false.
#define DV_CHECK(cond, ...)          \
  do {                               \
    if (!(cond)) DV_FAIL(__VA_ARGS__); \
  } while (0)
