// h5_handle.cpp: HDF5 id ownership, error-stack summarising and the half-precision type.
#include "pipeline/store/h5_handle.h"

#include <vector>

#include "kernels/common/error.h"

namespace dv {

H5Id& H5Id::operator=(H5Id&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = -1;
  }
  return *this;
}

herr_t H5Id::close() {
  herr_t rc = 0;
  if (id_ >= 0 && closer_ != nullptr) rc = closer_(id_);
  id_ = -1;
  return rc;
}

void h5_quiet() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

namespace {

herr_t collect_error(unsigned, const H5E_error2_t* err, void* out) {
  auto* lines = static_cast<std::vector<std::string>*>(out);
  if (err->desc != nullptr) lines->emplace_back(err->desc);
  return 0;
}

// HDF5's low-level write errors embed the C library's message: "... errno = 27, error message =
// 'File too large', ...". That message is what a user can act on.
std::string strerror_part(const std::string& line) {
  const std::string key = "error message = '";
  const auto at = line.find(key);
  if (at == std::string::npos) return {};
  const auto end = line.find('\'', at + key.size());
  std::string msg = line.substr(at + key.size(), end == std::string::npos ? std::string::npos : end - at - key.size());
  const auto errno_at = line.find("errno = ");
  if (errno_at != std::string::npos) {
    const auto comma = line.find(',', errno_at);
    msg += " (" + line.substr(errno_at, comma == std::string::npos ? std::string::npos : comma - errno_at) + ")";
  }
  return msg;
}

}  // namespace

std::string h5_error_detail() {
  std::vector<std::string> lines;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, collect_error, &lines);
  if (lines.empty()) return "unknown HDF5 error";
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    std::string msg = strerror_part(*it);
    if (!msg.empty()) return msg;
  }
  std::string detail = lines.back();
  for (char& c : detail) {
    if (c == '\n' || c == '\r') c = ' ';
  }
  return detail;
}

void h5_fail(const std::string& file, std::string_view object, std::string_view action) {
  const std::string detail = h5_error_detail();
  H5Eclear2(H5E_DEFAULT);
  if (object.empty()) DV_FAIL("{}: cannot {}: {}", file, action, detail);
  DV_FAIL("{}: cannot {} {}: {}", file, action, object, detail);
}

H5Id h5_owned_file(hid_t id, const std::string& file, std::string_view action) {
  return H5Id(h5_check(id, file, "", action), H5Fclose);
}
H5Id h5_owned_group(hid_t id, const std::string& file, std::string_view object, std::string_view action) {
  return H5Id(h5_check(id, file, object, action), H5Gclose);
}
H5Id h5_owned_dataset(hid_t id, const std::string& file, std::string_view object, std::string_view action) {
  return H5Id(h5_check(id, file, object, action), H5Dclose);
}
H5Id h5_owned_space(hid_t id, const std::string& file, std::string_view object, std::string_view action) {
  return H5Id(h5_check(id, file, object, action), H5Sclose);
}
H5Id h5_owned_type(hid_t id, const std::string& file, std::string_view object, std::string_view action) {
  return H5Id(h5_check(id, file, object, action), H5Tclose);
}
H5Id h5_owned_plist(hid_t id, const std::string& file, std::string_view object, std::string_view action) {
  return H5Id(h5_check(id, file, object, action), H5Pclose);
}
H5Id h5_owned_attr(hid_t id, const std::string& file, std::string_view object, std::string_view action) {
  return H5Id(h5_check(id, file, object, action), H5Aclose);
}

H5Id h5_half_type(const std::string& file) {
  H5Id t = h5_owned_type(H5Tcopy(H5T_IEEE_F32LE), file, "float16", "build the datatype");
  // sign at bit 15, 5 exponent bits from bit 10, 10 mantissa bits from bit 0; bias 15.
  h5_check_status(H5Tset_fields(t.get(), 15, 10, 5, 0, 10), file, "float16", "build the datatype");
  h5_check_status(H5Tset_size(t.get(), 2), file, "float16", "build the datatype");
  h5_check_status(H5Tset_ebias(t.get(), 15), file, "float16", "build the datatype");
  return t;
}

}  // namespace dv
