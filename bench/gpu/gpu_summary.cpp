#include <fmt/format.h>

#include "bench/files.h"
#include "bench/gpu/gpu_runtime.h"

namespace flopslab::bench {

std::string gpu_summary(const GpuStatus& s) {
  if (!s.usable) return fmt::format("none usable: {}", s.reason);
  std::string out;
  for (const GpuDevice& d : s.devices)
    out += fmt::format("{}{} (sm_{}{}, {} SMs, {})", out.empty() ? "" : "; ", d.name, d.cc_major, d.cc_minor,
                       d.sm_count, format_bytes(double(d.memory_bytes)));
  return out + (s.runtime.empty() ? "" : ", " + s.runtime);
}

Json gpu_json(const GpuStatus& s) {
  Json devices = Json::array();
  for (const GpuDevice& d : s.devices)
    devices.push_back({{"index", d.index}, {"name", d.name}, {"compute_capability", fmt::format("{}.{}", d.cc_major, d.cc_minor)},
                       {"sm_count", d.sm_count}, {"memory_bytes", d.memory_bytes}, {"pci_bus_id", d.pci_bus_id}});
  return Json{{"built_with_cuda", s.built}, {"usable", s.usable}, {"reason", s.reason},
              {"runtime", s.runtime}, {"devices", devices}};
}

}  // namespace flopslab::bench
