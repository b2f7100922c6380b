// store_test_util.cpp: scratch dirs, store comparisons and fork helpers for the store tests.
#include "tests/store/store_test_util.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include <gtest/gtest.h>

#include "kernels/common/error.h"
#include "tests/store/synthetic_rows.h"

namespace dv::test {

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = std::string(tmp != nullptr && *tmp ? tmp : "/tmp") + "/dv_store_test_XXXXXX";
  std::vector<char> buf(pattern.begin(), pattern.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) throw Error("mkdtemp failed: " + std::string(std::strerror(errno)));
  path_ = buf.data();
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

// Compares one dataset block of `n` rows starting at `row0`; returns false after the first miss.
template <typename T>
bool expect_rows_equal(const std::vector<T>& got, const std::vector<T>& want, int64_t cols, int64_t row0,
                       const std::string& what) {
  if (got.size() != want.size()) {
    ADD_FAILURE() << what << ": " << got.size() << " elements, expected " << want.size();
    return false;
  }
  if (std::memcmp(got.data(), want.data(), got.size() * sizeof(T)) == 0) return true;
  for (size_t i = 0; i < got.size(); ++i) {
    if (std::memcmp(&got[i], &want[i], sizeof(T)) != 0) {
      ADD_FAILURE() << what << ": first difference at row " << row0 + static_cast<int64_t>(i) / std::max<int64_t>(1, cols)
                    << " column " << static_cast<int64_t>(i) % std::max<int64_t>(1, cols);
      return false;
    }
  }
  return true;
}

}  // namespace

void expect_store_matches(const ActivationReader& reader, uint64_t seed) {
  const StoreShape& s = reader.shape();
  const int64_t block = 97;  // deliberately not a multiple of the chunk height
  for (int64_t r0 = 0; r0 < reader.rows(); r0 += block) {
    const int64_t n = std::min(block, reader.rows() - r0);
    const auto un = static_cast<size_t>(n);
    SyntheticRows want(s, seed, r0, n);
    std::vector<int32_t> tok(un), pos(un), win(un);
    reader.read_tokens(r0, n, tok.data(), pos.data(), win.data());
    if (!expect_rows_equal(tok, want.token_id, 1, r0, "token_id")) return;
    if (!expect_rows_equal(pos, want.position, 1, r0, "position")) return;
    if (!expect_rows_equal(win, want.window, 1, r0, "window")) return;
    for (int64_t l = 0; l < s.n_layers; ++l) {
      const SyntheticRows::Layer& L = want.layers[static_cast<size_t>(l)];
      std::vector<uint16_t> h(un * static_cast<size_t>(s.hidden_size));
      reader.read_rows(l, LayerField::kAttnInput, r0, n, h.data());
      if (!expect_rows_equal(h, L.attn_input, s.hidden_size, r0, layer_dataset_path(l, LayerField::kAttnInput))) return;
      reader.read_rows(l, LayerField::kMlpInput, r0, n, h.data());
      if (!expect_rows_equal(h, L.mlp_input, s.hidden_size, r0, layer_dataset_path(l, LayerField::kMlpInput))) return;
      std::vector<uint8_t> packed(un * static_cast<size_t>(s.fc1_packed_bytes()));
      reader.read_rows(l, LayerField::kFc1Active, r0, n, packed.data());
      if (!expect_rows_equal(packed, L.fc1_active, s.fc1_packed_bytes(), r0,
                             layer_dataset_path(l, LayerField::kFc1Active))) {
        return;
      }
      std::vector<float> norms(un * static_cast<size_t>(s.num_heads));
      reader.read_rows(l, LayerField::kHeadNorm, r0, n, norms.data());
      if (!expect_rows_equal(norms, L.head_norm, s.num_heads, r0, layer_dataset_path(l, LayerField::kHeadNorm))) return;
      if (s.has_fc1_value) {
        std::vector<uint16_t> v(un * static_cast<size_t>(s.ffn_dim));
        reader.read_rows(l, LayerField::kFc1Value, r0, n, v.data());
        if (!expect_rows_equal(v, L.fc1_value, s.ffn_dim, r0, layer_dataset_path(l, LayerField::kFc1Value))) return;
      }
    }
  }
}

void expect_stores_equal(const ActivationReader& a, const ActivationReader& b) {
  ASSERT_EQ(a.rows(), b.rows());
  const StoreMeta& ma = a.meta();
  const StoreMeta& mb = b.meta();
  EXPECT_EQ(ma.model_config, mb.model_config);
  EXPECT_EQ(ma.corpus_identity, mb.corpus_identity);
  EXPECT_EQ(ma.sample_settings, mb.sample_settings);
  EXPECT_EQ(a.complete(), b.complete());
  const StoreShape& s = ma.shape;
  ASSERT_EQ(s.n_layers, mb.shape.n_layers);
  ASSERT_EQ(s.has_fc1_value, mb.shape.has_fc1_value);
  const int64_t block = 101;
  for (int64_t r0 = 0; r0 < a.rows(); r0 += block) {
    const int64_t n = std::min(block, a.rows() - r0);
    const auto un = static_cast<size_t>(n);
    std::vector<int32_t> ta(un * 3), tb(un * 3);
    a.read_tokens(r0, n, ta.data(), ta.data() + un, ta.data() + 2 * un);
    b.read_tokens(r0, n, tb.data(), tb.data() + un, tb.data() + 2 * un);
    if (!expect_rows_equal(ta, tb, 1, r0, "/tokens")) return;
    for (int64_t l = 0; l < s.n_layers; ++l) {
      for (LayerField f : kAllLayerFields) {
        if (!s.has_field(f)) continue;
        const size_t bytes = un * static_cast<size_t>(s.row_bytes(f));
        std::vector<uint8_t> xa(bytes), xb(bytes);
        // Read as raw element bytes through the overload of the field's stored type.
        switch (layer_field_dtype(f)) {
          case StoreDtype::kFloat16:
            a.read_rows(l, f, r0, n, reinterpret_cast<uint16_t*>(xa.data()));
            b.read_rows(l, f, r0, n, reinterpret_cast<uint16_t*>(xb.data()));
            break;
          case StoreDtype::kFloat32:
            a.read_rows(l, f, r0, n, reinterpret_cast<float*>(xa.data()));
            b.read_rows(l, f, r0, n, reinterpret_cast<float*>(xb.data()));
            break;
          default:
            a.read_rows(l, f, r0, n, xa.data());
            b.read_rows(l, f, r0, n, xb.data());
        }
        if (!expect_rows_equal(xa, xb, s.row_bytes(f), r0, layer_dataset_path(l, f))) return;
      }
    }
  }
}

pid_t fork_child(const std::function<void()>& body) {
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  int code = 0;
  try {
    body();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "child: %s\n", e.what());
    code = 3;
  }
  std::fflush(nullptr);
  ::_exit(code);
}

int wait_child(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

void expect_error(const std::function<void()>& fn, std::initializer_list<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "expected a dv::Error containing '" << *needles.begin() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& n : needles) {
      EXPECT_NE(msg.find(n), std::string::npos) << "message '" << msg << "' lacks '" << n << "'";
    }
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message is not one line: " << msg;
  }
}

}  // namespace dv::test
