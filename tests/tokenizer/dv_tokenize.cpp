// dv_tokenize.cpp: a test tool that runs dv::BpeTokenizer for tests/python/tokenizer_parity.py.
//   dv_tokenize MODEL_DIR --strings FILE   FILE holds a JSON list of strings; prints {"results": [{"ids": [..],
//                                          "decoded_hex": ".."}, ...], "seconds": S} (ids start with bos)
//   dv_tokenize MODEL_DIR --ids FILE       FILE holds a JSON list of id lists; prints {"decoded_hex": [..]}
//   dv_tokenize MODEL_DIR --file TEXT [--chunk-bytes N]
//                                          encodes TEXT chunk by chunk and whole; prints {"ids": [..], "tokens": T,
//                                          "stream_seconds": S, "whole_seconds": W, "whole_matches": true|false}
// Errors print one line and exit 2, like the dejavu command.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/encode_file.h"
#include "engine/tokenizer/text_file.h"
#include "kernels/common/error.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string hex(const std::string& bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 15];
  }
  return out;
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  DV_CHECK(in, "{}: cannot open", path);
  try {
    return json::parse(in);
  } catch (const json::exception& e) {
    DV_FAIL("{}: invalid JSON: {}", path, e.what());
  }
}

json run_strings(const std::string& model_dir, const std::string& path) {
  const json strings = read_json(path);
  DV_CHECK(strings.is_array(), "{}: expected a JSON list of strings", path);
  dv::BpeTokenizer tok = dv::BpeTokenizer::load(model_dir);
  json results = json::array();
  double encode_seconds = 0;
  for (const json& s : strings) {
    const auto t0 = Clock::now();
    const std::vector<int32_t> ids = tok.encode(s.get<std::string>(), true);
    encode_seconds += seconds_since(t0);
    results.push_back({{"ids", ids}, {"decoded_hex", hex(tok.decode(ids))}});
  }
  return {{"results", results}, {"seconds", encode_seconds}};
}

json run_ids(const std::string& model_dir, const std::string& path) {
  const json lists = read_json(path);
  DV_CHECK(lists.is_array(), "{}: expected a JSON list of id lists", path);
  const dv::BpeTokenizer tok = dv::BpeTokenizer::load(model_dir);
  json decoded = json::array();
  for (const json& ids : lists) decoded.push_back(hex(tok.decode(ids.get<std::vector<int32_t>>())));
  return {{"decoded_hex", decoded}};
}

json run_file(const std::string& model_dir, const std::string& path, size_t chunk_bytes) {
  dv::BpeTokenizer stream_tok = dv::BpeTokenizer::load(model_dir);
  dv::BpeTokenizer whole_tok = dv::BpeTokenizer::load(model_dir);  // its own, equally cold, word cache
  auto start = Clock::now();
  const std::vector<int32_t> ids = dv::encode_text_file(stream_tok, path, true, 0, chunk_bytes);
  const double stream_seconds = seconds_since(start);
  const std::string text = dv::read_text_file(path);
  start = Clock::now();
  const std::vector<int32_t> whole = whole_tok.encode(text, true);
  const double whole_seconds = seconds_since(start);
  return {{"ids", ids},
          {"tokens", ids.size()},
          {"stream_seconds", stream_seconds},
          {"whole_seconds", whole_seconds},
          {"whole_matches", ids == whole}};
}

int usage() {
  std::fprintf(stderr, "usage: dv_tokenize MODEL_DIR --strings FILE | --ids FILE | --file TEXT [--chunk-bytes N]\n");
  return dv::kErrorExitCode;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) return usage();
  const std::string model_dir = argv[1];
  const std::string mode = argv[2];
  const std::string path = argv[3];
  try {
    if (mode == "--strings" && argc == 4) {
      std::cout << run_strings(model_dir, path).dump() << "\n";
    } else if (mode == "--ids" && argc == 4) {
      std::cout << run_ids(model_dir, path).dump() << "\n";
    } else if (mode == "--file" && (argc == 4 || (argc == 6 && std::string(argv[4]) == "--chunk-bytes"))) {
      const size_t chunk_bytes = argc == 6 ? std::stoul(argv[5]) : size_t{1} << 20;
      std::cout << run_file(model_dir, path, chunk_bytes).dump() << "\n";
    } else {
      return usage();
    }
  } catch (const dv::Error& e) {
    std::fprintf(stderr, "dv_tokenize: %s\n", e.what());
    return dv::kErrorExitCode;
  } catch (const json::exception& e) {  // a list holding something other than strings or ids
    std::fprintf(stderr, "dv_tokenize: %s: %s\n", path.c_str(), e.what());
    return dv::kErrorExitCode;
  }
  return 0;
}
