// stage_record.cpp: machine facts from /proc and nvidia-smi (each optional: a missing tool leaves its field
// empty), the commit baked into the binary (kernels/common/build_info.h), and the JSON form of a stage record.
#include "pipeline/report/stage_record.h"

#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/resource.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "engine/io/atomic_file.h"
#include "kernels/common/build_info.h"
#include "kernels/common/error.h"

namespace dv {
namespace {

// stdout of a shell command, trailing newlines removed; "" when it fails.
std::string command_output(const std::string& cmd) {
  std::string out;
  FILE* p = popen((cmd + " 2>/dev/null").c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof(buf), p) != nullptr) out += buf;
  if (pclose(p) != 0) return "";
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r' || out.back() == ' ')) out.pop_back();
  return out;
}

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) != 0) continue;
    const size_t colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown";
}

}  // namespace

MachineInfo describe_machine() {
  MachineInfo m;
  m.cpu = cpu_model_name();
  m.cores = static_cast<int>(std::thread::hardware_concurrency());
  const std::string gpus = command_output("nvidia-smi --query-gpu=name --format=csv,noheader");
  size_t start = 0;
  while (start < gpus.size()) {
    const size_t end = std::min(gpus.find('\n', start), gpus.size());
    if (end > start) m.gpus.push_back(gpus.substr(start, end - start));
    start = end + 1;
  }
  std::ifstream load("/proc/loadavg");
  if (!(load >> m.load_1min)) m.load_1min = -1;
  return m;
}

std::string utc_now_iso8601() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

StageRecord make_stage_record(const std::string& stage, const std::string& started_utc, double seconds,
                              double cpu_seconds) {
  return StageRecord{stage,           started_utc,       seconds,           cpu_seconds,
                     utc_now_iso8601(), recorded_commit(), describe_machine()};
}

double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); };
  return s(u.ru_utime) + s(u.ru_stime);
}

void write_stage_record(const std::string& stage_dir, const StageRecord& r) {
  const nlohmann::json j = {{"stage", r.stage},
                            {"started_utc", r.started_utc},
                            {"seconds", r.seconds},
                            {"cpu_seconds", r.cpu_seconds},
                            {"finished_utc", r.finished_utc},
                            {"commit", r.commit},
                            {"machine",
                             {{"cpu", r.machine.cpu},
                              {"cores", r.machine.cores},
                              {"gpus", r.machine.gpus},
                              {"load_1min", r.machine.load_1min}}}};
  write_file_atomic(stage_dir + "/" + kStageRecordName, j.dump(1) + "\n");
}

std::optional<StageRecord> read_stage_record(const std::string& stage_dir) {
  const std::string path = stage_dir + "/" + kStageRecordName;
  if (!std::filesystem::exists(path)) return std::nullopt;
  try {
    const nlohmann::json j = nlohmann::json::parse(read_small_file(path));
    StageRecord r;
    r.stage = j.at("stage").get<std::string>();
    r.started_utc = j.value("started_utc", "");
    r.seconds = j.at("seconds").get<double>();
    r.cpu_seconds = j.value("cpu_seconds", -1.0);
    r.finished_utc = j.value("finished_utc", "");
    r.commit = j.value("commit", "");
    if (j.contains("machine")) {
      const nlohmann::json& m = j["machine"];
      r.machine.cpu = m.value("cpu", "");
      r.machine.cores = m.value("cores", 0);
      r.machine.gpus = m.value("gpus", std::vector<std::string>{});
      r.machine.load_1min = m.value("load_1min", -1.0);
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    DV_FAIL("{}: not a stage record ({})", path, e.what());
  }
}

std::string machine_summary(const MachineInfo& m) {
  std::string s = fmt::format("{}, {} cores", m.cpu.empty() ? "unknown CPU" : m.cpu, m.cores);
  if (m.gpus.empty()) return s + ", no GPU";
  s += ", GPU ";
  for (size_t i = 0; i < m.gpus.size(); ++i) s += (i ? " + " : "") + m.gpus[i];
  return s;
}

}  // namespace dv
