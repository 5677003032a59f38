// /proc/cpuinfo and sysfs on aarch64: each CPU's core, clock and capacity, grouped into
// clusters (big.LITTLE).
#include "harness/machine/arm_cpus.h"

#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "kernels/cpu/arm_cores.h"

namespace flopslab::bench {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// "0x41", "8", "0xd0c": -1 when it is not a number.
int parse_number(std::string_view text) {
  try {
    std::size_t used = 0;
    const int value = std::stoi(std::string(text), &used, 0);
    return used == text.size() ? value : -1;
  } catch (...) {
    return -1;
  }
}

std::int64_t read_integer(const std::string& path) {
  std::ifstream in(path);
  long long value = 0;
  return (in >> value) ? value : 0;
}

}  // namespace

double ArmCluster::fp32_peak_gflops() const {
  return double(cpus.size()) * double(max_khz) * 1e-6 * fp32_lanes_per_cycle * 2;
}

std::vector<ArmCpuEntry> parse_arm_cpuinfo(std::string_view text) {
  std::vector<ArmCpuEntry> cpus;
  std::istringstream in{std::string(text)};
  for (std::string line; std::getline(in, line);) {
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string_view key = trim(std::string_view(line).substr(0, colon));
    const std::string_view value = trim(std::string_view(line).substr(colon + 1));
    if (key == "processor") {
      const int n = parse_number(value);
      if (n >= 0) cpus.push_back({.cpu = n});
      continue;
    }
    if (cpus.empty()) continue;  // keys before the first "processor" (none on aarch64)
    ArmCpuEntry& cpu = cpus.back();
    const int number = parse_number(value);
    if (key == "CPU implementer" && number >= 0) cpu.implementer = number;
    if (key == "CPU part" && number >= 0) cpu.part = number;
    if (key == "CPU variant" && number >= 0) cpu.variant = number;
    if (key == "CPU revision" && number >= 0) cpu.revision = number;
    if (key == "Features") {
      std::istringstream words{std::string(value)};
      for (std::string w; words >> w;) cpu.features.push_back(w);
    }
  }
  // An x86 cpuinfo also has "processor" lines, but never a CPU implementer.
  const bool any_midr = std::any_of(cpus.begin(), cpus.end(), [](const ArmCpuEntry& c) { return c.implementer != 0; });
  const bool any_features = std::any_of(cpus.begin(), cpus.end(), [](const ArmCpuEntry& c) { return !c.features.empty(); });
  if (!any_midr && !any_features) cpus.clear();
  return cpus;
}

std::vector<ArmCluster> arm_clusters(const std::vector<ArmCpuEntry>& cpus) {
  // Same core, capacity and top clock: one cluster (a Jetson Orin's three clusters of four
  // Cortex-A78AE are one kind of core and are reported as one group).
  std::map<std::tuple<int, int, int, std::int64_t>, ArmCluster> groups;
  for (const ArmCpuEntry& c : cpus) {
    ArmCluster& g = groups[{c.implementer, c.part, c.capacity, c.max_khz}];
    if (g.cpus.empty()) {
      const ArmCore core = arm_core(c.implementer, c.part);
      g.core = c.part == 0 && c.implementer != 0 ? core.implementer + " core (MIDR part masked by the hypervisor)"
                                                 : core.name;
      g.implementer = c.implementer, g.part = c.part, g.capacity = c.capacity, g.max_khz = c.max_khz;
      g.fp32_lanes_per_cycle = core.fp32_fma_lanes_per_cycle;
    }
    g.cpus.push_back(c.cpu);
  }
  std::vector<ArmCluster> out;
  for (auto& [key, g] : groups) out.push_back(std::move(g));
  std::sort(out.begin(), out.end(), [](const ArmCluster& a, const ArmCluster& b) {
    if (a.capacity != b.capacity) return a.capacity > b.capacity;
    if (a.max_khz != b.max_khz) return a.max_khz > b.max_khz;
    if (a.fp32_lanes_per_cycle != b.fp32_lanes_per_cycle) return a.fp32_lanes_per_cycle > b.fp32_lanes_per_cycle;
    return a.cpus.front() < b.cpus.front();
  });
  return out;
}

ArmCpus read_arm_cpus(const std::string& root) {
  ArmCpus out;
  std::ifstream in(root + "/proc/cpuinfo");
  std::stringstream text;
  text << in.rdbuf();
  out.cpus = parse_arm_cpuinfo(text.str());
  for (ArmCpuEntry& c : out.cpus) {
    const std::string dir = root + "/sys/devices/system/cpu/cpu" + std::to_string(c.cpu);
    c.max_khz = read_integer(dir + "/cpufreq/cpuinfo_max_freq");
    c.capacity = int(read_integer(dir + "/cpu_capacity"));
  }
  out.clusters = arm_clusters(out.cpus);
  out.midr_masked = std::any_of(out.cpus.begin(), out.cpus.end(),
                                [](const ArmCpuEntry& c) { return c.implementer != 0 && c.part == 0; });
  return out;
}

std::string cpu_list(const std::vector<int>& cpus) {
  std::vector<int> sorted = cpus;
  std::sort(sorted.begin(), sorted.end());
  std::string out;
  for (std::size_t i = 0; i < sorted.size();) {
    std::size_t j = i;
    while (j + 1 < sorted.size() && sorted[j + 1] == sorted[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += j == i ? std::to_string(sorted[i]) : fmt::format("{}-{}", sorted[i], sorted[j]);
    i = j + 1;
  }
  return out;
}

std::string cluster_peak_formula(const ArmCpus& cpus) {
  std::string out;
  double total = 0;
  bool complete = true;
  for (const ArmCluster& g : cpus.clusters) {
    if (!out.empty()) out += " + ";
    if (g.fp32_peak_gflops() > 0) {
      out += fmt::format("{} x {} x {:.2f} GHz x {} lanes x 2 = {:.1f} GFLOP/s", g.cpus.size(), g.core,
                         double(g.max_khz) * 1e-6, g.fp32_lanes_per_cycle, g.fp32_peak_gflops());
      total += g.fp32_peak_gflops();
    } else {
      complete = false;
      out += fmt::format("{} x {} ({})", g.cpus.size(), g.core,
                         g.fp32_lanes_per_cycle == 0 ? "lanes not in the table" : "no top clock in sysfs");
    }
  }
  if (cpus.clusters.size() > 1)
    out += complete ? fmt::format("; {:.1f} GFLOP/s in all", total) : fmt::format("; at least {:.1f} GFLOP/s in all", total);
  return out;
}

std::string describe_arm_cpus(const ArmCpus& cpus) {
  if (cpus.clusters.empty()) return "no aarch64 CPUs in /proc/cpuinfo";
  std::string out;
  for (const ArmCluster& g : cpus.clusters) {
    if (!out.empty()) out += " + ";
    out += fmt::format("{} x {}", g.cpus.size(), g.core);
    if (g.max_khz > 0) out += fmt::format(" @ {:.2f} GHz", double(g.max_khz) * 1e-6);
    out += fmt::format(" (CPUs {})", cpu_list(g.cpus));
  }
  if (cpus.big_little()) out += ", big.LITTLE: one-thread figures run on the first kind";
  if (cpus.midr_masked) out += "; the core is hidden, so its pipes come from the measured FMA rate";
  return out;
}

}  // namespace flopslab::bench
