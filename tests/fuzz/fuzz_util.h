// fuzz_util.h: what the libFuzzer targets share: a scratch directory for targets whose parser reads files,
// and the check that a dv::Error names the file it is about (the project's rule for bad input).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace dv::fuzz {

// A directory under $TMPDIR made once per fuzzer process and removed when it exits normally.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "dv_fuzz_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  std::string file(const std::string& name) const { return path_ + "/" + name; }
  const std::string& path() const { return path_; }
  // Overwrites name with bytes; aborts on failure, which would be the machine's fault, not the input's.
  void write(const std::string& name, std::string_view bytes) const {
    std::ofstream out(file(name), std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!out) std::abort();
  }

 private:
  std::string path_;
};

// Aborts (a libFuzzer finding) when an error message does not name the input it is about.
inline void require_names(const std::string& message, const std::string& name) {
  if (message.find(name) == std::string::npos) {
    std::fprintf(stderr, "error message does not name '%s': %s\n", name.c_str(), message.c_str());
    std::abort();
  }
}

}  // namespace dv::fuzz
