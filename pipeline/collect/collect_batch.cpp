// collect_batch.cpp: device-side gathering of a batch's sampled rows and their asynchronous copy to the host.
#include "pipeline/collect/collect_batch.h"

#include <c10/core/Event.h>
#include <c10/core/impl/VirtualGuardImpl.h>

#include <cstring>

#include "kernels/common/error.h"

namespace dv {
namespace {

constexpr int64_t kAlign = 64;  // every field slice starts on a 64-byte boundary (any dtype view is legal)

int64_t align_up(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

at::ScalarType field_scalar_type(LayerField f) {
  switch (layer_field_dtype(f)) {
    case StoreDtype::kFloat16: return at::kHalf;
    case StoreDtype::kFloat32: return at::kFloat;
    case StoreDtype::kUint8: return at::kByte;
    case StoreDtype::kInt32: return at::kInt;
  }
  return at::kByte;
}

// Rows of a slice that are not finite anywhere along dim 1.
at::Tensor not_finite_rows(const at::Tensor& t) { return at::isfinite(t).all(1).logical_not(); }

}  // namespace

at::Tensor pack_active_bits(const at::Tensor& act) {
  DV_CHECK(act.dim() == 2, "pack_active_bits: act must be [n, ffn]");
  const int64_t n = act.size(0), ffn = act.size(1), nb = (ffn + 7) / 8;
  at::Tensor on = act.gt(0).to(at::kByte);  // NaN > 0 is false: inactive, as pack_active
  if (nb * 8 != ffn) on = at::constant_pad_nd(on, {0, nb * 8 - ffn});
  const at::Tensor shift = at::arange(8, at::TensorOptions().dtype(at::kByte).device(act.device()));
  // Distinct powers of two: the uint8 sum is an OR and cannot overflow.
  return at::bitwise_left_shift(on.view({n, nb, 8}), shift).sum(-1, false, at::kByte);
}

void HostBatch::wait_ready() const {
  if (ready_event) static_cast<c10::Event*>(ready_event.get())->synchronize();
}

void HostBatch::drop_rows(const std::vector<uint8_t>& keep) {
  DV_CHECK(static_cast<int64_t>(keep.size()) == n, "drop_rows: {} flags for {} rows", keep.size(), n);
  uint8_t* base = buffer.data_ptr<uint8_t>();
  auto compact = [&](uint8_t* data, int64_t row_bytes) {
    int64_t out = 0;
    for (int64_t i = 0; i < n; ++i) {
      if (!keep[static_cast<size_t>(i)]) continue;
      if (out != i) std::memmove(data + out * row_bytes, data + i * row_bytes, static_cast<size_t>(row_bytes));
      ++out;
    }
    return out;
  };
  for (size_t l = 0; l < offset.size(); ++l) {
    for (LayerField f : kAllLayerFields) {
      const int64_t at = offset[l][static_cast<size_t>(f)];
      if (at >= 0) compact(base + at, shape.row_bytes(f));
    }
  }
  compact(reinterpret_cast<uint8_t*>(token_id.data()), 4);
  compact(reinterpret_cast<uint8_t*>(position.data()), 4);
  const int64_t kept = compact(reinterpret_cast<uint8_t*>(window.data()), 4);
  token_id.resize(static_cast<size_t>(kept));
  position.resize(static_cast<size_t>(kept));
  window.resize(static_cast<size_t>(kept));
  n = kept;
}

RowBatch HostBatch::row_batch() const {
  RowBatch b;
  b.n = n;
  b.token_id = token_id.data();
  b.position = position.data();
  b.window = window.data();
  const uint8_t* base = buffer.defined() ? buffer.data_ptr<uint8_t>() : nullptr;
  for (const auto& o : offset) {
    auto at = [&](LayerField f) { return o[static_cast<size_t>(f)] >= 0 ? base + o[static_cast<size_t>(f)] : nullptr; };
    LayerRows r;
    r.attn_input = reinterpret_cast<const uint16_t*>(at(LayerField::kAttnInput));
    r.mlp_input = reinterpret_cast<const uint16_t*>(at(LayerField::kMlpInput));
    r.fc1_active = at(LayerField::kFc1Active);
    r.head_norm = reinterpret_cast<const float*>(at(LayerField::kHeadNorm));
    r.fc1_value = reinterpret_cast<const uint16_t*>(at(LayerField::kFc1Value));
    b.layers.push_back(r);
  }
  return b;
}

HostBatch run_collect_batch(const OptModel& model, const std::vector<std::vector<int32_t>>& windows,
                            int64_t first_window, int64_t every, int64_t skip, int64_t take, const StoreShape& shape) {
  const int64_t B = static_cast<int64_t>(windows.size()), L = static_cast<int64_t>(windows[0].size());
  const int64_t per_window = (L + every - 1) / every;
  std::vector<int32_t> flat;
  for (const auto& w : windows) flat.insert(flat.end(), w.begin(), w.end());
  HostBatch h;
  h.shape = shape;
  std::vector<int64_t> keep;  // flat indices b * L + p of the kept rows, in row order
  for (int64_t r = skip; r < std::min(skip + take, B * per_window); ++r) {
    const int64_t b = r / per_window, p = (r % per_window) * every;
    keep.push_back(b * L + p);
    h.token_id.push_back(windows[static_cast<size_t>(b)][static_cast<size_t>(p)]);
    h.position.push_back(static_cast<int32_t>(p));
    h.window.push_back(static_cast<int32_t>(first_window + b));
  }
  const int64_t n = h.n = static_cast<int64_t>(keep.size());
  const at::Device device = model.device();
  const bool cuda = device.is_cuda();

  // One host buffer for all fields of all layers; field slices aligned so that any dtype view is legal.
  int64_t bytes = 0;
  h.offset.assign(static_cast<size_t>(shape.n_layers), {-1, -1, -1, -1, -1});
  for (auto& o : h.offset) {
    for (LayerField f : kAllLayerFields) {
      if (!shape.has_field(f)) continue;
      o[static_cast<size_t>(f)] = bytes;
      bytes = align_up(bytes + n * shape.row_bytes(f));
    }
  }
  const auto host = at::TensorOptions().dtype(at::kByte).pinned_memory(cuda);
  h.buffer = at::empty({std::max<int64_t>(bytes, 1)}, host);
  // Pinned sources, so that these uploads queue behind the previous batch's work instead of waiting for it.
  auto upload = [&](const at::Tensor& t) { return cuda ? t.pin_memory().to(device, /*non_blocking=*/true) : t; };
  const at::Tensor ids = upload(at::from_blob(flat.data(), {B, L}, at::kInt).to(at::kLong));
  const at::Tensor index = upload(at::tensor(keep, at::kLong));
  std::vector<at::Tensor> bad_rows;  // per layer, bool [n] on the device

  auto store = [&](int64_t layer, LayerField f, const at::Tensor& value) {
    const int64_t at = h.offset[static_cast<size_t>(layer)][static_cast<size_t>(f)];
    if (at < 0) return;
    at::Tensor dst = h.buffer.narrow(0, at, n * shape.row_bytes(f)).view(field_scalar_type(f)).view({n, shape.cols(f)});
    dst.copy_(value, /*non_blocking=*/cuda);
  };
  ForwardHooks hooks;
  hooks.on_layer = [&](const LayerActivations& a) {
    auto pick = [&](const at::Tensor& t, int64_t cols) { return t.reshape({B * L, cols}).index_select(0, index); };
    const int64_t d = shape.hidden_size, l = a.layer;
    const at::Tensor attn = pick(a.attn_input, d).to(at::kHalf);
    const at::Tensor mlp = pick(a.mlp_input, d).to(at::kHalf);
    const at::Tensor act = pick(a.fc1_act, shape.ffn_dim);
    const at::Tensor act16 = act.to(at::kHalf);
    const at::Tensor norm = at::linalg_vector_norm(
        a.head_out.reshape({B * L, shape.num_heads, shape.head_dim}).index_select(0, index).to(at::kFloat), 2, {-1});
    // A NaN/Inf in anything the row would store (or that its labels come from) marks the row.
    at::Tensor bad = not_finite_rows(attn) | not_finite_rows(mlp) | not_finite_rows(act16) | not_finite_rows(norm);
    bad_rows.push_back(bad);
    store(l, LayerField::kAttnInput, attn);
    store(l, LayerField::kMlpInput, mlp);
    if (shape.has_field(LayerField::kFc1Active)) store(l, LayerField::kFc1Active, pack_active_bits(act));
    store(l, LayerField::kHeadNorm, norm);
    store(l, LayerField::kFc1Value, act16);
  };
  model.forward(ids, nullptr, &hooks);
  h.nonfinite = at::empty({shape.n_layers, n}, at::TensorOptions().dtype(at::kBool).pinned_memory(cuda));
  if (n > 0) h.nonfinite.copy_(at::stack(bad_rows), /*non_blocking=*/cuda);
  if (cuda) {
    c10::impl::VirtualGuardImpl impl(device.type());
    auto event = std::make_shared<c10::Event>(device.type());
    event->record(impl.getStream(device));
    h.ready_event = event;
  }
  return h;
}

}  // namespace dv
