// fuzz_tokenizer_files.cpp: the tokenizer directory readers over arbitrary file content. The first input
// byte picks what is fuzzed, the rest is the file: 0 vocab.json, 1 merges.txt, 2 tokenizer_config.json
// (each read alone), 3 merges.txt and 4 tokenizer_config.json beside a valid vocabulary, each followed by
// a full BpeTokenizer::load and an encode/decode. Either a dv::Error naming the file or directory, or a
// working tokenizer; with only the merges fuzzed it must also be lossless. (A fuzzed config may mark a
// BPE-reachable token special, and Hugging Face then decodes it as its literal text too, so no round trip
// is required there.)
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/tokenizer/bpe_tokenizer.h"
#include "engine/tokenizer/tokenizer_files.h"
#include "kernels/common/error.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/fuzz/tiny_tokenizer.h"

namespace {

struct State {
  dv::fuzz::ScratchDir valid;  // the tiny tokenizer, untouched
  dv::fuzz::ScratchDir work;   // one fuzzed file beside copies of the valid ones
  dv::Vocab vocab;
  std::string last_fuzzed;  // the file of work/ that the previous input replaced
};

State& state() {
  static State s;
  static const bool ready = (dv::fuzz::write_tiny_tokenizer(s.valid), dv::fuzz::write_tiny_tokenizer(s.work),
                             s.vocab = dv::read_vocab_json(s.valid.file("vocab.json")), true);
  (void)ready;
  return s;
}

void copy_valid(const State& s, const char* name) {
  std::filesystem::copy_file(s.valid.file(name), s.work.file(name), std::filesystem::copy_options::overwrite_existing);
}

void load_and_encode(const State& s, bool require_lossless) {
  dv::BpeTokenizer tok = dv::BpeTokenizer::load(s.work.path());
  const std::string text = "Hello world </s> the thing<pad> 123\n\n  caf\xc3\xa9 \xff\xfe end";
  const std::vector<int32_t> ids = tok.encode(text, /*add_bos=*/true);
  const std::string back = tok.decode(ids);
  if (require_lossless && back != "</s>" + text) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  State& s = state();
  const int mode = data[0] % 5;
  const std::string_view content(reinterpret_cast<const char*>(data + 1), size - 1);
  const char* names[] = {"vocab.json", "merges.txt", "tokenizer_config.json", "merges.txt", "tokenizer_config.json"};
  const char* name = names[mode];
  // Only the file fuzzed last time differs from the valid set; put it back unless it is fuzzed again.
  if (!s.last_fuzzed.empty() && s.last_fuzzed != name) copy_valid(s, s.last_fuzzed.c_str());
  s.last_fuzzed = name;
  s.work.write(name, content);
  try {
    switch (mode) {
      case 0:
        dv::read_vocab_json(s.work.file(name));
        break;
      case 1:
        dv::read_merges_txt(s.work.file(name));
        break;
      case 2:
        dv::read_special_tokens(s.work.path(), s.vocab);
        break;
      default:
        load_and_encode(s, /*require_lossless=*/mode == 3);
    }
  } catch (const dv::Error& e) {
    dv::fuzz::require_names(e.what(), s.work.path());
  }
  return 0;
}
