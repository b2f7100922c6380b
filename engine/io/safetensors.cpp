// safetensors.cpp: header parsing and validation, mapping, and writing.
#include "engine/io/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

struct DTypeEntry {
  DType dtype;
  const char* name;
  size_t size;
};
constexpr DTypeEntry kDTypes[] = {
    {DType::kF64, "F64", 8}, {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4}, {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1},
};

// The JSON header of real checkpoints is well under 100 MB; a larger length is a corrupt file.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

uint64_t read_u64_le(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

uint64_t as_offset(const nlohmann::json& j, const std::string& path, const std::string& name) {
  DV_CHECK(j.is_number_unsigned() || (j.is_number_integer() && j.get<int64_t>() >= 0),
           "{}: tensor '{}': data_offsets must be non-negative integers", path, name);
  return j.get<uint64_t>();
}

TensorInfo parse_entry(const std::string& name, const nlohmann::json& e, const std::string& path) {
  DV_CHECK(e.is_object(), "{}: tensor '{}': header entry is not an object", path, name);
  for (const char* key : {"dtype", "shape", "data_offsets"})
    DV_CHECK(e.contains(key), "{}: tensor '{}': header entry lacks '{}'", path, name, key);
  DV_CHECK(e["dtype"].is_string(), "{}: tensor '{}': dtype is not a string", path, name);
  TensorInfo t;
  t.name = name;
  t.dtype = parse_dtype(e["dtype"].get<std::string>(), path, name);
  DV_CHECK(e["shape"].is_array(), "{}: tensor '{}': shape is not a list", path, name);
  uint64_t numel = 1;
  for (const auto& d : e["shape"]) {
    DV_CHECK(d.is_number_integer() && d.get<int64_t>() >= 0, "{}: tensor '{}': shape has a non-integer or negative dimension",
             path, name);
    const uint64_t dim = d.get<uint64_t>();
    DV_CHECK(dim == 0 || numel <= std::numeric_limits<uint64_t>::max() / 16 / dim,
             "{}: tensor '{}': shape overflows", path, name);
    numel *= dim;
    t.shape.push_back(static_cast<int64_t>(dim));
  }
  const auto& off = e["data_offsets"];
  DV_CHECK(off.is_array() && off.size() == 2, "{}: tensor '{}': data_offsets must be [begin, end]", path, name);
  t.begin = as_offset(off[0], path, name);
  t.end = as_offset(off[1], path, name);
  DV_CHECK(t.begin <= t.end, "{}: tensor '{}': data_offsets begin {} > end {}", path, name, t.begin, t.end);
  DV_CHECK(t.end - t.begin == numel * dtype_size(t.dtype),
           "{}: tensor '{}': {} bytes for shape of {} elements of {} (expected {})", path, name, t.end - t.begin,
           numel, dtype_name(t.dtype), numel * dtype_size(t.dtype));
  return t;
}

}  // namespace

size_t dtype_size(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.size;
  return 0;
}

const char* dtype_name(DType dtype) {
  for (const auto& e : kDTypes)
    if (e.dtype == dtype) return e.name;
  return "?";
}

DType parse_dtype(const std::string& name, const std::string& file, const std::string& tensor) {
  for (const auto& e : kDTypes)
    if (name == e.name) return e.dtype;
  DV_FAIL("{}: tensor '{}': unknown dtype '{}' (supported: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)", file, tensor,
          name);
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, const std::string& path) {
  DV_CHECK(size >= 8, "{}: truncated safetensors file ({} bytes, the header length alone takes 8)", path, size);
  const uint64_t n = read_u64_le(data);
  DV_CHECK(n <= kMaxHeaderBytes, "{}: header length {} is implausible (corrupt or not a safetensors file)", path, n);
  DV_CHECK(n <= size - 8, "{}: header length {} runs past the end of the file ({} bytes): truncated?", path, n, size);
  nlohmann::json j = nlohmann::json::parse(data + 8, data + 8 + n, nullptr, /*allow_exceptions=*/false);
  DV_CHECK(!j.is_discarded(), "{}: safetensors header is not valid JSON", path);
  DV_CHECK(j.is_object(), "{}: safetensors header is not a JSON object", path);

  SafetensorsHeader h;
  h.data_start = 8 + n;
  const uint64_t data_bytes = size - h.data_start;
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() == "__metadata__") {
      DV_CHECK(it.value().is_object(), "{}: __metadata__ is not an object", path);
      for (auto m = it.value().begin(); m != it.value().end(); ++m)
        if (m.value().is_string()) h.metadata[m.key()] = m.value().get<std::string>();
      continue;
    }
    h.tensors.push_back(parse_entry(it.key(), it.value(), path));
  }
  std::sort(h.tensors.begin(), h.tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
  });
  uint64_t prev_end = 0;
  const TensorInfo* prev = nullptr;
  for (const auto& t : h.tensors) {
    DV_CHECK(t.end <= data_bytes, "{}: tensor '{}': data ends at byte {} but the data region has {} bytes: truncated?",
             path, t.name, t.end, data_bytes);
    DV_CHECK(prev == nullptr || t.begin >= prev_end || t.begin == t.end, "{}: tensors '{}' and '{}' overlap", path,
             prev->name, t.name);
    if (t.end > prev_end) {
      prev_end = t.end;
      prev = &t;
    }
  }
  return h;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : file_(path) {
  header_ = parse_safetensors_header(file_.data(), file_.size(), path);
  for (size_t i = 0; i < header_.tensors.size(); ++i) index_[header_.tensors[i].name] = i;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

TensorView SafetensorsFile::view(const TensorInfo& info) const {
  return TensorView{&info, file_.data() + header_.data_start + info.begin, &file_.path()};
}

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    header[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // align the data region to 8 bytes, as the HF writer does
  AtomicFile out(path);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>((uint64_t(text.size()) >> (8 * i)) & 0xff);
  out.write(len, 8);
  out.write(text.data(), text.size());
  for (const auto& t : tensors) out.write(t.data, t.nbytes);
  out.commit();
}

}  // namespace dv
