// row_batches.cpp: chunk-aligned reads of one layer's fields and the bounded-buffer shuffle.
#include "pipeline/train/row_batches.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>

#include "kernels/common/error.h"

namespace dv {

namespace {

// Reads one float16 dataset's rows into a new [n, cols] at::Half tensor.
at::Tensor read_half(const ActivationReader& r, const InputSource& src, int64_t row0, int64_t n, int64_t cols) {
  at::Tensor t = at::empty({n, cols}, at::kHalf);
  r.read_rows(src.layer, src.field, row0, n, reinterpret_cast<uint16_t*>(t.data_ptr<at::Half>()));
  return t;
}

// Groups consecutive ranges into blocks of at least `rows` rows (the last may be shorter).
std::vector<RowRange> group_ranges(const std::vector<RowRange>& ranges, int64_t rows) {
  std::vector<RowRange> out;
  for (const RowRange& r : ranges) {
    if (!out.empty() && out.back().end - out.back().begin < rows) {
      out.back().end = r.end;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace

RowBlock RowBlock::index(const at::Tensor& rows) const {
  RowBlock b;
  b.x_mlp = x_mlp.index_select(0, rows);
  b.x_att = x_att.is_same(x_mlp) ? b.x_mlp : x_att.index_select(0, rows);
  b.fc1_bits = fc1_bits.index_select(0, rows);
  b.head_norm = head_norm.index_select(0, rows);
  if (fc1_value.defined()) b.fc1_value = fc1_value.index_select(0, rows);
  return b;
}

RowBlock RowBlock::to(at::Device device) const {
  if (rows() == 0 || x_mlp.device() == device) return *this;
  RowBlock b;
  b.x_mlp = x_mlp.to(device);
  b.x_att = x_att.is_same(x_mlp) ? b.x_mlp : x_att.to(device);
  b.fc1_bits = fc1_bits.to(device);
  b.head_norm = head_norm.to(device);
  if (fc1_value.defined()) b.fc1_value = fc1_value.to(device);
  return b;
}

RowBlock RowBlock::cat(const std::vector<RowBlock>& blocks) {
  std::vector<at::Tensor> x_mlp, x_att, bits, norm, value;
  bool shared = true, values = true;
  for (const RowBlock& b : blocks) {
    if (b.rows() == 0) continue;
    x_mlp.push_back(b.x_mlp);
    x_att.push_back(b.x_att);
    bits.push_back(b.fc1_bits);
    norm.push_back(b.head_norm);
    value.push_back(b.fc1_value);
    shared = shared && b.x_att.is_same(b.x_mlp);
    values = values && b.fc1_value.defined();
  }
  if (x_mlp.empty()) return {};
  if (x_mlp.size() == 1) {
    for (const RowBlock& b : blocks) {
      if (b.rows() > 0) return b;
    }
  }
  RowBlock c;
  c.x_mlp = at::cat(x_mlp);
  c.x_att = shared ? c.x_mlp : at::cat(x_att);
  c.fc1_bits = at::cat(bits);
  c.head_norm = at::cat(norm);
  if (values) c.fc1_value = at::cat(value);
  return c;
}

RowBlock read_row_block(SharedStore& store, const LayerFields& f, int64_t row0, int64_t n, bool with_values) {
  const ActivationReader& r = store.reader;
  const StoreShape& s = r.shape();
  RowBlock b;
  std::lock_guard<std::mutex> lock(store.mutex);
  b.x_mlp = read_half(r, f.mlp_in, row0, n, s.hidden_size);
  b.x_att = f.att_in == f.mlp_in ? b.x_mlp : read_half(r, f.att_in, row0, n, s.hidden_size);
  b.fc1_bits = at::empty({n, s.fc1_packed_bytes()}, at::kByte);
  r.read_rows(f.layer, LayerField::kFc1Active, row0, n, b.fc1_bits.data_ptr<uint8_t>());
  b.head_norm = at::empty({n, s.num_heads}, at::kFloat);
  r.read_rows(f.layer, LayerField::kHeadNorm, row0, n, b.head_norm.data_ptr<float>());
  if (with_values && s.has_fc1_value) {
    b.fc1_value = read_half(r, {f.layer, LayerField::kFc1Value}, row0, n, s.ffn_dim);
  }
  return b;
}

int64_t row_block_bytes(const StoreShape& s, const LayerFields& f) {
  const int64_t x = 2 * s.hidden_size * (f.att_in == f.mlp_in ? 1 : 2);
  return x + s.fc1_packed_bytes() + 4 * s.num_heads;
}

std::vector<RowRange> chunk_ranges(int64_t begin, int64_t end, int64_t chunk_rows) {
  DV_CHECK(chunk_rows > 0, "chunk_ranges: chunk_rows must be positive");
  std::vector<RowRange> out;
  for (int64_t r = begin; r < end;) {
    const int64_t stop = std::min(end, (r / chunk_rows + 1) * chunk_rows);
    out.push_back({r, stop});
    r = stop;
  }
  return out;
}

TrainBatches::TrainBatches(SharedStore& store, LayerFields fields, int64_t n_train, int64_t batch_size,
                           int64_t buffer_bytes, uint64_t seed, at::Device device)
    : store_(store),
      fields_(fields),
      batch_size_(batch_size),
      gen_(at::make_generator<at::CPUGeneratorImpl>(seed)),
      device_(device) {
  const int64_t row_bytes = row_block_bytes(store.reader.shape(), fields);
  buffer_rows_ = std::max(batch_size, buffer_bytes / row_bytes);
  ranges_ = chunk_ranges(0, n_train, store.reader.chunk_rows());
  if (n_train <= buffer_rows_) {
    std::vector<RowBlock> parts;
    for (const RowRange& r : ranges_) parts.push_back(read_row_block(store_, fields_, r.begin, r.end - r.begin, false));
    resident_ = RowBlock::cat(parts).to(device_);
  }
}

void TrainBatches::start_epoch() {
  served_ = 0;
  if (resident()) {
    buffer_ = resident_;
    perm_ = at::randperm(resident_.rows(), gen_, at::kLong).to(device_);
    return;
  }
  buffer_ = RowBlock{};
  perm_ = at::Tensor();
  order_ = at::randperm(static_cast<int64_t>(ranges_.size()), gen_, at::kLong);
  next_range_ = 0;
}

bool TrainBatches::refill() {
  // Rows of the previous buffer not yet served start the new one.
  RowBlock carry;
  if (perm_.defined() && served_ < perm_.size(0)) carry = buffer_.index(perm_.narrow(0, served_, perm_.size(0) - served_));
  if (next_range_ >= order_.size(0)) {
    buffer_ = carry;
    perm_ = at::arange(carry.rows(), at::TensorOptions().dtype(at::kLong).device(device_));  // already shuffled
    served_ = 0;
    return carry.rows() > 0;
  }
  const int64_t* order = order_.data_ptr<int64_t>();
  std::vector<RowBlock> parts = {carry};
  int64_t rows = carry.rows();
  while (next_range_ < order_.size(0) && rows < buffer_rows_) {
    const RowRange& r = ranges_[static_cast<size_t>(order[next_range_++])];
    parts.push_back(read_row_block(store_, fields_, r.begin, r.end - r.begin, false).to(device_));
    rows += parts.back().rows();
  }
  buffer_ = RowBlock::cat(parts);
  perm_ = at::randperm(buffer_.rows(), gen_, at::kLong).to(device_);
  served_ = 0;
  return true;
}

bool TrainBatches::next(RowBlock* batch) {
  const bool more_chunks = !resident() && next_range_ < order_.size(0);
  const int64_t left = perm_.defined() ? perm_.size(0) - served_ : 0;
  // A short remainder waits for the next buffer unless the epoch has no more chunks.
  if (left == 0 || (left < batch_size_ && more_chunks)) {
    if (resident() || !refill()) return false;
  }
  const int64_t n = std::min(batch_size_, perm_.size(0) - served_);
  if (n == 0) return false;
  *batch = buffer_.index(perm_.narrow(0, served_, n));
  served_ += n;
  return true;
}

ValBatches::ValBatches(SharedStore& store, LayerFields fields, int64_t begin, int64_t end, int64_t block_rows,
                       int64_t resident_bytes)
    : store_(store), fields_(fields), begin_(begin), end_(end) {
  blocks_ = group_ranges(chunk_ranges(begin, end, store.reader.chunk_rows()), block_rows);
  if ((end - begin) * row_block_bytes(store.reader.shape(), fields) <= resident_bytes) {
    std::vector<RowBlock> parts;
    for (const RowRange& r : blocks_) parts.push_back(read_row_block(store_, fields_, r.begin, r.end - r.begin, false));
    resident_ = RowBlock::cat(parts);
  }
}

}  // namespace dv
