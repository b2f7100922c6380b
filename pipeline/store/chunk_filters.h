// chunk_filters.h: a dataset's HDF5 filter pipeline (byte shuffle, deflate), applied to one chunk in our own
// code so that chunks can be compressed on worker threads and written with HDF5's direct chunk write
// (H5Dwrite_chunk). The bytes are what HDF5's filters would store (shuffle: the i-th byte of every element,
// then the next; deflate: a zlib stream at the dataset's level), so HDF5 and h5py read them through the
// dataset's ordinary filter pipeline. HDF5 calls happen only in of_dataset(); encode() is thread-safe.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

namespace dv {

class ChunkFilters {
 public:
  // The filters of an open dataset, in pipeline order. dv::Error naming file and dataset for a filter other
  // than shuffle and deflate (the store creates no other).
  static ChunkFilters of_dataset(hid_t dataset, const std::string& file, const std::string& name);

  // No filter: encode() copies.
  bool identity() const { return steps_.empty(); }
  // `raw` (a whole chunk, n bytes) through the filters into `out` (resized to the stored size); `scratch` is
  // working memory kept by the caller between calls. Deterministic: the same bytes give the same output.
  // dv::Error when zlib fails.
  void encode(const uint8_t* raw, size_t n, std::vector<uint8_t>& out, std::vector<uint8_t>& scratch) const;

 private:
  struct Step {
    bool shuffle = false;  // else deflate
    unsigned param = 0;    // shuffle: element size in bytes; deflate: level 0..9
  };
  std::vector<Step> steps_;
  std::string where_;  // "file: dataset" for errors
};

// HDF5's shuffle filter: byte i of element j goes to i * (n / element) + j; trailing bytes of a partial
// element stay at the end.
void shuffle_bytes(const uint8_t* src, size_t n, size_t element, uint8_t* dst);

}  // namespace dv
