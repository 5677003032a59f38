// Describing the machine: CPU model, caches (hwloc), memory, OS, compiler, libraries and GPUs.
#include "harness/machine/machine.h"

#include <hwloc.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "kernels/cpu/gemm/packed.h"
#include "harness/build_info.h"
#include "harness/files.h"
#include "harness/simd_cap.h"
#include "kernels/cpu/cpu_features.h"
#include "harness/format.h"

namespace flopslab::bench {
namespace {

std::string utc_now(const char* format) {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

void read_topology(MachineInfo& m) {
  hwloc_topology_t topo = nullptr;
  if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) {
    if (topo != nullptr) hwloc_topology_destroy(topo);
    const unsigned n = std::max(1u, std::thread::hardware_concurrency());
    m.topology_source = "hwloc could not load the topology; core counts from the OS, caches unknown";
    m.packages = 1;
    m.physical_cores = m.logical_cpus = static_cast<int>(n);
    m.numa_nodes = 1;
    return;
  }
  m.topology_source = "hwloc " HWLOC_VERSION;
  m.packages = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PACKAGE));
  m.physical_cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
  m.logical_cpus = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
  m.numa_nodes = std::max(1, hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_NUMANODE));
  if (m.physical_cores <= 0) m.physical_cores = m.logical_cpus;

  const hwloc_obj_type_t cache_types[] = {HWLOC_OBJ_L1CACHE, HWLOC_OBJ_L1ICACHE, HWLOC_OBJ_L2CACHE,
                                          HWLOC_OBJ_L3CACHE, HWLOC_OBJ_L4CACHE};
  for (hwloc_obj_type_t type : cache_types) {
    const int count = hwloc_get_nbobjs_by_type(topo, type);
    if (count <= 0) continue;
    hwloc_obj_t obj = hwloc_get_obj_by_type(topo, type, 0);
    CacheLevel c;
    c.level = static_cast<int>(obj->attr->cache.depth);
    c.kind = obj->attr->cache.type == HWLOC_OBJ_CACHE_INSTRUCTION ? "instruction"
             : obj->attr->cache.type == HWLOC_OBJ_CACHE_DATA      ? "data"
                                                                  : "unified";
    c.bytes = static_cast<std::int64_t>(obj->attr->cache.size);
    c.line_bytes = static_cast<int>(obj->attr->cache.linesize);
    c.instances = count;
    c.shared_by_cpus = obj->cpuset != nullptr ? hwloc_bitmap_weight(obj->cpuset) : 0;
    m.caches.push_back(c);
  }
  m.memory_hwloc_bytes = static_cast<std::int64_t>(hwloc_get_root_obj(topo)->total_memory);
  hwloc_topology_destroy(topo);
}

}  // namespace

std::string today_utc() { return utc_now("%Y-%m-%d"); }

MachineInfo describe_machine() {
  MachineInfo m;
  const CpuFeatures& f = cpu_features();
  m.cpu_brand = f.brand.empty() ? "unknown CPU" : f.brand;
  m.cpu_vendor = f.vendor;
  m.cpu_family = f.family;
  m.cpu_model = f.model;
  m.cpu_stepping = f.stepping;
  m.simd = f.names();
  // The path of the micro-kernel the GEMM really runs (SVE wider than 512 bits runs the NEON one).
  m.simd_path = simd_path_name(gemm::packed::micro_kernel(best_simd_path()).path);
  m.simd_cap = simd_cap_summary();
  m.hypervisor = f.hypervisor;
  m.hypervisor_vendor = f.hypervisor_vendor;
#if defined(__aarch64__)
  m.arm_cpus = read_arm_cpus();
  // The MIDR that cpu_features read is the core this thread happened to run on, a little one
  // as often as not on big.LITTLE: the machine is described by its fastest kind instead.
  if (!m.arm_cpus.clusters.empty() && !m.arm_cpus.midr_masked) {
    const ArmCluster& fastest = m.arm_cpus.clusters.front();
    m.cpu_family = fastest.implementer, m.cpu_model = fastest.part;
    m.cpu_brand = fastest.core;
  }
#endif
  read_topology(m);
  m.memory_os_bytes = total_memory_bytes();
  m.gpu = gpu_status();

  utsname u{};
  if (uname(&u) == 0) m.os = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) m.hostname = host;
  m.date_utc = utc_now("%Y-%m-%dT%H:%M:%SZ");
  return m;
}

