// shard_merge.h: one collection split over N processes (`dejavu collect --shard I/N`, e.g. a Slurm job
// array) and read back as one store without copying a byte. Shard I collects a contiguous share of the
// corpus windows into its own, independently resumable store; merge_shards() then writes a small HDF5
// file whose every dataset is a virtual dataset (HDF5 VDS) mapping rows [offset_I, offset_I + rows_I)
// onto shard I's dataset, in shard order, so that its rows are exactly a one-process collection's.
// h5py, `dejavu train` and `dejavu measure` open it like any store. The shard files are named by paths
// relative to the merged file's directory (HDF5 looks there), and ActivationReader checks that each is
// present and complete, because HDF5 itself would read a missing source file as zeros.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace dv {

struct ShardSpec {
  int64_t index = 0;  // I, 0-based
  int64_t count = 1;  // N; 1 = not sharded
};

// "I/N" with 0 <= I < N. dv::Error naming `where` otherwise.
ShardSpec parse_shard(const std::string& text, const std::string& where);

// Windows [begin, end) of `windows` that shard I of N collects: floor(I*W/N) .. floor((I+1)*W/N).
std::pair<int64_t, int64_t> shard_windows(int64_t windows, const ShardSpec& shard);

// Writes `out` (via "<out>.tmp" and a rename) over the complete shard stores `shards` (any order) of one
// collection. dv::Error naming the file when a shard is missing, incomplete, from another collection,
// repeated, or when the set is not shards 0..N-1 of one N.
void merge_shards(const std::string& out, const std::vector<std::string>& shards);

}  // namespace dv
