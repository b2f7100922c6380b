// h5_handle.h: RAII ownership of HDF5 ids and the one way HDF5 failures become dv::Error.
// Every HDF5 call in the store goes through h5_check(), which throws a one-line dv::Error
// naming the file, the object and the action, with the innermost message of HDF5's error
// stack (e.g. "File too large"). HDF5's own stderr printing is switched off by h5_quiet().
// Private to pipeline/store: the public headers (activation_writer.h, activation_reader.h)
// do not include hdf5.h.
#pragma once

#include <hdf5.h>

#include <string>
#include <string_view>

namespace dv {

// Owns one hid_t and closes it with the matching H5?close on destruction. Move-only.
class H5Id {
 public:
  using Closer = herr_t (*)(hid_t);
  H5Id() = default;
  H5Id(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~H5Id() { reset(); }
  H5Id(H5Id&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = -1; }
  H5Id& operator=(H5Id&& other) noexcept;
  H5Id(const H5Id&) = delete;
  H5Id& operator=(const H5Id&) = delete;

  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now; the return code of the close (a failed final flush shows up here).
  herr_t close();
  void reset() { (void)close(); }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

// Turns off HDF5's automatic error printing for this thread's default error stack; errors
// are reported through dv::Error instead. Cheap and idempotent: called by every entry point.
void h5_quiet();

// The most telling line of the current HDF5 error stack ("file signature not found",
// "File too large (errno 27)"), or "unknown HDF5 error" when the stack is empty.
std::string h5_error_detail();

// Throws dv::Error("{file}: cannot {action} {object}: {detail}") when rc < 0; returns rc.
[[noreturn]] void h5_fail(const std::string& file, std::string_view object, std::string_view action);
inline hid_t h5_check(hid_t rc, const std::string& file, std::string_view object, std::string_view action) {
  if (rc < 0) h5_fail(file, object, action);
  return rc;
}
inline herr_t h5_check_status(herr_t rc, const std::string& file, std::string_view object,
                              std::string_view action) {
  if (rc < 0) h5_fail(file, object, action);
  return rc;
}

// Owning wrappers for the kinds of ids the store opens.
H5Id h5_owned_file(hid_t id, const std::string& file, std::string_view action);
H5Id h5_owned_group(hid_t id, const std::string& file, std::string_view object, std::string_view action);
H5Id h5_owned_dataset(hid_t id, const std::string& file, std::string_view object, std::string_view action);
H5Id h5_owned_space(hid_t id, const std::string& file, std::string_view object, std::string_view action);
H5Id h5_owned_type(hid_t id, const std::string& file, std::string_view object, std::string_view action);
H5Id h5_owned_plist(hid_t id, const std::string& file, std::string_view object, std::string_view action);
H5Id h5_owned_attr(hid_t id, const std::string& file, std::string_view object, std::string_view action);

// IEEE binary16, little endian. HDF5 1.10 has no predefined half type; this is the type h5py
// builds for numpy.float16, so h5py reads these datasets as float16.
H5Id h5_half_type(const std::string& file);

}  // namespace dv
