// h5_attr.cpp: checked scalar attribute I/O.
#include "pipeline/store/h5_attr.h"

#include <vector>

#include "kernels/common/error.h"
#include "pipeline/store/h5_handle.h"

namespace dv {

namespace {

std::string attr_label(const std::string& object, const char* name) {
  return object == "/" ? "attribute '" + std::string(name) + "'"
                       : "attribute '" + std::string(name) + "' of " + object;
}

H5Id open_attr(hid_t obj, const char* name, const std::string& file, const std::string& object) {
  DV_CHECK(h5_has_attr(obj, name, file, object), "{}: missing {} (not written by `dejavu collect`?)", file,
           attr_label(object, name));
  return h5_owned_attr(H5Aopen(obj, name, H5P_DEFAULT), file, attr_label(object, name), "open");
}

H5Id vlen_string_type(const std::string& file) {
  H5Id t = h5_owned_type(H5Tcopy(H5T_C_S1), file, "string", "build the datatype");
  h5_check_status(H5Tset_size(t.get(), H5T_VARIABLE), file, "string", "build the datatype");
  h5_check_status(H5Tset_cset(t.get(), H5T_CSET_UTF8), file, "string", "build the datatype");
  return t;
}

// Opens `name` for writing: reuses an existing attribute, else creates it with `type`.
H5Id attr_for_write(hid_t obj, const char* name, hid_t type, const std::string& file, const std::string& object) {
  const std::string label = attr_label(object, name);
  if (h5_has_attr(obj, name, file, object)) {
    return h5_owned_attr(H5Aopen(obj, name, H5P_DEFAULT), file, label, "open");
  }
  H5Id space = h5_owned_space(H5Screate(H5S_SCALAR), file, label, "create the dataspace of");
  return h5_owned_attr(H5Acreate2(obj, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT), file, label, "create");
}

}  // namespace

bool h5_has_attr(hid_t obj, const char* name, const std::string& file, const std::string& object) {
  return h5_check(H5Aexists(obj, name), file, attr_label(object, name), "look up") > 0;
}

void h5_write_attr_int64(hid_t obj, const char* name, int64_t value, const std::string& file,
                         const std::string& object) {
  H5Id attr = attr_for_write(obj, name, H5T_STD_I64LE, file, object);
  h5_check_status(H5Awrite(attr.get(), H5T_NATIVE_INT64, &value), file, attr_label(object, name), "write");
}

void h5_write_attr_string(hid_t obj, const char* name, const std::string& value, const std::string& file,
                          const std::string& object) {
  H5Id type = vlen_string_type(file);
  H5Id attr = attr_for_write(obj, name, type.get(), file, object);
  const char* ptr = value.c_str();
  h5_check_status(H5Awrite(attr.get(), type.get(), &ptr), file, attr_label(object, name), "write");
}

int64_t h5_read_attr_int64(hid_t obj, const char* name, const std::string& file, const std::string& object) {
  const std::string label = attr_label(object, name);
  H5Id attr = open_attr(obj, name, file, object);
  H5Id type = h5_owned_type(H5Aget_type(attr.get()), file, label, "read the type of");
  H5Id space = h5_owned_space(H5Aget_space(attr.get()), file, label, "read the shape of");
  DV_CHECK(H5Tget_class(type.get()) == H5T_INTEGER && H5Sget_simple_extent_npoints(space.get()) == 1,
           "{}: {} should be one integer", file, label);
  int64_t value = 0;
  h5_check_status(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), file, label, "read");
  return value;
}

std::string h5_read_attr_string(hid_t obj, const char* name, const std::string& file, const std::string& object) {
  const std::string label = attr_label(object, name);
  H5Id attr = open_attr(obj, name, file, object);
  H5Id type = h5_owned_type(H5Aget_type(attr.get()), file, label, "read the type of");
  H5Id space = h5_owned_space(H5Aget_space(attr.get()), file, label, "read the shape of");
  DV_CHECK(H5Tget_class(type.get()) == H5T_STRING && H5Sget_simple_extent_npoints(space.get()) == 1,
           "{}: {} should be one string", file, label);
  if (H5Tis_variable_str(type.get()) > 0) {
    H5Id mem = vlen_string_type(file);
    char* ptr = nullptr;
    h5_check_status(H5Aread(attr.get(), mem.get(), &ptr), file, label, "read");
    std::string value = ptr != nullptr ? std::string(ptr) : std::string();
    H5free_memory(ptr);
    return value;
  }
  // Fixed-length strings (written by other tools): read the bytes, stop at the first NUL.
  const size_t size = H5Tget_size(type.get());
  std::vector<char> buf(size + 1, '\0');
  h5_check_status(H5Aread(attr.get(), type.get(), buf.data()), file, label, "read");
  return std::string(buf.data());
}

}  // namespace dv
