// merge_predictors.h: predictors trained for disjoint layer sets by separate processes (`dejavu train
// --layers ...`, one process or GPU each, on the same store and options) joined into one PRED_DIR that
// measure and eval use like any other: predictors.safetensors with every layer, the metrics tables with
// every layer's metrics. Refused (dv::Error naming the directory) when the parts differ in model, store
// rows, options, inputs or ranks, or when a layer appears twice: such parts would not make one set.
#pragma once

#include <string>
#include <vector>

namespace dv {

void merge_predictor_dirs(const std::string& out_dir, const std::vector<std::string>& parts);

}  // namespace dv
