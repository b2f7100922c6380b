// main.cpp: kernel_bench, the kernel microbenchmark of the sparse MLP kernels, sparse_qkv and the predictor.
// Measures the device-to-device copy bandwidth first, then for each OPT shape, batch and density times
// sparse up, down and up+down against dense cuBLAS fc1, fc2 and fc1+fc2, and sparse_qkv (with its A/B
// variants) against the dense cuBLAS QKV GEMM (all validated before timing), prints
// a summary and writes kernel_bench.json / kernel_bench.csv to --out. Exit 1 if any validation failed,
// 2 on a dv::Error.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "kernels/bench/bench_device.cuh"
#include "kernels/bench/bench_report.h"
#include "kernels/bench/mlp_bench.h"
#include "kernels/bench/predictor_bench.h"
#include "kernels/bench/qkv_bench.h"
#include "kernels/common/build_info.h"
#include "kernels/common/cuda_check.h"

namespace {

int run(int argc, char** argv) {
  CLI::App app{"kernel_bench: sparse MLP kernels, sparse_qkv and the low-rank predictor vs dense cuBLAS, L2 flushed"};
  std::string out_dir = "kernel_bench_out";
  std::vector<std::string> shape_names;
  std::vector<double> densities_pct = {5, 10, 20, 30, 50, 70, 100};
  std::vector<int> batches = {1, 2, 4, 8, 16, 32};
  std::vector<double> qkv_densities_pct = {50, 100};
  std::vector<int> qkv_batches = {1, 8};
  int reps = 50, warmup = 3, rank = 1000;
  bool unsorted = false, quick = false, qkv_only = false;
  app.add_option("--out", out_dir, "output directory for kernel_bench.json / .csv");
  app.add_option("--shapes", shape_names, "OPT shapes (default: opt-1.3b opt-6.7b opt-13b opt-30b opt-66b)");
  app.add_option("--densities", densities_pct, "densities in percent of ffn");
  app.add_option("--batches", batches, "batch sizes (1..32)");
  app.add_option("--qkv-densities", qkv_densities_pct, "sparse_qkv: densities in percent of the heads");
  app.add_option("--qkv-batches", qkv_batches, "sparse_qkv: batch sizes (1..32)");
  app.add_option("--reps", reps, "timed repetitions per measurement (median reported)")->check(CLI::Range(3, 10000));
  app.add_option("--warmup", warmup, "untimed calls before each measurement")->check(CLI::Range(0, 100));
  app.add_option("--predictor-rank", rank, "predictor rank r (multiple of 8; 0 skips the predictor)");
  app.add_flag("--unsorted", unsorted, "selections in random order instead of ascending");
  app.add_flag("--qkv-only", qkv_only, "only the sparse_qkv rows (and the copy bandwidth)");
  app.add_flag("--quick", quick, "smoke run: opt-1.3b and opt-13b, batches 1 and 8, densities 10 and 50");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (quick) {
    if (shape_names.empty()) shape_names = {"opt-1.3b", "opt-13b"};
    batches = {1, 8};
    densities_pct = {10, 50};
  }
  for (int b : batches) DV_CHECK(b >= 1 && b <= 32, "kernel_bench: --batches value {} outside 1..32", b);
  for (double p : densities_pct) DV_CHECK(p > 0 && p <= 100, "kernel_bench: --densities value {} outside (0, 100]", p);
  for (int b : qkv_batches) DV_CHECK(b >= 1 && b <= 32, "kernel_bench: --qkv-batches value {} outside 1..32", b);
  for (double p : qkv_densities_pct)
    DV_CHECK(p > 0 && p <= 100, "kernel_bench: --qkv-densities value {} outside (0, 100]", p);
  DV_CHECK(rank >= 0 && rank % 8 == 0, "kernel_bench: --predictor-rank {} must be a multiple of 8", rank);
  std::vector<dv::bench::OptShape> shapes;
  for (const auto& s : dv::bench::opt_shapes())
    if (shape_names.empty() || std::find(shape_names.begin(), shape_names.end(), s.name) != shape_names.end())
      shapes.push_back(s);
  DV_CHECK(!shapes.empty(),
           "kernel_bench: no known shape among --shapes (opt-1.3b, opt-6.7b, opt-13b, opt-30b, opt-66b)");

  cudaDeviceProp prop{};
  DV_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t stream;
  DV_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  cublasHandle_t cublas;
  DV_CUBLAS_CHECK(cublasCreate(&cublas));
  DV_CUBLAS_CHECK(cublasSetStream(cublas, stream));

  dv::bench::BenchRun result;
  result.device = prop.name;
  result.sms = prop.multiProcessorCount;
  result.l2_bytes = static_cast<size_t>(prop.l2CacheSize);
  result.commit = dv::recorded_commit();
  result.reps = reps;
  result.copy_gbps = dv::bench::measure_copy_gbps(size_t{1} << 30, 20, stream);
  fmt::print("{}: {} SMs, L2 {} MB; device-to-device copy {:.0f} GB/s (read + write)\n", prop.name,
             prop.multiProcessorCount, prop.l2CacheSize >> 20, result.copy_gbps);

  const size_t flush_bytes = std::max<size_t>(4 * static_cast<size_t>(prop.l2CacheSize), size_t{128} << 20);
  void* flush_buf = nullptr;
  unsigned* sink = nullptr;
  DV_CUDA_CHECK(cudaMalloc(&flush_buf, flush_bytes));
  DV_CUDA_CHECK(cudaMalloc(&sink, sizeof(unsigned)));
  DV_CUDA_CHECK(cudaMemsetAsync(flush_buf, 0x3C, flush_bytes, stream));

  dv::bench::MlpBenchConfig cfg;
  cfg.batches = batches;
  for (double p : densities_pct) cfg.densities.push_back(p / 100.0);
  cfg.unsorted = unsorted;
  cfg.copy_gbps = result.copy_gbps;
  cfg.timer.stream = stream;
  cfg.timer.flush_buf = flush_buf;
  cfg.timer.flush_bytes = flush_bytes;
  cfg.timer.flush_sink = sink;
  cfg.timer.warmup = warmup;
  cfg.timer.reps = reps;
  dv::bench::PredictorBenchConfig pcfg;
  pcfg.batches = batches;
  pcfg.rank = rank;
  pcfg.timer = cfg.timer;
  pcfg.copy_gbps = result.copy_gbps;
  dv::bench::QkvBenchConfig qcfg;
  qcfg.batches = qkv_batches;
  for (double p : qkv_densities_pct) qcfg.densities.push_back(p / 100.0);
  qcfg.timer = cfg.timer;
  qcfg.copy_gbps = result.copy_gbps;
  for (const auto& s : shapes) {
    if (!qkv_only) dv::bench::bench_shape(s, cfg, cublas, result.rows);
    if (!qcfg.batches.empty()) dv::bench::bench_qkv(s, qcfg, cublas, result.rows);
    if (rank > 0 && !qkv_only) dv::bench::bench_predictor(s, pcfg, result.rows);
    dv::bench::write_outputs(result, out_dir);  // partial results survive a later failure
  }
  if (!qkv_only) {
    dv::bench::print_summary(result);
    dv::bench::print_predictor_summary(result);
  }
  dv::bench::print_qkv_summary(result);
  fmt::print("wrote {}/kernel_bench.json and kernel_bench.csv\n", out_dir);

  DV_CUDA_CHECK(cudaFree(flush_buf));
  DV_CUDA_CHECK(cudaFree(sink));
  DV_CUBLAS_CHECK(cublasDestroy(cublas));
  DV_CUDA_CHECK(cudaStreamDestroy(stream));
  for (const auto& r : result.rows)
    if (!r.valid) return 1;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const dv::Error& e) {
    std::fprintf(stderr, "kernel_bench: %s\n", e.what());
    return dv::kErrorExitCode;
  }
}
