// h5_attr.h: scalar attributes (int64 and UTF-8 strings) on an HDF5 object, checked.
// Strings are variable-length UTF-8 so that h5py returns them as Python str.
// `file` and `object` only name things in error messages.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <string>

namespace dv {

bool h5_has_attr(hid_t obj, const char* name, const std::string& file, const std::string& object);

// Creates the attribute, or overwrites an existing one of the same type.
void h5_write_attr_int64(hid_t obj, const char* name, int64_t value, const std::string& file,
                         const std::string& object);
void h5_write_attr_string(hid_t obj, const char* name, const std::string& value, const std::string& file,
                          const std::string& object);

// dv::Error naming file, object and attribute when missing or of another kind.
int64_t h5_read_attr_int64(hid_t obj, const char* name, const std::string& file, const std::string& object);
std::string h5_read_attr_string(hid_t obj, const char* name, const std::string& file, const std::string& object);

}  // namespace dv
