// fuzz_safetensors_header.cpp: dv::parse_safetensors_header over arbitrary bytes (the input is the
// whole file: length prefix, JSON header, data). Either it throws a dv::Error naming the file, or every
// tensor it accepts lies inside the data region, has exactly shape x dtype bytes, and overlaps no other.
#include <cstdint>
#include <cstdlib>

#include "engine/io/safetensors.h"
#include "kernels/common/error.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = "fuzz/model.safetensors";
  dv::SafetensorsHeader h;
  try {
    h = dv::parse_safetensors_header(data, size, path);
  } catch (const dv::Error& e) {
    dv::fuzz::require_names(e.what(), path);
    return 0;
  }
  if (h.data_start < 8 || h.data_start > size) std::abort();
  const uint64_t data_bytes = size - h.data_start;
  uint64_t prev_end = 0;
  for (const dv::TensorInfo& t : h.tensors) {
    if (t.begin > t.end || t.end > data_bytes) std::abort();
    if (t.end - t.begin != static_cast<uint64_t>(t.numel()) * dv::dtype_size(t.dtype)) std::abort();
    if (t.begin != t.end) {
      if (t.begin < prev_end) std::abort();
      prev_end = t.end;
    }
    // Touch the first and last byte, as a loader would (ASan flags any read outside the input).
    if (t.begin != t.end) {
      volatile uint8_t first = data[h.data_start + t.begin];
      volatile uint8_t last = data[h.data_start + t.end - 1];
      (void)first;
      (void)last;
    }
  }
  return 0;
}
