// synthetic_rows.h: deterministic fake activations for the store tests.
// Every value is a pure function of (seed, global row, layer, column), so a run that resumes at
// row r produces exactly the rows a clean run would have: the property the kill/resume tests
// compare. Values look like activations (fp16 normals with a few outlier columns, ReLU outputs
// with ~10% active neurons) so compression numbers measured on them mean something.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/store/activation_writer.h"

namespace dv::test {

class SyntheticRows {
 public:
  SyntheticRows(const StoreShape& shape, uint64_t seed, int64_t row0, int64_t n);
  // Pointers into this object's arrays: valid while it lives.
  RowBatch batch() const;

  int64_t row0() const { return row0_; }
  int64_t n() const { return n_; }
  std::vector<int32_t> token_id, position, window;
  struct Layer {
    std::vector<uint16_t> attn_input, mlp_input, fc1_value;  // fp16 bits
    std::vector<uint8_t> fc1_mask;                           // [n, ffn] 0/1, unpacked
    std::vector<uint8_t> fc1_active;                         // packed
    std::vector<float> head_norm;
  };
  std::vector<Layer> layers;

 private:
  StoreShape shape_;
  int64_t row0_ = 0;
  int64_t n_ = 0;
};

// 3 layers, d 36, 3 heads of 12, ffn 37: not a multiple of 8, so the packed fc1 rows carry padding bits.
StoreShape odd_shape(bool fc1_values);

// A small but complete StoreMeta for tests.
StoreMeta test_meta(const StoreShape& shape, const std::string& sample_settings = R"({"seq_len":64})");

// Writes rows [from, to) in batches whose sizes cycle through `batch_sizes`, committing after
// every `commit_every` batches. Returns nothing; errors propagate as dv::Error.
void write_rows(ActivationWriter& w, const StoreShape& shape, uint64_t seed, int64_t from, int64_t to,
                const std::vector<int64_t>& batch_sizes, int commit_every);

}  // namespace dv::test
