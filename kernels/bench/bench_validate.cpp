// bench_validate.cpp: the sampled reference sums behind bench_validate.h.
#include "kernels/bench/bench_validate.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace dv::bench {
namespace {

double rms(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return v.empty() ? 0 : std::sqrt(s / static_cast<double>(v.size()));
}

double h2d(__half h) { return static_cast<double>(__half2float(h)); }

}  // namespace

bool SampleCheck::ok() const {
  const double scale = rms(ref);
  for (size_t i = 0; i < got.size(); ++i)
    if (!std::isfinite(got[i]) || std::fabs(got[i] - ref[i]) > 1e-2 * (std::fabs(ref[i]) + scale)) return false;
  return !got.empty();
}

std::string SampleCheck::describe() const {
  size_t worst = 0;
  double worst_err = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    const double e = std::isfinite(got[i]) ? std::fabs(got[i] - ref[i]) : INFINITY;
    if (e > worst_err) {
      worst_err = e;
      worst = i;
    }
  }
  if (got.empty()) return "no samples";
  return fmt::format("{} samples, worst got {:.5g} ref {:.5g} (rms ref {:.3g})", got.size(), got[worst], ref[worst],
                     rms(ref));
}

SampleCheck check_up(const BenchTensors& T, const std::vector<__half>& h, int ld_h, const std::vector<int>& idx,
                     int k, int B, std::mt19937_64& rng) {
  SampleCheck c;
  std::uniform_int_distribution<int> pb(0, B - 1), pj(0, std::max(k - 1, 0));
  for (int s = 0; s < kSamples && k > 0; ++s) {
    const int b = pb(rng), j = pj(rng), row = idx[static_cast<size_t>(j)];
    double acc = T.b1(row);
    for (int col = 0; col < T.d; ++col) acc += static_cast<double>(T.w1(row, col)) * T.x(b, col);
    c.add(h2d(h[static_cast<size_t>(b) * ld_h + j]), acc > 0 ? acc : 0.0);
  }
  return c;
}

SampleCheck check_down(const BenchTensors& T, const std::vector<__half>& out, const std::vector<__half>& h,
                       int ld_h, const std::vector<int>& idx, int k, int B, std::mt19937_64& rng) {
  SampleCheck c;
  std::uniform_int_distribution<int> pb(0, B - 1), pc(0, T.d - 1);
  for (int s = 0; s < kSamples; ++s) {
    const int b = pb(rng), col = pc(rng);
    double acc = static_cast<double>(T.resid(b, col)) + T.b2(col);
    for (int j = 0; j < k; ++j)
      acc += h2d(h[static_cast<size_t>(b) * ld_h + j]) * T.w2t(idx[static_cast<size_t>(j)], col);
    c.add(h2d(out[static_cast<size_t>(b) * T.d + col]), acc);
  }
  return c;
}

SampleCheck check_dense_fc1(const BenchTensors& T, const std::vector<__half>& H, int B, std::mt19937_64& rng) {
  SampleCheck c;
  std::uniform_int_distribution<int> pb(0, B - 1), pj(0, T.ffn - 1);
  for (int s = 0; s < kSamples / 2; ++s) {
    const int b = pb(rng), j = pj(rng);
    double acc = 0;
    for (int col = 0; col < T.d; ++col) acc += static_cast<double>(T.w1(j, col)) * T.x(b, col);
    c.add(h2d(H[static_cast<size_t>(b) * T.ffn + j]), acc);
  }
  return c;
}

SampleCheck check_dense_fc2(const BenchTensors& T, const std::vector<__half>& out, const std::vector<__half>& H,
                            int B, std::mt19937_64& rng) {
  SampleCheck c;
  std::uniform_int_distribution<int> pb(0, B - 1), pc(0, T.d - 1);
  for (int s = 0; s < kSamples / 2; ++s) {
    const int b = pb(rng), col = pc(rng);
    double acc = 0;
    for (int j = 0; j < T.ffn; ++j) acc += h2d(H[static_cast<size_t>(b) * T.ffn + j]) * T.w2t(j, col);
    c.add(h2d(out[static_cast<size_t>(b) * T.d + col]), acc);
  }
  return c;
}

SampleCheck check_predictor_z(const BenchTensors& T, const std::vector<__half>& z, int B, std::mt19937_64& rng) {
  SampleCheck c;
  std::uniform_int_distribution<int> pb(0, B - 1), pi(0, T.r - 1);
  for (int s = 0; s < kSamples / 2; ++s) {
    const int b = pb(rng), i = pi(rng);
    double acc = 0;
    for (int col = 0; col < T.d; ++col) acc += static_cast<double>(T.wa(i, col)) * T.x(b, col);
    c.add(h2d(z[static_cast<size_t>(b) * T.r + i]), acc);
  }
  return c;
}

SampleCheck check_predictor_scores(const BenchTensors& T, const std::vector<__half>& z,
                                   const std::vector<float>& scores, int B, std::mt19937_64& rng) {
  SampleCheck c;
  std::uniform_int_distribution<int> pj(0, T.ffn - 1);
  for (int s = 0; s < kSamples / 2; ++s) {
    const int j = pj(rng);
    double best = -INFINITY;
    for (int b = 0; b < B; ++b) {
      double acc = 0;
      for (int i = 0; i < T.r; ++i) acc += h2d(z[static_cast<size_t>(b) * T.r + i]) * T.wb(j, i);
      best = std::max(best, acc);
    }
    c.add(static_cast<double>(scores[static_cast<size_t>(j)]), best);
  }
  return c;
}

}  // namespace dv::bench
