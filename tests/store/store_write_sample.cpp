// store_write_sample.cpp: writes a small activation store and, beside it, the raw arrays it
// should contain, for tests/store/test_store_h5py.py to check the layout as a Python user
// sees it. Usage: store_write_sample OUT_DIR -> OUT_DIR/sample.h5, OUT_DIR/expected/*.bin,
// OUT_DIR/expected/manifest.json. Exit 2 with a one-line message on any dv::Error.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "kernels/common/error.h"
#include "pipeline/store/activation_writer.h"
#include "tests/store/synthetic_rows.h"

namespace {

template <typename T>
void append_raw(const std::string& path, const std::vector<T>& v) {
  std::ofstream out(path, std::ios::binary | std::ios::app);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(T)));
  DV_CHECK(out.good(), "{}: write failed", path);
}

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

void run(const std::string& out_dir) {
  namespace fs = std::filesystem;
  const std::string expected = out_dir + "/expected";
  fs::create_directories(expected);
  dv::StoreShape shape;
  shape.n_layers = 2;
  shape.hidden_size = 24;
  shape.num_heads = 3;
  shape.head_dim = 8;
  shape.ffn_dim = 37;
  shape.has_fc1_value = true;
  const int64_t rows = 53;
  const uint64_t seed = 20230711;
  const dv::StoreMeta meta = dv::test::test_meta(shape, R"({"seq_len":61,"sample_every":1})");
  dv::WriterOptions opts;
  opts.chunk_rows = 16;
  opts.force = true;
  dv::ActivationWriter w(out_dir + "/sample.h5", meta, opts);
  for (const auto& entry : fs::directory_iterator(expected)) fs::remove(entry.path());
  // Two batches that straddle chunk boundaries.
  for (auto [row0, n] : {std::pair<int64_t, int64_t>{0, 20}, {20, 33}}) {
    dv::test::SyntheticRows batch(shape, seed, row0, n);
    w.append_batch(batch.batch());
    w.commit();
    append_raw(expected + "/token_id.bin", batch.token_id);
    append_raw(expected + "/position.bin", batch.position);
    append_raw(expected + "/window.bin", batch.window);
    for (int64_t l = 0; l < shape.n_layers; ++l) {
      const auto& L = batch.layers[static_cast<size_t>(l)];
      const std::string p = fmt::format("{}/layer_{:03d}_", expected, l);
      append_raw(p + "attn_input.bin", L.attn_input);
      append_raw(p + "mlp_input.bin", L.mlp_input);
      append_raw(p + "fc1_mask.bin", L.fc1_mask);  // unpacked 0/1: what unpackbits must give
      append_raw(p + "head_norm.bin", L.head_norm);
      append_raw(p + "fc1_value.bin", L.fc1_value);
    }
  }
  w.finish();
  std::ofstream manifest(expected + "/manifest.json");
  manifest << fmt::format(
      "{{\"rows\": {}, \"n_layers\": {}, \"hidden_size\": {}, \"ffn_dim\": {}, \"num_heads\": {}, \"head_dim\": {}, "
      "\"chunk_rows\": {}, \"model_config\": {}, \"model_dir\": {}, \"corpus\": {}, \"corpus_identity\": {}, "
      "\"sample_settings\": {}, \"created_by\": {}}}\n",
      rows, shape.n_layers, shape.hidden_size, shape.ffn_dim, shape.num_heads, shape.head_dim, opts.chunk_rows,
      json_string(meta.model_config), json_string(meta.model_dir), json_string(meta.corpus),
      json_string(meta.corpus_identity), json_string(meta.sample_settings), json_string(meta.created_by));
  DV_CHECK(manifest.good(), "{}/manifest.json: write failed", expected);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  try {
    run(argv[1]);
  } catch (const dv::Error& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return dv::kErrorExitCode;
  }
  return 0;
}
