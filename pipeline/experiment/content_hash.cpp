// content_hash.cpp: file/directory identities and stage hashes.
#include "pipeline/experiment/content_hash.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "kernels/common/error.h"
#include "pipeline/experiment/experiment_yaml.h"
#include "pipeline/experiment/sha256.h"

namespace dv {

namespace fs = std::filesystem;

namespace {

std::string regular_file_identity(const std::string& path, int64_t hash_limit_bytes) {
  struct stat st {};
  DV_CHECK(::stat(path.c_str(), &st) == 0, "{}: cannot stat: {}", path, std::strerror(errno));
  if (st.st_size > hash_limit_bytes) {
    const int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    return fmt::format("size={};mtime_ns={}", static_cast<int64_t>(st.st_size), mtime_ns);
  }
  std::ifstream in(path, std::ios::binary);
  DV_CHECK(in.good(), "{}: cannot open", path);
  Sha256 h;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    h.update(buf.data(), static_cast<size_t>(in.gcount()));
  }
  DV_CHECK(!in.bad(), "{}: read failed", path);
  return "sha256:" + h.hex_digest();
}

// A checkpoint directory's files that a stage's result can depend on (see content_hash.h).
bool can_change_results(const fs::path& relative) {
  for (const auto& part : relative)
    if (!part.empty() && part.native()[0] == '.') return false;  // .git, .cache, .gitattributes
  static const char* const kKinds[] = {".json", ".safetensors", ".bin", ".txt", ".model"};
  const std::string ext = relative.extension().string();
  return std::any_of(std::begin(kKinds), std::end(kKinds), [&](const char* k) { return ext == k; });
}

}  // namespace

std::string file_identity(const std::string& path, int64_t hash_limit_bytes) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  DV_CHECK(!ec && fs::exists(status), "{}: no such file or directory", path);
  if (!fs::is_directory(status)) return regular_file_identity(path, hash_limit_bytes);
  std::vector<std::string> lines;
  for (auto it = fs::recursive_directory_iterator(path, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const fs::path relative = fs::relative(it->path(), path, ec);
    if (!can_change_results(relative)) continue;
    const std::string rel = relative.generic_string();
    lines.push_back(rel + "\t" + regular_file_identity(it->path().string(), hash_limit_bytes) + "\n");
  }
  DV_CHECK(!ec, "{}: cannot list: {}", path, ec.message());
  std::sort(lines.begin(), lines.end());
  Sha256 h;
  for (const std::string& l : lines) h.update(l);
  return "dir:" + h.hex_digest();
}

std::string stage_hash(const Experiment& e, Stage stage, const std::vector<std::string>& inputs) {
  Sha256 h;
  h.update(std::string("dejavu stage hash v1\n"));
  h.update(stage_config_yaml(e, stage, /*hashed_only=*/true));
  for (const std::string& in : inputs) h.update("input\t" + in + "\t" + file_identity(in) + "\n");
  return h.hex_digest();
}

std::string run_stage_hash(const Experiment& e, Stage stage, const std::vector<std::string>& inputs,
                           const std::string& run_root) {
  Sha256 h;
  h.update(std::string("dejavu stage hash v2\n"));
  h.update(stage_config_yaml(e, stage, /*hashed_only=*/true));
  const fs::path root = fs::absolute(run_root).lexically_normal();
  for (const std::string& in : inputs) {
    const fs::path rel = fs::absolute(in).lexically_normal().lexically_relative(root);
    const bool inside = !rel.empty() && *rel.begin() != "..";
    const fs::path maker = inside ? root / *rel.begin() / "stage.hash" : fs::path();
    if (inside && fs::exists(maker)) {
      std::ifstream f(maker, std::ios::binary);
      const std::string made_by((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      h.update("run input\t" + rel.generic_string() + "\tstage:" + made_by + "\n");
    } else {
      h.update("input\t" + in + "\t" + file_identity(in) + "\n");
    }
  }
  return h.hex_digest();
}

}  // namespace dv
