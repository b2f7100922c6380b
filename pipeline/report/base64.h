// base64.h: RFC 4648 base64 (standard alphabet, '=' padding), for embedding PNGs in report.html as data URIs.
#pragma once

#include <string>

namespace dv {

std::string base64_encode(const std::string& bytes);

}  // namespace dv
