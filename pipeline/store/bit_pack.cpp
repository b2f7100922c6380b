// bit_pack.cpp: packing and unpacking of fc1 activity masks (little bit order, row-padded).
#include "pipeline/store/bit_pack.h"

#include <cstring>

namespace dv {

namespace {

template <typename IsActive>
void pack_rows(int64_t n, int64_t ffn, uint8_t* packed, IsActive active) {
  const int64_t row_bytes = (ffn + 7) / 8;
  for (int64_t r = 0; r < n; ++r) {
    uint8_t* out = packed + r * row_bytes;
    std::memset(out, 0, static_cast<size_t>(row_bytes));
    for (int64_t j = 0; j < ffn; ++j) {
      if (active(r * ffn + j)) out[j >> 3] |= static_cast<uint8_t>(1u << (j & 7));
    }
  }
}

}  // namespace

void pack_bits(const uint8_t* mask, int64_t n, int64_t ffn, uint8_t* packed) {
  pack_rows(n, ffn, packed, [mask](int64_t i) { return mask[i] != 0; });
}

void pack_active(const float* values, int64_t n, int64_t ffn, uint8_t* packed) {
  pack_rows(n, ffn, packed, [values](int64_t i) { return values[i] > 0.0f; });
}

void pack_active_half(const uint16_t* values, int64_t n, int64_t ffn, uint8_t* packed) {
  // Positive iff the sign bit is clear, the value is not +0, and it is not NaN (exponent all
  // ones with a nonzero mantissa, i.e. magnitude bits above 0x7C00).
  pack_rows(n, ffn, packed, [values](int64_t i) {
    const uint16_t b = values[i];
    return (b & 0x8000u) == 0 && b != 0 && b <= 0x7C00u;
  });
}

void unpack_bits(const uint8_t* packed, int64_t n, int64_t ffn, uint8_t* mask) {
  const int64_t row_bytes = (ffn + 7) / 8;
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* in = packed + r * row_bytes;
    for (int64_t j = 0; j < ffn; ++j) mask[r * ffn + j] = (in[j >> 3] >> (j & 7)) & 1u;
  }
}

void unpack_bits_to_float(const uint8_t* packed, int64_t n, int64_t ffn, float* out) {
  const int64_t row_bytes = (ffn + 7) / 8;
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* in = packed + r * row_bytes;
    for (int64_t j = 0; j < ffn; ++j) out[r * ffn + j] = static_cast<float>((in[j >> 3] >> (j & 7)) & 1u);
  }
}

int64_t count_active(const uint8_t* packed, int64_t n, int64_t ffn) {
  const int64_t row_bytes = (ffn + 7) / 8;
  const int tail_bits = static_cast<int>(ffn & 7);
  const uint8_t tail_mask = tail_bits == 0 ? 0xFF : static_cast<uint8_t>((1u << tail_bits) - 1);
  int64_t total = 0;
  for (int64_t r = 0; r < n; ++r) {
    const uint8_t* in = packed + r * row_bytes;
    for (int64_t b = 0; b < row_bytes; ++b) {
      const uint8_t byte = b == row_bytes - 1 ? static_cast<uint8_t>(in[b] & tail_mask) : in[b];
      total += __builtin_popcount(byte);
    }
  }
  return total;
}

}  // namespace dv
