// predictor_input.h: which residual-stream vector a layer's predictor reads. The paper's repository
// is inconsistent here (MLP predictors trained on the same layer's MLP input, evaluated on its
// attention input, fed the previous layer's MLP input in the latency code), so the choice is an
// explicit option, recorded with the predictors, and used identically by train (store fields) and
// eval (the reference model's MaskQuery).
#pragma once

#include <cstdint>
#include <string>

#include <ATen/ATen.h>

#include "engine/models/opt_model.h"
#include "pipeline/store/store_layout.h"

namespace dv {

enum class PredictorInput {
  kMlpInput,       // "mlp_input": this layer's MLP-block input (the paper trains MLP predictors on it)
  kAttnInput,      // "attn_input": this layer's attention-block input
  kPrevMlpInput,   // "prev_mlp_input": layer l-1's MLP-block input (one block of lookahead)
  kPrevAttnInput,  // "prev_attn_input": layer l-1's attention-block input (the paper's head predictor)
};

const char* predictor_input_name(PredictorInput kind);
// dv::Error naming `where` and listing the accepted names.
PredictorInput parse_predictor_input(const std::string& name, const std::string& where);

// Where layer `layer`'s input lives in the activation store. The prev_* kinds have no layer -1,
// so layer 0 falls back to its own attention-block input (the earliest vector it has).
struct InputSource {
  int64_t layer = 0;
  LayerField field = LayerField::kAttnInput;
  bool operator==(const InputSource& o) const { return layer == o.layer && field == o.field; }
};
InputSource resolve_input(PredictorInput kind, int64_t layer);

// The same choice on the reference model's hook query ([B, T, d]); dv::Error when the query lacks
// the tensor (e.g. mlp_input in a head query: heads are chosen before the MLP input exists).
at::Tensor predictor_input_tensor(PredictorInput kind, const MaskQuery& query);

}  // namespace dv
