// What the CUDA runtime reports about the GPU must be plausible for any NVIDIA GPU we build for.
#include <doctest/doctest.h>

#include "harness/machine/gpu_runtime.h"
#include "harness/machine/machine.h"

using namespace flopslab::bench;

TEST_CASE("the device query reports real values") {
  const GpuStatus& s = gpu_status();
  REQUIRE(s.usable);
  CHECK(s.built);
  CHECK(s.reason.empty());
  CHECK(s.runtime.find("CUDA runtime") == 0);
  for (const GpuDevice& d : s.devices) {
    CHECK_FALSE(d.name.empty());
    CHECK(d.cc_major >= 7);  // Volta or newer: CUDA 13 supports nothing older
    CHECK(d.sm_count > 0);
    CHECK(d.memory_bytes > (std::int64_t(1) << 30));
    CHECK(d.pci_bus_id.size() >= 12);
  }
  CHECK(gpu_summary(s).find(s.devices.front().name) == 0);
  CHECK(machine_slug(describe_machine()).find("-c-") == std::string::npos);
}
