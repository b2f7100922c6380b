// stage_record.h: what `dejavu run` notes beside each finished stage (<stage>/stage_run.json): when it
// started and finished, its wall and CPU time, the commit and the machine it ran on. It is the one record of a
// stage's run: it lives in the stage folder, so it is replaced with the stage's results and kept (with the time
// of the run that made them) while later runs skip the stage as unchanged. The report and the end-of-run summary
// read it back; a stage finished before records existed has none (the report says so).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace dv {

struct MachineInfo {
  std::string cpu;                // /proc/cpuinfo's "model name", or "unknown"
  int cores = 0;                  // hardware threads visible to the process
  std::vector<std::string> gpus;  // nvidia-smi's names, empty without a GPU
  double load_1min = -1;          // /proc/loadavg when the stage ended (shared machines: read timings with it)
};

struct StageRecord {
  std::string stage;
  std::string started_utc;   // ISO 8601; "" in records written before it was kept
  double seconds = 0;        // wall time of the stage
  double cpu_seconds = -1;   // CPU time of the process over the stage (all threads; -1 = not recorded):
                             // on shared cores wall time grows with the load, CPU time much less
  std::string finished_utc;  // ISO 8601
  std::string commit;        // the binary's (kernels/common/build_info.h: recorded_commit)
  MachineInfo machine;
};

constexpr const char* kStageRecordName = "stage_run.json";

MachineInfo describe_machine();
std::string utc_now_iso8601();

// Finished now, on this machine, at this commit.
StageRecord make_stage_record(const std::string& stage, const std::string& started_utc, double seconds,
                              double cpu_seconds);
// CPU time of this process so far (user + system, all threads).
double process_cpu_seconds();
void write_stage_record(const std::string& stage_dir, const StageRecord& record);
// nullopt when the stage has no record; dv::Error naming the file when it is malformed.
std::optional<StageRecord> read_stage_record(const std::string& stage_dir);
std::string machine_summary(const MachineInfo& m);  // "Intel Xeon ..., 2 cores, no GPU"

}  // namespace dv
