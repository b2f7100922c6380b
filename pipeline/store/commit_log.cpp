// commit_log.cpp: encoding, appending and reading the store's commit log.
#include "pipeline/store/commit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "kernels/common/error.h"

namespace dv {

namespace {

constexpr char kMagic[8] = {'D', 'V', 'S', 'L', 'O', 'G', '0', '1'};
constexpr uint32_t kTagCommit = 0x54494D43;  // "CMIT"
constexpr uint32_t kTagClosed = 0x44534C43;  // "CLSD"
constexpr uint32_t kTagOpen = 0x4E45504F;    // "OPEN"

class Encoder {
 public:
  void u8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void u64(uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  void str(const std::string& s) {
    u64(s.size());
    out_ += s;
  }
  std::string& bytes() { return out_; }

 private:
  std::string out_;
};

class Decoder {
 public:
  Decoder(const std::string& data, size_t at, size_t end) : d_(data), at_(at), end_(end) {}
  bool ok() const { return ok_; }
  size_t at() const { return at_; }
  uint64_t uint(int bytes) {
    if (end_ - at_ < static_cast<size_t>(bytes)) {
      ok_ = false;
      return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(d_[at_ + i])) << (8 * i);
    at_ += static_cast<size_t>(bytes);
    return v;
  }
  std::string str() {
    const uint64_t n = uint(8);
    if (!ok_ || end_ - at_ < n) {
      ok_ = false;
      return {};
    }
    std::string s = d_.substr(at_, n);
    at_ += n;
    return s;
  }

 private:
  const std::string& d_;
  size_t at_, end_;
  bool ok_ = true;
};

void write_all(const std::string& path, const std::string& bytes, bool append) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);
  DV_CHECK(fd >= 0, "{}: cannot open the commit log: {}", path, std::strerror(errno));
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = errno;
      ::close(fd);
      DV_FAIL("{}: cannot write the commit log: {}", path, std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  const int rc = ::fdatasync(fd);
  const int err = errno;
  ::close(fd);
  DV_CHECK(rc == 0, "{}: cannot sync the commit log: {}", path, std::strerror(err));
}

std::string record(uint32_t tag, const std::string& payload) {
  Encoder e;
  e.u32(tag);
  e.u32(static_cast<uint32_t>(payload.size()));
  e.bytes() += payload;
  e.u32(crc32(e.bytes().data(), e.bytes().size()));
  return e.bytes();
}

}  // namespace

uint32_t crc32(const void* data, size_t n, uint32_t crc) {
  // Bitwise CRC-32 (IEEE, reflected): records are small, so no table.
  const auto* p = static_cast<const uint8_t*>(data);
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int b = 0; b < 8; ++b) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

void commit_log_create(const std::string& path, const StoreMeta& meta, int64_t chunk_rows,
                       StoreCompression compression) {
  Encoder h;
  const StoreShape& s = meta.shape;
  for (int64_t v : {s.n_layers, s.hidden_size, s.ffn_dim, s.num_heads, s.head_dim}) h.u64(static_cast<uint64_t>(v));
  h.u8(s.has_fc1_value ? 1 : 0);
  h.u64(static_cast<uint64_t>(chunk_rows));
  h.u8(static_cast<uint8_t>(compression));
  for (const std::string* str : {&meta.model_config, &meta.model_dir, &meta.corpus, &meta.corpus_identity,
                                 &meta.sample_settings, &meta.created_by}) {
    h.str(*str);
  }
  h.u32(s.field_mask);  // after the strings: logs written before fields existed end here
  Encoder file;
  file.bytes().append(kMagic, sizeof kMagic);
  file.u32(static_cast<uint32_t>(h.bytes().size()));
  file.bytes() += h.bytes();
  file.u32(crc32(h.bytes().data(), h.bytes().size()));
  write_all(path, file.bytes(), false);
}

void commit_log_append_commit(const std::string& path, int64_t rows, bool complete,
                              const std::vector<ChunkRecord>& records, const std::string& note) {
  Encoder p;
  p.u64(static_cast<uint64_t>(rows));
  p.u8(complete ? 1 : 0);
  p.u32(static_cast<uint32_t>(records.size()));
  for (const ChunkRecord& r : records) {
    p.u32(r.dataset);
    p.u64(r.chunk);
    p.u64(r.addr);
    p.u64(r.size);
    p.u32(r.filter_mask);
  }
  p.str(note);
  write_all(path, record(kTagCommit, p.bytes()), true);
}

void commit_log_append_open(const std::string& path) { write_all(path, record(kTagOpen, {}), true); }

void commit_log_append_closed(const std::string& path, int64_t rows) {
  Encoder p;
  p.u64(static_cast<uint64_t>(rows));
  write_all(path, record(kTagClosed, p.bytes()), true);
}

CommitLogState commit_log_read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  DV_CHECK(in.good(), "{}: commit log missing", path);
  std::ostringstream ss;
  ss << in.rdbuf();
  const std::string data = ss.str();
  DV_CHECK(data.size() >= sizeof kMagic + 8 && std::memcmp(data.data(), kMagic, sizeof kMagic) == 0,
           "{}: not a dejavu commit log", path);
  Decoder top(data, sizeof kMagic, data.size());
  const auto header_len = static_cast<size_t>(top.uint(4));
  const size_t header_at = top.at();
  DV_CHECK(data.size() - header_at >= header_len + 4, "{}: commit log header is truncated", path);
  Decoder crc_at(data, header_at + header_len, data.size());
  DV_CHECK(crc_at.uint(4) == crc32(data.data() + header_at, header_len), "{}: commit log header is damaged", path);

