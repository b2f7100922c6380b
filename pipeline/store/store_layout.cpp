// store_layout.cpp: names, element types and row sizes of the activation store's datasets.
#include "pipeline/store/store_layout.h"

#include <algorithm>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace dv {

int64_t store_dtype_bytes(StoreDtype t) {
  switch (t) {
    case StoreDtype::kFloat16: return 2;
    case StoreDtype::kFloat32: return 4;
    case StoreDtype::kUint8: return 1;
    case StoreDtype::kInt32: return 4;
  }
  return 0;
}

const char* store_dtype_name(StoreDtype t) {
  switch (t) {
    case StoreDtype::kFloat16: return "float16";
    case StoreDtype::kFloat32: return "float32";
    case StoreDtype::kUint8: return "uint8";
    case StoreDtype::kInt32: return "int32";
  }
  return "?";
}

const char* layer_field_name(LayerField f) {
  switch (f) {
    case LayerField::kAttnInput: return "attn_input";
    case LayerField::kMlpInput: return "mlp_input";
    case LayerField::kFc1Active: return "fc1_active";
    case LayerField::kHeadNorm: return "head_norm";
    case LayerField::kFc1Value: return "fc1_value";
  }
  return "?";
}

StoreDtype layer_field_dtype(LayerField f) {
  switch (f) {
    case LayerField::kAttnInput:
    case LayerField::kMlpInput:
    case LayerField::kFc1Value: return StoreDtype::kFloat16;
    case LayerField::kFc1Active: return StoreDtype::kUint8;
    case LayerField::kHeadNorm: return StoreDtype::kFloat32;
  }
  return StoreDtype::kUint8;
}

std::string layer_group_path(int64_t layer) { return fmt::format("/layer_{:03d}", layer); }

std::string layer_dataset_path(int64_t layer, LayerField f) {
  return fmt::format("/layer_{:03d}/{}", layer, layer_field_name(f));
}

int64_t StoreShape::cols(LayerField f) const {
  switch (f) {
    case LayerField::kAttnInput:
    case LayerField::kMlpInput: return hidden_size;
    case LayerField::kFc1Active: return fc1_packed_bytes();
    case LayerField::kHeadNorm: return num_heads;
    case LayerField::kFc1Value: return ffn_dim;
  }
  return 0;
}

int64_t StoreShape::row_bytes(LayerField f) const { return cols(f) * store_dtype_bytes(layer_field_dtype(f)); }

int64_t StoreShape::bytes_per_row() const {
  int64_t per_layer = 0;
  for (LayerField f : kAllLayerFields) {
    if (has_field(f)) per_layer += row_bytes(f);
  }
  return n_layers * per_layer + 3 * 4;  // + token_id, position, window
}

uint32_t parse_field_list(const std::string& list, const std::string& where) {
  uint32_t mask = 0;
  size_t at = 0;
  while (at <= list.size()) {
    const size_t comma = std::min(list.find(',', at), list.size());
    const std::string name = list.substr(at, comma - at);
    bool known = false;
    for (LayerField f : kAllLayerFields) {
      if (f == LayerField::kFc1Value || name != layer_field_name(f)) continue;
      DV_CHECK((mask & layer_field_bit(f)) == 0, "{}: field {} is listed twice", where, name);
      mask |= layer_field_bit(f);
      known = true;
    }
    DV_CHECK(known, "{}: unknown field '{}' (expected attn_input, mlp_input, fc1_active, head_norm; fc1_value has "
             "its own switch, --store-fc1-values)", where, name);
    at = comma + 1;
  }
  DV_CHECK(mask != 0, "{}: no fields to store", where);
  return mask;
}

std::string field_list(uint32_t mask, bool has_fc1_value) {
  std::string out;
  for (LayerField f : kAllLayerFields) {
    const bool on = f == LayerField::kFc1Value ? has_fc1_value : (mask & layer_field_bit(f)) != 0;
    if (on) out += (out.empty() ? "" : ",") + std::string(layer_field_name(f));
  }
  return out;
}

void StoreShape::validate(const std::string& where) const {
  DV_CHECK(n_layers > 0 && hidden_size > 0 && ffn_dim > 0 && num_heads > 0 && head_dim > 0,
           "{}: store shape needs positive n_layers, hidden_size, ffn_dim, num_heads, head_dim "
           "(got {}, {}, {}, {}, {})",
           where, n_layers, hidden_size, ffn_dim, num_heads, head_dim);
  DV_CHECK(num_heads * head_dim == hidden_size, "{}: num_heads {} x head_dim {} != hidden_size {}", where,
           num_heads, head_dim, hidden_size);
  DV_CHECK((field_mask & ~kDefaultFieldMask) == 0 && (field_mask != 0 || has_fc1_value),
           "{}: store field mask {:#x} names no field or an unknown one", where, field_mask);
  DV_CHECK(n_layers <= 999, "{}: {} layers do not fit the layer_XXX naming (at most 999)", where, n_layers);
}

}  // namespace dv
