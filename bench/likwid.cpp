#include "bench/likwid.h"

#include <cstdlib>
#include <sstream>

#include <fmt/format.h>

#include "bench/files.h"

namespace flopslab::bench {
double likwid_value(const std::string& output, const std::string& key) {
  std::istringstream in(output);
  std::string line;
  double value = 0;
  while (std::getline(in, line))
    if (line.rfind(key + ":", 0) == 0) value = std::strtod(line.c_str() + key.size() + 1, nullptr);
  return value;
}

bool likwid_available() { return run_shell("command -v likwid-bench").first == 0; }

LikwidResult run_likwid(const std::string& test, const std::string& workgroup) {
  LikwidResult r;
  r.command = fmt::format("likwid-bench -t {} -W {}", test, workgroup);
  if (!likwid_available()) {
    r.reason = "likwid-bench not installed (sudo apt-get install likwid)";
    return r;
  }
  const auto [status, output] = run_shell(r.command);
  const double mflops = likwid_value(output, "MFlops/s"), mbytes = likwid_value(output, "MByte/s");
  if (status != 0 || (mflops <= 0 && mbytes <= 0)) {
    std::string last = output.substr(0, output.find('\n'));
    r.reason = fmt::format("likwid-bench failed: {}", last.empty() ? "no output" : last);
    return r;
  }
  r.ran = true;
  r.gflops = mflops * 1e-3;
  r.gbytes_per_s = mbytes * 1e-3;
  return r;
}

}  // namespace flopslab::bench
