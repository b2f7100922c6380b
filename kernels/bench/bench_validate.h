// bench_validate.h: sampled validation of every timed operation against double-precision sums over the
// hashed tensors (bench_tensors.h). A full reference at opt-66b shapes would take minutes of CPU per
// configuration; sampled outputs at random positions catch any indexing or layout error at every shape.
// The pass rule is expect_close's: |got - ref| <= 1e-2 * (|ref| + rms(ref)), every value finite.
#pragma once

#include <cuda_fp16.h>

#include <random>
#include <string>
#include <vector>

#include "kernels/bench/bench_tensors.h"

namespace dv::bench {

struct SampleCheck {
  std::vector<double> got, ref;
  void add(double g, double r) {
    got.push_back(g);
    ref.push_back(r);
  }
  bool ok() const;
  std::string describe() const;  // worst sample, for the row's note
};

constexpr int kSamples = 48;

// h [B, ld_h] from sparse_mlp_up for the selection idx[0..k).
SampleCheck check_up(const BenchTensors& T, const std::vector<__half>& h, int ld_h, const std::vector<int>& idx,
                     int k, int B, std::mt19937_64& rng);
// out [B, d] from sparse_mlp_down, given the h it consumed.
SampleCheck check_down(const BenchTensors& T, const std::vector<__half>& out, const std::vector<__half>& h,
                       int ld_h, const std::vector<int>& idx, int k, int B, std::mt19937_64& rng);
// Dense fc1 output H [B, ffn] (no bias, no ReLU) and fc2 output [B, d] (no bias, no residual) given H.
SampleCheck check_dense_fc1(const BenchTensors& T, const std::vector<__half>& H, int B, std::mt19937_64& rng);
SampleCheck check_dense_fc2(const BenchTensors& T, const std::vector<__half>& out, const std::vector<__half>& H,
                            int B, std::mt19937_64& rng);
// Predictor: z [B, r], and scores [ffn] (max over the batch of z Wb^T, from the device z).
SampleCheck check_predictor_z(const BenchTensors& T, const std::vector<__half>& z, int B, std::mt19937_64& rng);
SampleCheck check_predictor_scores(const BenchTensors& T, const std::vector<__half>& z,
                                   const std::vector<float>& scores, int B, std::mt19937_64& rng);

}  // namespace dv::bench