std::int64_t cache_bytes(const MachineInfo& m, int level) {
  std::int64_t bytes = 0;
  for (const CacheLevel& c : m.caches)
    if (c.level == level && c.kind != "instruction") bytes = std::max(bytes, c.bytes);
  return bytes;
}

Json machine_json(const MachineInfo& m) {
  Json caches = Json::array();
  for (const CacheLevel& c : m.caches)
    caches.push_back({{"level", c.level}, {"kind", c.kind}, {"bytes", c.bytes},
                      {"line_bytes", c.line_bytes}, {"instances", c.instances},
                      {"shared_by_cpus", c.shared_by_cpus}});
  Json clusters = Json::array();
  for (const ArmCluster& g : m.arm_cpus.clusters)
    clusters.push_back({{"core", g.core}, {"midr_implementer", g.implementer}, {"midr_part", g.part},
                        {"cpus", cpu_list(g.cpus)}, {"count", g.cpus.size()}, {"max_ghz", double(g.max_khz) * 1e-6},
                        {"capacity", g.capacity}, {"fp32_fma_lanes_per_cycle", g.fp32_lanes_per_cycle},
                        {"fp32_peak_gflops", g.fp32_peak_gflops()}});
  const BuildInfo& b = build_info();
  return Json{
      {"cpu",
       {{"brand", m.cpu_brand}, {"vendor", m.cpu_vendor}, {"family", m.cpu_family},
        {"model", m.cpu_model}, {"stepping", m.cpu_stepping}, {"simd", m.simd},
        {"gemm_simd_path", m.simd_path}, {"simd_cap", m.simd_cap}, {"hypervisor", m.hypervisor},
        {"hypervisor_vendor", m.hypervisor_vendor}, {"clusters", clusters},
        {"midr_masked", m.arm_cpus.midr_masked}}},
      {"topology",
       {{"source", m.topology_source}, {"packages", m.packages},
        {"physical_cores", m.physical_cores}, {"logical_cpus", m.logical_cpus},
        {"numa_nodes", m.numa_nodes}, {"caches", caches}}},
      {"memory", {{"os_bytes", m.memory_os_bytes}, {"hwloc_bytes", m.memory_hwloc_bytes}}},
      {"gpu", gpu_json(m.gpu)},
      {"os", m.os},
      {"hostname", m.hostname},
      {"date_utc", m.date_utc},
      {"build",
       {{"flopslab", b.version}, {"git_commit", b.git_commit}, {"git_dirty", b.git_dirty},
        {"compiler", b.compiler}, {"build_type", b.build_type}, {"cxx_flags", b.cxx_flags},
        {"cuda", b.cuda}, {"cudnn", b.cudnn}, {"openblas", b.openblas}, {"onednn", b.onednn}}},
  };
}

namespace {

// Lower-case letters and digits, everything else collapsed into single dashes.
std::string slugify(const std::string& text) {
  std::string slug;
  for (char c : text) {
    if (std::isalnum(static_cast<unsigned char>(c)))
      slug += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    else if (!slug.empty() && slug.back() != '-')
      slug += '-';
  }
  while (!slug.empty() && slug.back() == '-') slug.pop_back();
  return slug;
}

}  // namespace

