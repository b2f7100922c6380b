// atomic_file.h: outputs are never half-written. AtomicFile writes to "<path>.tmp-<pid>" and renames
// onto <path> only in commit(); destroyed without commit (an error, a signal unwinding), it removes
// the temporary, so a reader sees either the old file or the complete new one.
#pragma once

#include <cstddef>
#include <cstdio>
#include <string>

namespace dv {

class AtomicFile {
 public:
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(const std::string& s) { write(s.data(), s.size()); }
  // Flushes, fsyncs and renames onto the final path. A write error surfaces here at the latest.
  void commit();
  const std::string& temp_path() const { return temp_path_; }

 private:
  std::string path_;
  std::string temp_path_;
  std::FILE* file_ = nullptr;
};

// Whole-file convenience: write `text` to `path` atomically (creating parent directories).
void write_file_atomic(const std::string& path, const std::string& text);

// Reads a whole small file (configs, JSON, YAML); dv::Error naming the file when missing.
std::string read_small_file(const std::string& path);

// Creates a directory and its parents; dv::Error naming it on failure.
void make_dirs(const std::string& path);

// Removes a file or a directory with everything in it (nothing when absent; symbolic links are removed, not
// followed); dv::Error naming what could not be removed. POSIX nftw rather than std::filesystem::remove_all:
// the pip LibTorch exports its own std::filesystem symbols, and its remove_all crashes when it wins.
void remove_tree(const std::string& path);

}  // namespace dv
