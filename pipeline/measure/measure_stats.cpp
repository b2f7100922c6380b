// measure_stats.cpp: per-layer statistics, streamed in row chunks aligned to the store's chunks.
#include "pipeline/measure/measure_stats.h"

#include <algorithm>
#include <cmath>
#include <functional>

#include <Eigen/Dense>

#include "engine/io/interrupt.h"
#include "engine/io/progress.h"
#include "pipeline/store/bit_pack.h"

namespace dv {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMatrix read_matrix(const ActivationReader& s, int64_t layer, LayerField f, int64_t row0, int64_t n) {
  RowMatrix m(n, s.shape().cols(f));
  s.read_rows(layer, f, row0, n, m.data());
  return m;
}

// Mean fraction of heads needed, per token, to reach `share` of that token's total head-norm mass.
double heads_needed(const RowMatrix& norms, double share) {
  const int64_t H = norms.cols();
  double sum = 0;
  std::vector<float> row(H);
  for (int64_t i = 0; i < norms.rows(); ++i) {
    for (int64_t h = 0; h < H; ++h) row[h] = norms(i, h);
    std::sort(row.begin(), row.end(), std::greater<float>());
    double total = 0;
    for (float v : row) total += v;
    double acc = 0;
    int64_t k = 0;
    while (k < H && acc < share * total - 1e-12) acc += row[k++];
    sum += static_cast<double>(std::max<int64_t>(k, 1)) / H;
  }
  return sum;
}

Eigen::ArrayXf row_cosine(const RowMatrix& a, const RowMatrix& b) {
  const Eigen::ArrayXf dot = (a.array() * b.array()).rowwise().sum();
  const Eigen::ArrayXf na = a.rowwise().norm().array(), nb = b.rowwise().norm().array();
  return dot / (na * nb).max(1e-12f);
}

}  // namespace

std::vector<LayerStats> measure_store_stats(const ActivationReader& s, const MeasureStatsOptions& o) {
  const StoreShape& shape = s.shape();
  const int64_t N = o.max_rows > 0 ? std::min(o.max_rows, s.rows()) : s.rows();
  const int64_t L = shape.n_layers, F = shape.ffn_dim;
  const int64_t chunk = std::max<int64_t>(s.chunk_rows(), 256);
  std::vector<LayerStats> out(L);
  std::vector<std::vector<uint8_t>> ever(L, std::vector<uint8_t>(F, 0));
  std::vector<double> active_sq(L, 0);
  Progress bar("measure", N * L, "layer-rows", o.show_progress);
  for (int64_t row0 = 0; row0 < N; row0 += chunk) {
    check_interrupt("measure");  // between chunks: a stop request ends the stage, nothing half-written
    const int64_t n = std::min(chunk, N - row0);
    RowMatrix next_attn;  // attn_input of layer l+1, read once and reused as layer l+1's own
    RowMatrix attn = read_matrix(s, 0, LayerField::kAttnInput, row0, n);
    for (int64_t l = 0; l < L; ++l) {
      LayerStats& st = out[l];
      st.layer = l;
      const RowMatrix mlp = read_matrix(s, l, LayerField::kMlpInput, row0, n);
      std::vector<uint8_t> packed(n * shape.fc1_packed_bytes()), mask(n * F);
      s.read_rows(l, LayerField::kFc1Active, row0, n, packed.data());
      unpack_bits(packed.data(), n, F, mask.data());
      for (int64_t i = 0; i < n; ++i) {
        int64_t count = 0;
        for (int64_t j = 0; j < F; ++j) {
          count += mask[i * F + j];
          ever[l][j] |= mask[i * F + j];
        }
        const double frac = static_cast<double>(count) / F;
        st.mlp_active_mean += frac;
        active_sq[l] += frac * frac;
      }
      const RowMatrix norms = read_matrix(s, l, LayerField::kHeadNorm, row0, n);
      st.heads_for_share.resize(o.norm_shares.size(), 0.0);
      for (size_t k = 0; k < o.norm_shares.size(); ++k) st.heads_for_share[k] += heads_needed(norms, o.norm_shares[k]);
      st.cos_attn_mlp += row_cosine(attn, mlp).sum();
      st.norm_x += attn.rowwise().norm().sum();
      st.norm_attn_delta += (mlp - attn).rowwise().norm().sum();
      st.norm_mlp_x += mlp.rowwise().norm().sum();
      if (l + 1 < L) {
        next_attn = read_matrix(s, l + 1, LayerField::kAttnInput, row0, n);
        st.cos_next_layer += row_cosine(attn, next_attn).sum();
        st.norm_mlp_delta += (next_attn - mlp).rowwise().norm().sum();
        attn = std::move(next_attn);
      }
      bar.advance(n);
    }
  }
  bar.finish();
  const double inv = N > 0 ? 1.0 / static_cast<double>(N) : 0.0;
  for (int64_t l = 0; l < L; ++l) {
    LayerStats& st = out[l];
    st.mlp_active_mean *= inv;
    st.mlp_active_std = std::sqrt(std::max(0.0, active_sq[l] * inv - st.mlp_active_mean * st.mlp_active_mean));
    int64_t ever_count = 0;
    for (uint8_t b : ever[l]) ever_count += b;
    st.mlp_ever_active = static_cast<double>(ever_count) / F;
    for (double& v : st.heads_for_share) v *= inv;
    st.cos_attn_mlp *= inv;
    st.cos_next_layer *= inv;
    st.norm_x *= inv;
    st.norm_attn_delta *= inv;
    st.norm_mlp_x *= inv;
    st.norm_mlp_delta *= inv;
  }
  return out;
}

}  // namespace dv
