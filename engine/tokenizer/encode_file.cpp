// encode_file.cpp: chunked file encoding that equals whole-file encoding.
//
// Why it is exact: each chunk from TextChunkReader ends in "\n". Of the text read so far, only the part up
// to the end of its last non-whitespace character is encoded; the trailing whitespace run is carried into
// the next chunk. Such a cut point p has a non-space before it and a space after it, and in the GPT-2 regex
// every match either consists of spaces only (\s+(?!\S), \s+) or ends with a non-space (contractions and
// " ?" runs of letters, digits or symbols, which stop at a space or at the end alike). So the whole-text
// matches never straddle p, the matches before p look no further than p, and the matches from p on do not
// look back. Special tokens hold no whitespace (checked), so they cannot straddle p either.
#include "engine/tokenizer/encode_file.h"

#include <string_view>

#include "engine/tokenizer/text_file.h"
#include "engine/tokenizer/unicode_tables.h"
#include "engine/tokenizer/utf8.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

bool has_space(std::string_view text) {
  for (size_t pos = 0; pos < text.size();) {
    const Utf8Step step = decode_utf8(text, pos);
    if (step.valid && char_class(step.cp) == CharClass::kSpace) return true;
    pos += step.len;
  }
  return false;
}

// Where text's trailing run of whitespace code points begins (text.size() when it ends in a non-space).
size_t trailing_space_start(std::string_view text) {
  size_t end = text.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && end - start < 4 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
    const Utf8Step step = decode_utf8(text, start);
    if (!step.valid || start + step.len != end || char_class(step.cp) != CharClass::kSpace) break;
    end = start;
  }
  return end;
}

}  // namespace

size_t encode_text_file(BpeTokenizer& tokenizer, const std::string& path, bool add_bos,
                        const std::function<bool(const std::vector<int32_t>&)>& sink, size_t chunk_bytes) {
  for (const std::string& special : tokenizer.special_texts()) {
    DV_CHECK(!has_space(special), "{}: special token \"{}\" contains whitespace; chunked encoding needs none", path,
             special);
  }
  TextChunkReader reader(path, chunk_bytes);
  std::string text;   // carried whitespace + the new chunk
  std::string chunk;
  std::vector<int32_t> ids;
  size_t total = 0;
  if (add_bos) ids.push_back(tokenizer.bos_id());
  while (reader.next(chunk)) {
    text += chunk;
    const size_t cut = trailing_space_start(text);
    if (cut == 0) continue;  // whitespace only so far: nothing is safe to encode yet
    tokenizer.encode_append(std::string_view(text).substr(0, cut), ids);
    text.erase(0, cut);
    total += ids.size();
    if (!sink(ids)) return total;
    ids.clear();
  }
  tokenizer.encode_append(text, ids);
  total += ids.size();
  if (!ids.empty()) sink(ids);
  return total;
}

std::vector<int32_t> encode_text_file(BpeTokenizer& tokenizer, const std::string& path, bool add_bos,
                                      size_t max_tokens, size_t chunk_bytes) {
  std::vector<int32_t> all;
  encode_text_file(
      tokenizer, path, add_bos,
      [&](const std::vector<int32_t>& ids) {
        all.insert(all.end(), ids.begin(), ids.end());
        return max_tokens == 0 || all.size() < max_tokens;
      },
      chunk_bytes);
  if (max_tokens != 0 && all.size() > max_tokens) all.resize(max_tokens);
  return all;
}

}  // namespace dv
