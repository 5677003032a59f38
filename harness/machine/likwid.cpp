// Running likwid-bench as the FMA and bandwidth peer, and reading its output.
#include "harness/machine/likwid.h"

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <fmt/format.h>

#include "harness/affinity.h"
#include "harness/files.h"
#include "harness/external.h"
#include "kernels/cpu/every_cpu.h"

namespace flopslab::bench {
double likwid_value(const std::string& output, const std::string& key) {
  std::istringstream in(output);
  std::string line;
  double value = 0;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) value = std::strtod(line.c_str() + key.size() + 1, nullptr);
  return value;
}

std::vector<int> likwid_hwthreads(const std::string& output) {
  std::istringstream in(output);
  std::vector<int> out;
  const std::string marker = "running on hwthread ";
  for (std::string line; std::getline(in, line);) {
    const std::size_t at = line.find(marker);
    if (line.rfind("Group:", 0) == 0 && at != std::string::npos) out.push_back(std::atoi(line.c_str() + at + marker.size()));
  }
  return out;
}

bool likwid_available() { return run_shell("command -v likwid-bench").first == 0; }

std::string likwid_missing_reason() {
#if defined(__aarch64__)
  return "likwid-bench not installed: Debian packages likwid for x86-64 only; on ARMv8 it must be built from source "
         "(github.com/RRZE-HPC/likwid)";
#else
  return "likwid-bench not installed (sudo apt-get install likwid)";
#endif
}

LikwidResult run_likwid(const std::string& test, const std::string& workgroup, int threads) {
  LikwidResult r;
  r.command = fmt::format("likwid-bench -t {} -W {}", test, workgroup);
  if (!likwid_available()) {
    r.reason = likwid_missing_reason();
    return r;
  }
  const cpu::EveryCpu every_cpu;  // likwid-bench places its own threads, within the mask it inherits
  const auto [status, output] = run_shell(r.command);
  const double mflops = likwid_value(output, "MFlops/s"), mbytes = likwid_value(output, "MByte/s");
  if (status != 0 || (mflops <= 0 && mbytes <= 0)) {
    std::string last = output.substr(0, output.find('\n'));
    r.reason = fmt::format("likwid-bench failed: {}", last.empty() ? "no output" : last);
    return r;
  }
  const std::vector<int> placed = likwid_hwthreads(output);
  std::vector<int> distinct = placed;
  std::sort(distinct.begin(), distinct.end());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  if (int(distinct.size()) != threads) {
    std::string where;
    for (int h : placed) {
      if (!where.empty()) where += ',';
      where += std::to_string(h);
    }
    r.reason = fmt::format("likwid-bench ran {} thread(s) on {} distinct hardware thread(s) ({}), not on {}: left out",
                           placed.size(), distinct.size(), where.empty() ? "none reported" : where, threads);
    return r;
  }
  r.ran = true;
  r.gflops = mflops * 1e-3;
  r.gbytes_per_s = mbytes * 1e-3;
  return r;
}

}  // namespace flopslab::bench
