// predictor_input.cpp: names and resolution of the predictor input kinds.
#include "pipeline/train/predictor_input.h"

#include "kernels/common/error.h"

namespace dv {

const char* predictor_input_name(PredictorInput kind) {
  switch (kind) {
    case PredictorInput::kMlpInput: return "mlp_input";
    case PredictorInput::kAttnInput: return "attn_input";
    case PredictorInput::kPrevMlpInput: return "prev_mlp_input";
    case PredictorInput::kPrevAttnInput: return "prev_attn_input";
  }
  return "?";
}

PredictorInput parse_predictor_input(const std::string& name, const std::string& where) {
  for (PredictorInput k : {PredictorInput::kMlpInput, PredictorInput::kAttnInput, PredictorInput::kPrevMlpInput,
                           PredictorInput::kPrevAttnInput}) {
    if (name == predictor_input_name(k)) return k;
  }
  DV_FAIL("{}: unknown predictor input '{}' (expected mlp_input, attn_input, prev_mlp_input or prev_attn_input)",
          where, name);
}

InputSource resolve_input(PredictorInput kind, int64_t layer) {
  switch (kind) {
    case PredictorInput::kMlpInput: return {layer, LayerField::kMlpInput};
    case PredictorInput::kAttnInput: return {layer, LayerField::kAttnInput};
    case PredictorInput::kPrevMlpInput:
      return layer == 0 ? InputSource{0, LayerField::kAttnInput} : InputSource{layer - 1, LayerField::kMlpInput};
    case PredictorInput::kPrevAttnInput:
      return layer == 0 ? InputSource{0, LayerField::kAttnInput} : InputSource{layer - 1, LayerField::kAttnInput};
  }
  DV_FAIL("unknown predictor input kind {}", static_cast<int>(kind));
}

at::Tensor predictor_input_tensor(PredictorInput kind, const MaskQuery& query) {
  const InputSource src = resolve_input(kind, query.layer);
  const bool prev = src.layer != query.layer;
  const at::Tensor& t = src.field == LayerField::kMlpInput ? (prev ? query.prev_mlp_input : query.mlp_input)
                                                           : (prev ? query.prev_attn_input : query.attn_input);
  DV_CHECK(t.defined(), "layer {}: the predictor input {} is not available at this point of the forward pass",
           query.layer, predictor_input_name(kind));
  return t;
}

}  // namespace dv
