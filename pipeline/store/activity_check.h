// activity_check.h: what a store's fc1 activity says about the model's weights. A ReLU MLP with random
// (untrained) weights fires for about half of its inputs in every layer: there is no contextual sparsity to
// find, and every later number (predictor recall, sparse perplexity) would only say so. Trained OPTs keep
// 3-35% of their neurons active. collect checks the store it wrote and measure its per-layer statistics, so
// a run on a random checkpoint says so from its first stage on (warning code "random_weights").
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "pipeline/store/activation_reader.h"

namespace dv {

// The warning code the run summary tests for.
constexpr const char* kRandomWeightsWarning = "random_weights";

// Mean fraction of fc1 neurons active per token, per layer, over the store's first max_rows rows; empty when
// the store keeps no fc1_active field or no row.
std::vector<double> fc1_active_fractions(const ActivationReader& store, int64_t max_rows = 4096);

// The warning text when every layer is 40-60% active ("about 50%"), else "". `what` names the store.
std::string untrained_weights_warning(const std::vector<double>& active_per_layer, const std::string& what);

}  // namespace dv
