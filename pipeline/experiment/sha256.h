// sha256.h: SHA-256 (FIPS 180-4), for content hashes of stage configs and input files. Small and
// dependency-free so that the hashes are identical on every machine and build.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace dv {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t n);
  void update(const std::string& s) { update(s.data(), s.size()); }
  // Lowercase hex digest; the object must not be updated afterwards.
  std::string hex_digest();

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

std::string sha256_hex(const std::string& data);

}  // namespace dv
