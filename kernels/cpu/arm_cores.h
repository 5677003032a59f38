// aarch64 cores by their MIDR (implementer and part number): the name to report and the
// multiply-add throughput the peak formula needs. The table holds the cores flopslab's users
// meet (Raspberry Pi, Jetson, Graviton, Altra, Grace, phones' and laptops' cores in a VM);
// a core missing from it, or a MIDR a hypervisor masks, is named by its numbers, and the
// measured FMA rate decides its pipes, as on x86.
#pragma once

#include <string>

namespace flopslab {

struct ArmCore {
  std::string implementer;  // "ARM", "Apple", "Ampere", ...
  std::string name;         // "Neoverse N1", or "aarch64 core 0x41:0xd99" when not in the table
  // fp32 multiply-add lanes the core retires per cycle over all its FMA pipes (N1: two 128-bit
  // pipes = 8; V1: four 128-bit or two 256-bit = 16); 0 when the table does not know the core.
  int fp32_fma_lanes_per_cycle;
};

ArmCore arm_core(int implementer, int part);

}  // namespace flopslab
