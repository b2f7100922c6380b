// chunk_filters.cpp: the shuffle and deflate filters of chunk_filters.h.
#include "pipeline/store/chunk_filters.h"

#include <zlib.h>

#include <cstring>

#include <fmt/format.h>

#include "kernels/common/error.h"
#include "pipeline/store/h5_handle.h"

namespace dv {

void shuffle_bytes(const uint8_t* src, size_t n, size_t element, uint8_t* dst) {
  const size_t count = n / element;
  for (size_t i = 0; i < element; ++i) {
    uint8_t* d = dst + i * count;
    const uint8_t* s = src + i;
    for (size_t j = 0; j < count; ++j) d[j] = s[j * element];
  }
  std::memcpy(dst + count * element, src + count * element, n - count * element);
}

ChunkFilters ChunkFilters::of_dataset(hid_t dataset, const std::string& file, const std::string& name) {
  ChunkFilters f;
  f.where_ = fmt::format("{}: {}", file, name);
  H5Id dcpl = h5_owned_plist(H5Dget_create_plist(dataset), file, name, "read the creation properties of");
  const int n = h5_check(H5Pget_nfilters(dcpl.get()), file, name, "count the filters of");
  for (int i = 0; i < n; ++i) {
    unsigned flags = 0;
    size_t nelmts = 4;
    unsigned values[4] = {0, 0, 0, 0};
    unsigned config = 0;
    const H5Z_filter_t id = H5Pget_filter2(dcpl.get(), static_cast<unsigned>(i), &flags, &nelmts, values, 0,
                                           nullptr, &config);
    h5_check(id, file, name, "read a filter of");
    DV_CHECK(id == H5Z_FILTER_SHUFFLE || id == H5Z_FILTER_DEFLATE,
             "{}: filter {} is neither shuffle nor deflate; this writer compresses only those", f.where_, id);
    DV_CHECK(nelmts >= 1, "{}: filter {} without its parameter", f.where_, id);
    f.steps_.push_back(Step{id == H5Z_FILTER_SHUFFLE, values[0]});
  }
  return f;
}

void ChunkFilters::encode(const uint8_t* raw, size_t n, std::vector<uint8_t>& out,
                          std::vector<uint8_t>& scratch) const {
  // Each step reads `cur` (the raw chunk, then the previous step's buffer) and writes the other buffer.
  const uint8_t* cur = raw;
  size_t cur_n = n;
  auto target = [&]() -> std::vector<uint8_t>& { return cur == out.data() ? scratch : out; };
  for (const Step& s : steps_) {
    if (s.shuffle) {
      if (s.param <= 1 || cur_n <= s.param) continue;  // as HDF5: nothing to shuffle
      std::vector<uint8_t>& dst = target();
      dst.resize(cur_n);
      shuffle_bytes(cur, cur_n, s.param, dst.data());
      cur = dst.data();
      continue;
    }
    std::vector<uint8_t>& dst = target();
    uLongf size = compressBound(static_cast<uLong>(cur_n));
    dst.resize(size);
    const int rc = compress2(dst.data(), &size, cur, static_cast<uLong>(cur_n), static_cast<int>(s.param));
    DV_CHECK(rc == Z_OK, "{}: zlib compress2 failed ({})", where_, rc);
    cur = dst.data();
    cur_n = size;
  }
  if (cur != out.data()) {
    if (cur == scratch.data()) {
      scratch.resize(cur_n);
      out.swap(scratch);
      return;
    }
    out.assign(cur, cur + cur_n);  // no filter: a copy of the raw chunk
  }
  out.resize(cur_n);
}

}  // namespace dv
