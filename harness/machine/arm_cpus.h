// The CPUs of an aarch64 machine, one by one, from /proc/cpuinfo and sysfs: which core each
// is (MIDR implementer and part), its top clock and its capacity. A phone SoC, a Rockchip
// board or an Apple M1 under Asahi has two or three kinds of core (big.LITTLE): they are
// grouped into clusters, each with its own clock and peak, fastest first. Reading goes
// through a root directory so tests can point it at recorded trees (tests/fixtures/arm/).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace flopslab::bench {

struct ArmCpuEntry {
  int cpu = -1;  // "processor : N"
  int implementer = 0, part = 0, variant = 0, revision = 0;
  std::vector<std::string> features;  // the "Features" line: "fp asimd ... sve bf16"
  std::int64_t max_khz = 0;           // cpufreq/cpuinfo_max_freq; 0 when sysfs does not say
  int capacity = 0;                   // cpu_capacity (1024 = the fastest core); 0 when absent
};

struct ArmCluster {
  std::string core;  // "Cortex-A76", or "Apple core 0x61:0x000 (MIDR masked)"
  int implementer = 0, part = 0;
  std::vector<int> cpus;
  std::int64_t max_khz = 0;
  int capacity = 0;
  int fp32_lanes_per_cycle = 0;  // the core table's figure; 0 when unknown
  // cpus x GHz x lanes x 2 from the table and the top clock; 0 when either is unknown.
  double fp32_peak_gflops() const;
};

struct ArmCpus {
  std::vector<ArmCpuEntry> cpus;
  std::vector<ArmCluster> clusters;  // fastest first: by capacity, then clock, then CPU number
  // A hypervisor showed a MIDR without a part number (Apple's Virtualization framework gives
  // implementer 0x61, part 0): the core is unknown, and the measured FMA rate decides.
  bool midr_masked = false;
  bool big_little() const { return clusters.size() > 1; }
};

// Parses /proc/cpuinfo as an aarch64 kernel writes it (blocks of "key : value" lines, one
// block per CPU). Lines it does not know are skipped; an x86 cpuinfo gives no entries.
std::vector<ArmCpuEntry> parse_arm_cpuinfo(std::string_view text);

// Reads <root>/proc/cpuinfo and, per CPU, <root>/sys/devices/system/cpu/cpuN/{cpu_capacity,
// cpufreq/cpuinfo_max_freq}, then groups the CPUs. root "" reads this machine.
ArmCpus read_arm_cpus(const std::string& root = "");

// Groups CPUs with the same core, capacity and clock, fastest first.
std::vector<ArmCluster> arm_clusters(const std::vector<ArmCpuEntry>& cpus);

// "4 x Cortex-A76 @ 2.40 GHz (CPUs 4-7) + 4 x Cortex-A55 @ 1.80 GHz (CPUs 0-3)", with
// ", big.LITTLE" or the masked-MIDR note.
std::string describe_arm_cpus(const ArmCpus& cpus);

// Each cluster's FP32 peak from the core table and its top clock, for big.LITTLE, where one
// "cores x GHz x lanes" product would count every core as a big one:
// "4 x Cortex-A76 x 2.40 GHz x 8 lanes x 2 = 153.6 GFLOP/s + 4 x Cortex-A55 (lanes not in the table)".
std::string cluster_peak_formula(const ArmCpus& cpus);

// "0-3", "0,2,4-7".
std::string cpu_list(const std::vector<int>& cpus);

}  // namespace flopslab::bench
