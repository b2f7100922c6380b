// safetensors.h: the safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}}, then the raw data. Parsing is separate from mapping so
// the fuzzer can drive parse_safetensors_header() over arbitrary bytes. Every malformed header
// (length beyond the file, bad JSON, unknown dtype, offsets out of range or overlapping, byte count
// that does not match the shape) is a dv::Error naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/io/mapped_file.h"

namespace dv {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };

size_t dtype_size(DType dtype);
const char* dtype_name(DType dtype);  // safetensors spelling: "F32", "BF16", ...
DType parse_dtype(const std::string& name, const std::string& file, const std::string& tensor);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0;  // byte offsets relative to the data region
  uint64_t end = 0;
  int64_t numel() const;
};

struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;  // sorted by begin offset
  std::map<std::string, std::string> metadata;
  uint64_t data_start = 0;  // absolute offset of the data region in the file
};

// Validates the whole header against a file of `size` bytes starting at `data`.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& path);

// A view of one tensor's bytes inside a mapped file.
struct TensorView {
  const TensorInfo* info = nullptr;
  const uint8_t* data = nullptr;
  const std::string* file = nullptr;
  size_t nbytes() const { return info->end - info->begin; }
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  const std::string& path() const { return file_.path(); }
  const SafetensorsHeader& header() const { return header_; }
  // nullptr when absent.
  const TensorInfo* find(const std::string& name) const;
  TensorView view(const TensorInfo& info) const;

 private:
  MappedFile file_;
  SafetensorsHeader header_;
  std::map<std::string, size_t> index_;
};

// Writes tensors (name -> dtype, shape, bytes) to a safetensors file via a temp name + rename.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  const void* data;
  size_t nbytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace dv
