// collect_batch.h: one batch of windows through the hooked forward, with everything the store keeps
// computed on the model's device (fp16 casts, fc1 bits packed 8 a byte, head norms, a NaN/Inf flag per
// row and layer) and copied asynchronously into one host buffer (pinned on CUDA), so that the device
// never waits for the host: the copies of batch k run behind the forward of batch k + 1, and a writer
// thread (collect_sink.h) waits for a batch's copies only when it is about to store it.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "engine/models/opt_model.h"
#include "pipeline/store/activation_writer.h"

namespace dv {

// The sampled rows of one batch, on the host once ready() returned.
struct HostBatch {
  int64_t n = 0;                          // rows (some may be dropped by drop_rows)
  std::vector<int32_t> token_id, position, window;
  at::Tensor buffer;                      // uint8, host: every field of every layer, [n, cols] slices
  std::vector<std::array<int64_t, 5>> offset;  // [layer][LayerField] byte offset into buffer; -1 = not stored
  at::Tensor nonfinite;                   // bool [n_layers, n] on the host: the row has a NaN/Inf in that layer
  std::shared_ptr<void> ready_event;      // CUDA: the event recorded after the copies; empty on the CPU
  StoreShape shape;

  // Blocks until the device copies into buffer and nonfinite are done.
  void wait_ready() const;
  // Removes the rows whose keep[i] is 0, in place, keeping the order of the others.
  void drop_rows(const std::vector<uint8_t>& keep);
  // Pointers into buffer for ActivationWriter::append_batch.
  RowBatch row_batch() const;
};

// fc1 activity bits of act ([n, ffn], any float type, any device) packed as the store keeps them
// (bit_pack.h: bit j%8 of byte j/8, NaN inactive): uint8 [n, ceil(ffn/8)] on act's device.
at::Tensor pack_active_bits(const at::Tensor& act);

// Runs windows (B windows of equal length L) through the model and gathers the sampled rows
// [skip, skip + take) of the batch's row order (window-major, every `every`-th position). The store
// fields of `shape` are gathered; the copies are queued on the current stream and not waited for.
HostBatch run_collect_batch(const OptModel& model, const std::vector<std::vector<int32_t>>& windows,
                            int64_t first_window, int64_t every, int64_t skip, int64_t take, const StoreShape& shape);

}  // namespace dv
