// text_file.cpp: whole-file and chunked UTF-8 text reading with file-naming errors.
#include "engine/tokenizer/text_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "engine/tokenizer/utf8.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

std::ifstream open_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DV_CHECK(in, "{}: cannot open text file ({})", path, std::strerror(errno));
  return in;
}

void fail_invalid(const std::string& path, std::string_view text, size_t bad, size_t base_offset,
                  size_t base_line) {
  const size_t line = base_line + static_cast<size_t>(std::count(text.begin(), text.begin() + bad, '\n'));
  DV_FAIL("{}: not valid UTF-8 at byte offset {} (line {}, byte 0x{:02X}); convert the file to UTF-8", path,
          base_offset + bad, line, static_cast<unsigned char>(text[bad]));
}

bool ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

std::string read_text_file(const std::string& path) {
  std::ifstream in = open_text(path);
  std::ostringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  DV_CHECK(!text.empty(), "{}: the text file is empty", path);
  if (const auto bad = find_invalid_utf8(text)) fail_invalid(path, text, *bad, 0, 1);
  return text;
}

void check_text_file(const std::string& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  DV_CHECK(in, "{}: {}: cannot open text file ({})", what, path, std::strerror(errno));
  std::string block(1 << 16, '\0');
  size_t total = 0;
  while (in) {
    in.read(block.data(), static_cast<std::streamsize>(block.size()));
    const size_t got = static_cast<size_t>(in.gcount());
    total += got;
    if (std::any_of(block.begin(), block.begin() + static_cast<std::ptrdiff_t>(got), [](char c) { return !ascii_space(c); }))
      return;
  }
  DV_CHECK(total > 0, "{}: {}: the text file is empty", what, path);
  DV_FAIL("{}: {}: the text file holds only whitespace ({} bytes): there is nothing to score or collect", what, path,
          total);
}

TextChunkReader::TextChunkReader(const std::string& path, size_t chunk_bytes)
    : path_(path), chunk_bytes_(std::max<size_t>(chunk_bytes, 1)), in_(open_text(path)) {
  DV_CHECK(fill(1), "{}: the text file is empty", path_);
}

bool TextChunkReader::fill(size_t want) {
  while (buffer_.size() < want && !eof_) {
    const size_t old = buffer_.size();
    const size_t step = std::max(want - old, chunk_bytes_);
    buffer_.resize(old + step);
    in_.read(buffer_.data() + old, static_cast<std::streamsize>(step));
    const size_t got = static_cast<size_t>(in_.gcount());
    buffer_.resize(old + got);
    DV_CHECK(!in_.bad(), "{}: read error at byte offset {}", path_, offset_ + old);
    if (got < step) eof_ = true;
  }
  return buffer_.size() >= want;
}

bool TextChunkReader::is_cut(size_t pos) const {
  return pos >= 1 && pos < buffer_.size() && buffer_[pos - 1] == '\n' && !ascii_space(buffer_[pos]);
}

bool TextChunkReader::next(std::string& chunk) {
  chunk.clear();
  fill(chunk_bytes_ + 1);
  if (buffer_.empty()) return false;
  size_t cut = buffer_.size();
  if (!eof_ || buffer_.size() > chunk_bytes_) {
    // The last cut within chunk_bytes_, else the first one after it (reading on), else the rest of the file.
    cut = std::min(chunk_bytes_, buffer_.size());
    while (cut >= 1 && !is_cut(cut)) --cut;
    if (cut == 0) {
      cut = std::min(chunk_bytes_, buffer_.size()) + 1;
      while (true) {
        if (!fill(cut + 1)) {
          cut = buffer_.size();
          break;
        }
        if (is_cut(cut)) break;
        ++cut;
      }
    }
  }
  chunk.assign(buffer_, 0, cut);
  buffer_.erase(0, cut);
  check_utf8(chunk);
  offset_ += chunk.size();
  line_ += static_cast<size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
  return true;
}

void TextChunkReader::check_utf8(const std::string& chunk) {
  if (const auto bad = find_invalid_utf8(chunk)) fail_invalid(path_, chunk, *bad, offset_, line_);
}

}  // namespace dv
