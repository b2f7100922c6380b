// mapped_file.h: a read-only memory map of a whole file (RAII). Checkpoint shards are mapped, not
// read, so a 60 GB checkpoint costs no host memory until its tensors are touched.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace dv {

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace dv
