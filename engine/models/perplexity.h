// perplexity.h: the Hugging Face fixed-length perplexity recipe with stride = window length, so
// anyone can check our numbers: the token stream (with OPT's </s> first) is cut into consecutive
// windows of L tokens (a shorter last window too), each scored on its own; every token after a
// window's first is predicted from its prefix; perplexity = exp(mean NLL over predicted tokens).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "engine/models/opt_model.h"

namespace dv {

struct PerplexityOptions {
  int64_t seq_len = 0;     // window length L; 0 = min(max_position_embeddings, 2048)
  int64_t batch = 1;       // full windows scored together
  bool show_progress = true;
};

struct PerplexityResult {
  double perplexity = 0;
  double mean_nll = 0;
  int64_t predicted_tokens = 0;  // tokens with a prediction: sum over windows of (length - 1)
  int64_t input_tokens = 0;
  int64_t windows = 0;
  int64_t seq_len = 0;
  double seconds = 0;
  double tokens_per_second = 0;  // input tokens through the model per second
};

// Fills mean_nll, perplexity, seconds and tokens_per_second from the NLL sum over r.predicted_tokens and
// the time since t0 (shared by the reference model and the CUDA engine's perplexity loops).
void finish_perplexity(PerplexityResult& r, double nll_sum, int64_t input_tokens,
                       std::chrono::steady_clock::time_point t0);

// Sum of negative log-likelihoods of ids[1:] given ids[:-1], for one [B, T] block of windows.
double window_nll_sum(const at::Tensor& logits, const at::Tensor& ids);

// The recipe's loop for any scorer: windows of seq_len tokens (checked by the caller), `batch` full windows
// per call and then the tail; nll(windows) returns their NLL sum (each window predicts size - 1 tokens).
using WindowsNll = std::function<double(const std::vector<std::vector<int32_t>>& windows)>;
PerplexityResult windowed_perplexity(const std::vector<int32_t>& ids, int64_t seq_len, int64_t batch,
                                     const std::string& label, bool show_progress, const WindowsNll& nll);

PerplexityResult compute_perplexity(const OptModel& model, const std::vector<int32_t>& ids,
                                    const PerplexityOptions& options, const ForwardHooks* hooks = nullptr);

}  // namespace dv
