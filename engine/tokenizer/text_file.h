// text_file.h: reading UTF-8 text files for tokenization, whole (perplexity on a test split) or in chunks
// (corpora too large to hold). Both fail with a dv::Error naming the file for a missing file, an empty
// file, or bytes that are not UTF-8 (with the byte offset and line), so a bad corpus never tokenizes silently.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>

namespace dv {

// The whole file, checked to be non-empty valid UTF-8.
std::string read_text_file(const std::string& path);

// Checks, before a stage that reads it starts, that the file opens and holds some text: dv::Error naming
// `what` (e.g. "eval.text") and the file when it is missing, empty or only whitespace (which tokenizes into
// space tokens and would give a perplexity of nothing). Reads until the first non-whitespace byte.
void check_text_file(const std::string& path, const std::string& what);

// Reads a file in chunks of about chunk_bytes, each cut just after a "\n" that is followed by a
// non-whitespace byte, so a chunk never splits a character and rarely splits a whitespace run. A chunk
// grows past chunk_bytes when no such cut exists in it. Each chunk is UTF-8-checked as it is read.
class TextChunkReader {
 public:
  TextChunkReader(const std::string& path, size_t chunk_bytes);

  // Replaces chunk with the next chunk; false (and chunk empty) once the file is exhausted.
  bool next(std::string& chunk);
  const std::string& path() const { return path_; }

 private:
  bool fill(size_t want);  // reads until buffer_ holds want bytes or the file ends; false if it falls short
  bool is_cut(size_t pos) const;  // buffer_[pos - 1] is "\n" and buffer_[pos] is not ASCII whitespace
  void check_utf8(const std::string& chunk);

  std::string path_;
  size_t chunk_bytes_;
  std::ifstream in_;
  std::string buffer_;      // read but not yet handed out
  size_t offset_ = 0;       // file offset of buffer_[0]
  size_t line_ = 1;         // line number at buffer_[0], for error messages
  bool eof_ = false;
};

}  // namespace dv
