// fuzz_tokenizer_encode.cpp: BpeTokenizer::encode over arbitrary bytes must never crash, must put </s>
// first, and must be lossless (decode gives the bytes back); for valid UTF-8, the chunked file encoder at
// tiny chunk sizes must give exactly the ids of encoding the whole text at once.
// The tokenizer is $DEJAVU_FUZZ_TOKENIZER_DIR when set (scripts/ci_sanitize.sh points it at the real
// GPT-2 files made by scripts/make_tokenizer_files.py), else the tiny one of tiny_tokenizer.h.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/encode_file.h"
#include "engine/tokenizer/utf8.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/tiny_tokenizer.h"

namespace {

struct State {
  dv::fuzz::ScratchDir scratch;
  std::unique_ptr<dv::BpeTokenizer> tokenizer;
};

void init(State& s) {
  const char* dir = std::getenv("DEJAVU_FUZZ_TOKENIZER_DIR");
  std::string model_dir = dir != nullptr ? dir : "";
  if (model_dir.empty()) {
    dv::fuzz::write_tiny_tokenizer(s.scratch);
    model_dir = s.scratch.path();
  }
  s.tokenizer = std::make_unique<dv::BpeTokenizer>(dv::BpeTokenizer::load(model_dir));
}

State& state() {
  static State s;
  static const bool ready = (init(s), true);
  (void)ready;
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  State& s = state();
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::vector<int32_t> ids = s.tokenizer->encode(text, /*add_bos=*/true);
  if (ids.empty() || ids[0] != s.tokenizer->bos_id()) std::abort();
  const std::vector<int32_t> body(ids.begin() + 1, ids.end());
  if (s.tokenizer->decode(body) != text) std::abort();
  if (text.empty() || size > 8192 || dv::find_invalid_utf8(text)) return 0;
  const std::string path = s.scratch.file("text.txt");
  s.scratch.write("text.txt", text);
  const size_t chunk_bytes = 1 + data[0] % 64;
  if (dv::encode_text_file(*s.tokenizer, path, /*add_bos=*/true, 0, chunk_bytes) != ids) std::abort();
  return 0;
}
