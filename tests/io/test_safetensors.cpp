// test_safetensors.cpp: the safetensors reader accepts what HF writes and rejects every malformed
// header with a dv::Error naming the file (a table of corrupted headers), never a crash.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/io/safetensors.h"
#include "kernels/common/error.h"

namespace {

std::string temp_path(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("dv-io-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

std::string with_header(const std::string& json, size_t data_bytes) {
  std::string s(8, '\0');
  const uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) s[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return s + json + std::string(data_bytes, '\x01');
}

void expect_error_naming_file(const std::string& bytes, const std::string& what) {
  const std::string path = temp_path("bad.safetensors");
  std::ofstream(path, std::ios::binary) << bytes;
  try {
    dv::SafetensorsFile f(path);
    FAIL() << "no error for: " << what;
  } catch (const dv::Error& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
}

TEST(Safetensors, RoundTripRandomTensors) {
  std::mt19937 rng(1234);
  std::vector<float> a(37 * 3);
  std::vector<uint16_t> b(111);
  for (auto& x : a) x = std::uniform_real_distribution<float>(-1, 1)(rng);
  for (auto& x : b) x = static_cast<uint16_t>(rng());
  const std::string path = temp_path("ok.safetensors");
  dv::write_safetensors(path, {{"a", dv::DType::kF32, {37, 3}, a.data(), a.size() * 4},
                               {"b.weight", dv::DType::kBF16, {111}, b.data(), b.size() * 2},
                               {"empty", dv::DType::kF16, {0, 5}, nullptr, 0}},
                        {{"format", "pt"}});
  dv::SafetensorsFile f(path);
  ASSERT_EQ(f.header().tensors.size(), 3u);
  EXPECT_EQ(f.header().metadata.at("format"), "pt");
  const auto* ta = f.find("a");
  ASSERT_NE(ta, nullptr);
  EXPECT_EQ(ta->shape, (std::vector<int64_t>{37, 3}));
  EXPECT_EQ(std::memcmp(f.view(*ta).data, a.data(), a.size() * 4), 0);
  const auto* tb = f.find("b.weight");
  ASSERT_NE(tb, nullptr);
  EXPECT_EQ(tb->dtype, dv::DType::kBF16);
  EXPECT_EQ(std::memcmp(f.view(*tb).data, b.data(), b.size() * 2), 0);
  EXPECT_EQ(f.find("missing"), nullptr);
}

struct BadCase {
  const char* what;
  std::string bytes;
};

TEST(Safetensors, MalformedHeadersAreCleanErrors) {
  const std::string ok_entry = R"("t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})";
  std::string huge_len(8, '\xff');
  const std::vector<BadCase> cases = {
      {"empty file", ""},
      {"shorter than the length field", std::string("\x05\x00\x00", 3)},
      {"header length beyond the file", with_header("{}", 0).replace(0, 1, "\x7f")},
      {"implausible header length", huge_len + "{}"},
      {"not JSON", with_header("{not json", 0)},
      {"JSON array", with_header("[1,2]", 0)},
      {"entry not an object", with_header(R"({"t":5})", 0)},
      {"missing dtype", with_header(R"({"t":{"shape":[2],"data_offsets":[0,8]}})", 8)},
      {"unknown dtype", with_header(R"({"t":{"dtype":"F12","shape":[2],"data_offsets":[0,8]}})", 8)},
      {"dtype not a string", with_header(R"({"t":{"dtype":3,"shape":[2],"data_offsets":[0,8]}})", 8)},
      {"negative dimension", with_header(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8)},
      {"shape not a list", with_header(R"({"t":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8)},
      {"offsets not a pair", with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0]}})", 8)},
      {"negative offset", with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}})", 8)},
      {"begin after end", with_header(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8)},
      {"byte count vs shape", with_header(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 12)},
      {"data beyond the file (truncated)", with_header("{" + ok_entry + "}", 4)},
      {"overlapping tensors",
       with_header(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                   12)},
      {"shape overflow", with_header(R"({"t":{"dtype":"F32","shape":[4294967296,4294967296,16],"data_offsets":[0,8]}})", 8)},
      {"metadata not an object", with_header(R"({"__metadata__":3})", 0)},
  };
  for (const auto& c : cases) expect_error_naming_file(c.bytes, c.what);
}

TEST(Safetensors, MissingFileNamesIt) {
  try {
    dv::SafetensorsFile f("/nonexistent/dir/model.safetensors");
    FAIL();
  } catch (const dv::Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/dir/model.safetensors"), std::string::npos);
  }
}

}  // namespace
