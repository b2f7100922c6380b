// fused_bench.h: kernel_bench's rows for fused_mlp (LN + fc1 + ReLU + fc2 + bias + residual in one op) at one
// batch and selection, beside the up + down pair and dense cuBLAS rows that mlp_bench.cpp times.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <vector>

#include "kernels/bench/bench_report.h"
#include "kernels/bench/bench_tensors.h"
#include "kernels/bench/mlp_bench.h"

namespace dv::bench {

// The shape's tensors, owned by bench_shape (x, resid, out: [32, d]).
struct FusedBenchInputs {
  const __half *x = nullptr, *w1 = nullptr, *b1 = nullptr, *w2t = nullptr, *b2 = nullptr, *resid = nullptr;
  __half* out = nullptr;
};

// Owns what only the fused rows need: the LN weights (BenchTensors::gamma / beta), a host-normalized x, a
// second output, the op's workspace and the identity selection.
class FusedBench {
 public:
  FusedBench(const OptShape& s, const BenchTensors& T, const FusedBenchInputs& in, cudaStream_t stream);
  ~FusedBench();
  FusedBench(const FusedBench&) = delete;
  FusedBench& operator=(const FusedBench&) = delete;

  const int* identity() const { return ident_; }  // [ffn] = 0..ffn-1

  // Times fused_mlp on x as is ("fused"; "dense_fused" when idx is null) and with the layer norm fused
  // ("fused+ln" / "dense_fused+ln", where x fits the op's shared memory), L2 flushed. Validation: "fused"
  // against `expect` (the up + down output [B, d] of the same selection, itself validated on samples),
  // "fused+ln" against "fused" run on x normalized on the host. speedup: base_us / this time.
  void run(const MlpBenchConfig& cfg, int B, double density, int k, const int* idx, const int* k_dev,
           const std::vector<__half>& expect, double base_us, std::vector<BenchRow>& rows);

 private:
  OptShape s_;
  BenchTensors T_;
  FusedBenchInputs in_;
  __half *gamma_ = nullptr, *beta_ = nullptr, *xn_ = nullptr, *out_ref_ = nullptr;
  void* workspace_ = nullptr;
  int* ident_ = nullptr;
  int num_sms_ = 0;
};

}  // namespace dv::bench
