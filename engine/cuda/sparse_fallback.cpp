// sparse_fallback.cpp: see sparse_fallback.h.
#include "engine/cuda/sparse_fallback.h"

#include <algorithm>

#include <fmt/format.h>

#include "kernels/common/error.h"

namespace dv::engine {
namespace {

double median_after_first(std::vector<double> v) {
  v.erase(v.begin());
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

}  // namespace

void check_sparse_fallback(const SparseFallback& f) {
  DV_CHECK(f.calibration_steps >= 2,
           "sparse_fallback.calibration_steps must be >= 2 (the first pair only warms up), not {}",
           f.calibration_steps);
  DV_CHECK(f.margin >= 0 && f.margin < 0.5, "sparse_fallback.margin must be in [0, 0.5), not {}", f.margin);
}

bool parse_sparse_fallback(const std::string& name) {
  if (name == "auto") return true;
  if (name == "off") return false;
  DV_FAIL("--sparse-fallback '{}': expected auto or off", name);
}

StepChoice choose_step_mode(const std::vector<double>& dense_ms, const std::vector<double>& sparse_ms,
                            double margin) {
  DV_CHECK(dense_ms.size() == sparse_ms.size() && dense_ms.size() >= 2,
           "sparse fallback: {} dense and {} sparse timings (equal counts, >= 2)", dense_ms.size(), sparse_ms.size());
  StepChoice c;
  c.decided = true;
  c.pairs = static_cast<int>(dense_ms.size()) - 1;
  c.dense_ms = median_after_first(dense_ms);
  c.sparse_ms = median_after_first(sparse_ms);
  c.sparse = c.sparse_ms < (1.0 - margin) * c.dense_ms;
  return c;
}

std::string step_choice_text(const StepChoice& c) {
  if (!c.decided) return "undecided";
  return fmt::format("{} (sparse {:.3f} ms, dense {:.3f} ms, {} pairs)", c.sparse ? "sparse" : "dense", c.sparse_ms,
                     c.dense_ms, c.pairs);
}

}  // namespace dv::engine