  CommitLogState st;
  Decoder h(data, header_at, header_at + header_len);
  StoreShape& s = st.meta.shape;
  for (int64_t* v : {&s.n_layers, &s.hidden_size, &s.ffn_dim, &s.num_heads, &s.head_dim}) {
    *v = static_cast<int64_t>(h.uint(8));
  }
  s.has_fc1_value = h.uint(1) != 0;
  st.chunk_rows = static_cast<int64_t>(h.uint(8));
  st.compression = static_cast<StoreCompression>(h.uint(1));
  for (std::string* str : {&st.meta.model_config, &st.meta.model_dir, &st.meta.corpus, &st.meta.corpus_identity,
                           &st.meta.sample_settings, &st.meta.created_by}) {
    *str = h.str();
  }
  if (h.ok() && h.at() < header_at + header_len) s.field_mask = static_cast<uint32_t>(h.uint(4));
  DV_CHECK(h.ok() && st.chunk_rows > 0, "{}: commit log header is damaged", path);

  size_t at = header_at + header_len + 4;
  st.valid_bytes = at;
  while (data.size() - at >= 12) {
    Decoder r(data, at, data.size());
    const auto tag = static_cast<uint32_t>(r.uint(4));
    const auto len = static_cast<size_t>(r.uint(4));
    if (data.size() - r.at() < len + 4) break;  // torn tail
    Decoder crc(data, r.at() + len, data.size());
    if (crc.uint(4) != crc32(data.data() + at, 8 + len)) break;
    Decoder p(data, r.at(), r.at() + len);
    if (tag == kTagCommit) {
      const auto rows = static_cast<int64_t>(p.uint(8));
      const bool complete = p.uint(1) != 0;
      const auto n = static_cast<size_t>(p.uint(4));
      std::vector<ChunkRecord> records(n);
      for (ChunkRecord& c : records) {
        c.dataset = static_cast<uint32_t>(p.uint(4));
        c.chunk = p.uint(8);
        c.addr = p.uint(8);
        c.size = p.uint(8);
        c.filter_mask = static_cast<uint32_t>(p.uint(4));
      }
      const std::string note = p.ok() && p.at() < r.at() + len ? p.str() : std::string();
      if (!p.ok()) break;
      st.note = note;
      st.rows = rows;
      st.complete = complete;
      for (const ChunkRecord& c : records) st.chunks[{c.dataset, c.chunk}] = c;
      st.closed_cleanly = false;
    } else if (tag == kTagOpen) {
      st.closed_cleanly = false;
    } else if (tag == kTagClosed) {
      const auto rows = static_cast<int64_t>(p.uint(8));
      if (!p.ok()) break;
      st.closed_cleanly = rows == st.rows;
    } else {
      break;
    }
    at += 8 + len + 4;
    st.valid_bytes = at;
  }
  return st;
}

}  // namespace dv
