// The machine a result was measured on. Every JSON result carries it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "harness/machine/arm_cpus.h"
#include "harness/machine/gpu_runtime.h"
#include "harness/json.h"

namespace flopslab::bench {

struct CacheLevel {
  int level = 0;            // 1, 2, 3
  std::string kind;         // "data", "instruction", "unified"
  std::int64_t bytes = 0;   // size of one instance
  int line_bytes = 0;
  int instances = 0;        // how many of them
  int shared_by_cpus = 0;   // logical CPUs sharing one instance
};

struct MachineInfo {
  // CPU (CPUID)
  std::string cpu_brand, cpu_vendor;
  int cpu_family = 0, cpu_model = 0, cpu_stepping = 0;
  std::vector<std::string> simd;  // instruction-set extensions usable here
  std::string simd_path;          // what the GEMM micro-kernel uses: avx512, avx2, scalar
  std::string simd_cap;           // FLOPSLAB_SIMD's cap and what it did to the peers; empty without one
  bool hypervisor = false;
  std::string hypervisor_vendor;

  // aarch64: the CPUs grouped by kind of core (/proc/cpuinfo and sysfs), fastest first; more
  // than one on big.LITTLE. Empty on x86.
  ArmCpus arm_cpus;

  // Topology (hwloc)
  std::string topology_source;  // "hwloc 2.9.0", or why it failed and what stood in
  int packages = 0, physical_cores = 0, logical_cpus = 0, numa_nodes = 0;
  std::vector<CacheLevel> caches;

  // Memory
  std::int64_t memory_os_bytes = -1;     // MemTotal from /proc/meminfo
  std::int64_t memory_hwloc_bytes = -1;  // what hwloc's topology adds up to

  GpuStatus gpu;         // NVIDIA GPUs through the CUDA runtime, or why there are none

  std::string os;        // "Linux 6.1.0 x86_64"
  std::string hostname;
  std::string date_utc;  // ISO 8601, when this description was taken
};

// Reads CPUID, hwloc and /proc. Never throws: what it cannot read it says so in the fields.
MachineInfo describe_machine();

// The machine plus how flopslab was built (compiler, flags, git commit, peers, CUDA).
Json machine_json(const MachineInfo& m);

// Bytes of the largest data or unified cache at a level, or 0 when unknown.
std::int64_t cache_bytes(const MachineInfo& m, int level);

// A short directory-friendly name: "amd-epyc-2c", "intel-xeon-platinum-8480-56c-h100-80gb-hbm3".
std::string machine_slug(const MachineInfo& m);

// Human-readable lines for `flopslab info` and report.md.
std::string machine_summary(const MachineInfo& m);

// Today's date in UTC, "2026-11-22".
std::string today_utc();

}  // namespace flopslab::bench