std::string machine_slug(const MachineInfo& m) {
  std::string brand = m.cpu_brand;
  // Drop trademark noise and the clock ("@ 2.40GHz"), keep vendor, family and model number.
  for (const char* noise : {"(R)", "(r)", "(TM)", "(tm)", " CPU", " Processor", "-Core"}) {
    for (std::size_t pos; (pos = brand.find(noise)) != std::string::npos;)
      brand.erase(pos, std::char_traits<char>::length(noise));
  }
  if (const std::size_t at = brand.find('@'); at != std::string::npos) brand.erase(at);
  std::string slug = slugify(brand);
  if (slug.empty()) slug = "machine";
  slug += fmt::format("-{}c", m.physical_cores);
  if (m.gpu.usable) {
    std::string gpu = m.gpu.devices.front().name;
    if (gpu.rfind("NVIDIA ", 0) == 0) gpu.erase(0, 7);
    slug += "-" + slugify(gpu);
  }
  return slug;
}

std::string machine_summary(const MachineInfo& m) {
  std::string out;
#if defined(__aarch64__)
  out += fmt::format("CPU          {} ({}, MIDR implementer {:#04x} part {:#05x} revision {})\n", m.cpu_brand,
                     m.cpu_vendor, m.cpu_family, m.cpu_model, m.cpu_stepping);
  constexpr const char* kFeatureSource = "HWCAP";
#else
  out += fmt::format("CPU          {} ({}, family {} model {})\n", m.cpu_brand, m.cpu_vendor,
                     m.cpu_family, m.cpu_model);
  constexpr const char* kFeatureSource = "CPUID";
#endif
  out += fmt::format("Cores        {} package(s), {} physical cores, {} logical CPUs, {} NUMA node(s)\n",
                     m.packages, m.physical_cores, m.logical_cpus, m.numa_nodes);
  if (!m.arm_cpus.clusters.empty()) out += fmt::format("Clusters     {}\n", describe_arm_cpus(m.arm_cpus));
  out += fmt::format("SIMD         {}\n", fmt::join(m.simd, " "));
  if (!m.simd_cap.empty()) out += fmt::format("SIMD cap     {}\n", m.simd_cap);
  const std::string widest = simd_path_name(best_simd_path());
  out += fmt::format("GEMM path    {} micro-kernel (chosen at run time from {}{}){}\n", m.simd_path, kFeatureSource,
                     m.simd_cap.empty() ? "" : " under the cap",
                     widest != m.simd_path                        ? "; " + widest + "'s vectors are too wide for the GEMM tile"
                     : cpu_features().can_sve() && widest != "sve" ? "; this build (clang 14) has no SVE kernels"
                                                                   : "");
  for (const CacheLevel& c : m.caches)
    out += fmt::format("L{} {:<11} {} x {} (line {} B, shared by {} CPU(s))\n", c.level, c.kind,
                       c.instances, format_bytes(double(c.bytes)), c.line_bytes, c.shared_by_cpus);
  out += fmt::format("Memory       {} (OS)", format_bytes(double(m.memory_os_bytes)));
  if (m.memory_hwloc_bytes > 0) out += fmt::format(", {} (hwloc)", format_bytes(double(m.memory_hwloc_bytes)));
  out += "\n";
  out += fmt::format("Topology     {}\n", m.topology_source);
  out += fmt::format("Virtualised  {}\n", m.hypervisor ? fmt::format("yes ({})", m.hypervisor_vendor) : "no");
  out += fmt::format("GPU          {}\n", gpu_summary(m.gpu));
  out += fmt::format("OS           {}\n", m.os);
  const BuildInfo& b = build_info();
  out += fmt::format("Build        flopslab {} ({}{}), {} {}, flags '{}'\n", b.version, b.git_commit,
                     b.git_dirty ? ", modified" : "", b.compiler, b.build_type, b.cxx_flags);
  out += fmt::format("Peers        OpenBLAS {}, oneDNN {}\n", b.openblas, b.onednn);
  out += fmt::format("CUDA         {}; cuDNN {}\n", b.cuda, b.cudnn);
  return out;
}

}  // namespace flopslab::bench
