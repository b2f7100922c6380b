// sparse_fallback.h: the measured choice between the sparse and the dense decode step (issue 19 item 5).
// Whether the sparse step beats dense depends on the card, the shape, the batch and the selections the
// predictors make (opt-1.3b with trained predictors on an H100: x1.01 at batch 1, x0.43 at batch 32), which no
// fixed fraction such as BlockSpec::dense_crossover captures. With SparseSpec::fallback enabled, CudaEngine's
// first `calibration_steps` sparse requests after set_sparse run both steps at the same position, timed with
// CUDA events on the step stream (sparse_calibration.cpp); then every sparse request runs the mode chosen
// here until the spec changes (the batch is fixed per engine). Host only: the rule is a pure function.
#pragma once

#include <string>
#include <vector>

namespace dv::engine {

struct SparseFallback {
  bool enabled = false;        // CLI: --sparse-fallback auto|off (generate: auto by default)
  int calibration_steps = 8;   // sparse requests that time both steps; the first pair warms up and is not counted
  // Sparse is kept only when its median step is at least this fraction below dense's. The probes start with
  // every head's K/V valid, so they leave out the K/V catch-up of real sparse steps: on the H100 (6800122,
  // opt-1.3b, batch 2) the probes timed sparse 3.3 % faster than dense and the real sparse step was 2.9 % slower,
  // a 6 % gap, which the default covers.
  double margin = 0.08;
};

// Throws naming the field (sparse_fallback.calibration_steps >= 2, sparse_fallback.margin in [0, 0.5)).
void check_sparse_fallback(const SparseFallback& f);
// "auto" -> enabled, "off" -> disabled; anything else throws naming --sparse-fallback.
bool parse_sparse_fallback(const std::string& name);

struct StepChoice {
  bool decided = false;
  bool sparse = true;          // the mode sparse requests run once decided
  double dense_ms = 0, sparse_ms = 0;  // median calibration step of each mode
  int pairs = 0;               // timed pairs the medians are over (the warm-up pair excluded)
};

// The rule: medians of the pairs after the first; sparse only if sparse_ms < (1 - margin) * dense_ms.
// Both lists hold one entry per calibration request (equal sizes, >= 2).
StepChoice choose_step_mode(const std::vector<double>& dense_ms, const std::vector<double>& sparse_ms,
                            double margin);
// "sparse (sparse 1.210 ms, dense 1.390 ms, 7 pairs)" / "dense (...)" / "undecided" (log lines, bench notes).
std::string step_choice_text(const StepChoice& c);

}  // namespace dv::engine
