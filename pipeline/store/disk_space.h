// disk_space.h: a free-space check before a long collection starts, so that a run that cannot
// fit fails in its first second with a clear message rather than hours later mid-write.
#pragma once

#include <cstdint>
#include <string>

namespace dv {

// Bytes available to an unprivileged writer on the filesystem holding `path` (a file that may
// not exist yet: its directory is asked). dv::Error when the directory cannot be queried.
int64_t free_disk_bytes(const std::string& path);

// dv::Error naming `path` when fewer than `need_bytes` are free; `what` says what the bytes are
// for ("1.2M rows of 4.1 KiB"), so that the user can act on the message.
void check_free_space(const std::string& path, int64_t need_bytes, const std::string& what);

// "3.5 GiB", "12.0 KiB": for messages.
std::string human_bytes(int64_t bytes);

}  // namespace dv
