// row_batches.h: streaming one layer's training and validation rows out of the activation store.
// Memory is bounded by a byte budget whatever the store's row count: when a layer's training rows
// fit the budget they are read once and reshuffled in memory every epoch; otherwise every epoch
// visits the store's chunks in a fresh random order, fills a buffer of whole chunks up to the
// budget, and shuffles rows within it (a bounded-buffer shuffle; rows left over at the end of a
// buffer are carried into the next so that every batch but the epoch's last is full). Reads are
// chunk-aligned, so each compressed chunk is decompressed once per visit.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include <ATen/ATen.h>

#include "pipeline/train/predictor_input.h"
#include "pipeline/store/activation_reader.h"

namespace dv {

// The store and the lock that serialises every call into it: Debian's HDF5 is the serial build,
// which must not be entered from two threads at once, even for different datasets.
struct SharedStore {
  const ActivationReader& reader;
  std::mutex mutex;
};

// What a layer's two predictors read from each row.
struct LayerFields {
  int64_t layer = 0;  // labels come from this layer
  InputSource mlp_in;
  InputSource att_in;
};

// A block of rows, all on the CPU (a batch may be moved to the training device by the caller).
struct RowBlock {
  at::Tensor x_mlp;      // [n, d] float16: the MLP predictor's input
  at::Tensor x_att;      // [n, d] float16: the head predictor's input (may share x_mlp's storage)
  at::Tensor fc1_bits;   // [n, ceil(ffn/8)] uint8: the store's packed fc1 activity
  at::Tensor head_norm;  // [n, H] float32
  at::Tensor fc1_value;  // [n, ffn] float16 post-ReLU values, or undefined (not requested / not stored)

  int64_t rows() const { return x_mlp.defined() ? x_mlp.size(0) : 0; }
  RowBlock index(const at::Tensor& rows) const;  // rows: int64 indices on the block's device
  RowBlock to(at::Device device) const;
  static RowBlock cat(const std::vector<RowBlock>& blocks);  // blocks with no rows are skipped
};

// Rows [row0, row0 + n); with_values also reads fc1_value when the store has it.
RowBlock read_row_block(SharedStore& store, const LayerFields& fields, int64_t row0, int64_t n, bool with_values);
// Bytes one row of a RowBlock takes without fc1_value.
int64_t row_block_bytes(const StoreShape& shape, const LayerFields& fields);

// [begin, end) cut at the store's chunk boundaries.
struct RowRange {
  int64_t begin = 0, end = 0;
};
std::vector<RowRange> chunk_ranges(int64_t begin, int64_t end, int64_t chunk_rows);

// One layer's shuffled training batches over rows [0, n_train). On a CUDA device the row buffer
// (resident or streamed) lives on the device: each chunk read from the store is copied up once and
// batches are gathered there; the shuffle is drawn on the CPU either way, so batches are the same.
class TrainBatches {
 public:
  TrainBatches(SharedStore& store, LayerFields fields, int64_t n_train, int64_t batch_size, int64_t buffer_bytes,
               uint64_t seed, at::Device device = at::kCPU);
  bool resident() const { return resident_.rows() > 0; }
  void start_epoch();           // a fresh shuffle; call before each epoch
  bool next(RowBlock* batch);   // false at the end of the epoch

 private:
  bool refill();  // streaming: loads the next buffer of chunks (plus carried rows); false when none left

  SharedStore& store_;
  LayerFields fields_;
  int64_t batch_size_;
  int64_t buffer_rows_;
  std::vector<RowRange> ranges_;
  at::Generator gen_;
  at::Device device_;
  RowBlock resident_;   // all training rows, when they fit the budget
  RowBlock buffer_;     // the rows being served
  at::Tensor perm_;     // shuffled row order of buffer_ (or resident_)
  int64_t served_ = 0;  // rows of perm_ already handed out
  at::Tensor order_;    // streaming: this epoch's chunk order
  int64_t next_range_ = 0;
};

// The validation rows [begin, end) in store order, in blocks of at most block_rows; kept in memory
// after the first pass when they fit `resident_bytes` (values are never kept).
class ValBatches {
 public:
  ValBatches(SharedStore& store, LayerFields fields, int64_t begin, int64_t end, int64_t block_rows,
             int64_t resident_bytes);
  int64_t rows() const { return end_ - begin_; }
  // Calls fn(block) for every block; with_values reads fc1_value too (streamed, never kept).
  template <typename Fn>
  void for_each(bool with_values, Fn&& fn) {
    const bool values = with_values && store_.reader.shape().has_fc1_value;
    if (!values && resident_.rows() > 0) return fn(resident_);
    for (const RowRange& r : blocks_) fn(read_row_block(store_, fields_, r.begin, r.end - r.begin, values));
  }

 private:
  SharedStore& store_;
  LayerFields fields_;
  int64_t begin_, end_;
  std::vector<RowRange> blocks_;
  RowBlock resident_;
};

}  // namespace dv
