// measure_stage.h: `dejavu measure`: oracle vs predicted sparsity per layer, from an activation store
// and (optionally) trained predictors. Writes measure.json, measure_layers.csv, predictor_sweep.csv and
// plots (measure.png) into the output directory.
//   oracle: MLP sparsity (fraction silent), heads needed for a share of attention-output norm,
//           cosine similarity of consecutive layers' inputs, ||X|| vs ||F(X)|| per block;
//   predicted: recall / precision / kept fraction across a top-k sweep and a threshold sweep, with
//           the share of activation mass kept next to the oracle's.
#pragma once

#include <string>
#include <vector>

#include "pipeline/measure/measure_section.h"

namespace dv {

struct MeasureOptions {
  std::string acts;        // activation store (HDF5)
  std::string predictors;  // PRED_DIR from `dejavu train`; empty: oracle statistics only
  std::string predictor_dtype = "fp32";  // fp32 (as trained) or int8 (per-row int8 weights, as the engine's)
  std::string out;         // output directory
  MeasureSection sweeps;    // the measure section (measure_section.h): top-k, threshold and norm-share sweeps
  int64_t max_rows = 0;    // 0 = all rows
  std::string device = "cpu";
  bool show_progress = true;
  // Reuse (measure_reuse.h): what the oracle statistics and the predictor sweeps depend on besides the sweep
  // lists, and the folder of an earlier measure whose parts recorded with the same keys are taken as they are.
  // Empty keys: everything is measured.
  std::string oracle_key, predictor_key;
  std::string reuse_from;
};

void run_measure(const MeasureOptions& options);

}  // namespace dv
