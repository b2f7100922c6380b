// bench_bytes.cpp: byte counts and the copy-bandwidth ceiling.
#include "engine/cuda/bench_bytes.h"

#include <algorithm>
#include <vector>

#include <cuda_runtime.h>

#include "kernels/common/cuda_check.h"

namespace dv::engine {

StepBytes step_bytes(const OptConfig& c, int batch, double mean_len, int mlp_kept, int heads_kept) {
  const double d = static_cast<double>(c.hidden_size), hd = static_cast<double>(c.head_dim());
  const double e = static_cast<double>(c.word_embed_proj_dim), L = static_cast<double>(c.num_hidden_layers);
  const double k = mlp_kept, kh = heads_kept, B = batch, h2 = 2;  // fp16 bytes
  StepBytes s;
  const double attention = kh * hd * (3 * d + 3) + kh * hd * d + d;  // q/k/v rows + biases, W_o^T rows + bias
  const double mlp = k * d + k + k * d + d;                           // fc1 rows + bias, fc2^T rows + bias
  const double norms = 4 * d;
  s.weights = h2 * (L * (attention + mlp + norms) + static_cast<double>(c.vocab_size) * e + B * (e + d) +
                    (c.has_projection() ? 2 * d * e : 0) + 2 * d);
  s.kv = h2 * L * 2 * B * kh * mean_len * hd;
  return s;
}

double catchup_bytes(const OptConfig& c, int batch, double head_positions) {
  const double d = static_cast<double>(c.hidden_size), hd = static_cast<double>(c.head_dim());
  return head_positions * batch * (d + 2 * hd) * 2;  // fp16 x rows read, K and V rows written
}

double measure_copy_gbps(size_t bytes, int reps) {
  void *src = nullptr, *dst = nullptr;
  DV_CUDA_CHECK(cudaMalloc(&src, bytes));
  DV_CUDA_CHECK(cudaMalloc(&dst, bytes));
  DV_CUDA_CHECK(cudaMemset(src, 1, bytes));
  cudaEvent_t a = nullptr, b = nullptr;
  DV_CUDA_CHECK(cudaEventCreate(&a));
  DV_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<float> ms;
  for (int i = 0; i < reps + 3; ++i) {
    DV_CUDA_CHECK(cudaEventRecord(a, nullptr));
    DV_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, nullptr));
    DV_CUDA_CHECK(cudaEventRecord(b, nullptr));
    DV_CUDA_CHECK(cudaEventSynchronize(b));
    float t = 0;
    DV_CUDA_CHECK(cudaEventElapsedTime(&t, a, b));
    if (i >= 3) ms.push_back(t);  // the first copies warm the clocks up
  }
  (void)cudaEventDestroy(a);
  (void)cudaEventDestroy(b);
  (void)cudaFree(src);
  (void)cudaFree(dst);
  std::sort(ms.begin(), ms.end());
  const double median_s = ms[ms.size() / 2] * 1e-3;
  return 2.0 * static_cast<double>(bytes) / median_s / 1e9;
}

}  // namespace dv::engine
