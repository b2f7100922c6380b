// bit_pack.h: the fc1 activity masks as the store keeps them, 8 neurons a byte.
// Bit j%8 of byte j/8 is neuron j (little bit order), so numpy.unpackbits(row,
// bitorder='little')[:ffn] is the mask; unused high bits of the last byte are zero.
// Rows are [n, ceil(ffn/8)] bytes, contiguous.
#pragma once

#include <cstdint>

namespace dv {

// mask: [n, ffn] bytes, nonzero = active. packed: [n, ceil(ffn/8)].
void pack_bits(const uint8_t* mask, int64_t n, int64_t ffn, uint8_t* packed);

// Active iff value > 0 (NaN counts as inactive). values: [n, ffn] fp32.
void pack_active(const float* values, int64_t n, int64_t ffn, uint8_t* packed);

// The same for fp16 values given as their bit patterns (torch's at::Half storage).
void pack_active_half(const uint16_t* values, int64_t n, int64_t ffn, uint8_t* packed);

// packed: [n, ceil(ffn/8)] -> mask: [n, ffn] of 0/1 bytes.
void unpack_bits(const uint8_t* packed, int64_t n, int64_t ffn, uint8_t* mask);

// packed -> [n, ffn] floats of 0.0/1.0 (BCE targets).
void unpack_bits_to_float(const uint8_t* packed, int64_t n, int64_t ffn, float* out);

// Number of set bits in packed rows [n, ceil(ffn/8)].
int64_t count_active(const uint8_t* packed, int64_t n, int64_t ffn);

}  // namespace dv
