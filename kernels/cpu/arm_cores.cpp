// The aarch64 core table: MIDR implementer and part numbers, and each core's FMA throughput
// (vector pipes that execute FMLA, times their width) as the vendors' software optimisation
// guides describe them. Not yet checked on the hardware itself: a measured FMA rate that
// disagrees with a row is a finding (the flops probe prints both).
#include "kernels/cpu/arm_cores.h"

#include <cstdio>

namespace flopslab {
namespace {

struct Implementer {
  int code;
  const char* name;
};
constexpr Implementer kImplementers[] = {
    {0x41, "ARM"},      {0x42, "Broadcom"}, {0x43, "Cavium"},   {0x46, "Fujitsu"}, {0x48, "HiSilicon"},
    {0x4e, "NVIDIA"},   {0x51, "Qualcomm"}, {0x61, "Apple"},    {0x6d, "Microsoft"}, {0xc0, "Ampere"},
};

struct Entry {
  int implementer, part;
  const char* name;
  int lanes;  // fp32 FMA lanes per cycle
};
constexpr Entry kCores[] = {
    {0x41, 0xd03, "Cortex-A53", 0},   // little in-order cores: the measured rate decides
    {0x41, 0xd05, "Cortex-A55", 0},
    {0x41, 0xd07, "Cortex-A57", 8},
    {0x41, 0xd08, "Cortex-A72", 8},   // Raspberry Pi 4
    {0x41, 0xd0b, "Cortex-A76", 8},   // Raspberry Pi 5
    {0x41, 0xd0c, "Neoverse N1", 8},  // Graviton 2, Ampere Altra
    {0x41, 0xd0d, "Cortex-A77", 8},
    {0x41, 0xd40, "Neoverse V1", 16}, // Graviton 3: SVE 2 x 256-bit
    {0x41, 0xd41, "Cortex-A78", 8},
    {0x41, 0xd42, "Cortex-A78AE", 8}, // Jetson Orin
    {0x41, 0xd44, "Cortex-X1", 16},
    {0x41, 0xd46, "Cortex-A510", 0},
    {0x41, 0xd47, "Cortex-A710", 8},
    {0x41, 0xd48, "Cortex-X2", 16},
    {0x41, 0xd49, "Neoverse N2", 8},  // Azure Cobalt 100: SVE2 2 x 128-bit
    {0x41, 0xd4d, "Cortex-A715", 8},
    {0x41, 0xd4e, "Cortex-X3", 16},
    {0x41, 0xd4f, "Neoverse V2", 16}, // Grace, Graviton 4, Axion: SVE2 4 x 128-bit
    {0x41, 0xd80, "Cortex-A520", 0},
    {0x41, 0xd81, "Cortex-A720", 8},
    {0x41, 0xd82, "Cortex-X4", 16},
    {0x41, 0xd84, "Neoverse V3", 16},
    {0x41, 0xd8e, "Neoverse N3", 8},
    {0x46, 0x001, "A64FX", 32},       // SVE 2 x 512-bit
    {0x61, 0x022, "Apple M1 Icestorm", 8},
    {0x61, 0x023, "Apple M1 Firestorm", 16},
    {0x61, 0x032, "Apple M2 Blizzard", 8},
    {0x61, 0x033, "Apple M2 Avalanche", 16},
    {0xc0, 0xac3, "Ampere-1", 8},
    {0xc0, 0xac4, "Ampere-1a", 8},
};

}  // namespace

ArmCore arm_core(int implementer, int part) {
  const char* vendor = nullptr;
  for (const Implementer& i : kImplementers)
    if (i.code == implementer) vendor = i.name;
  for (const Entry& e : kCores)
    if (e.implementer == implementer && e.part == part) return {vendor, e.name, e.lanes};
  if (implementer == 0 && part == 0) return {"unknown", "aarch64 core (MIDR not readable)", 0};
  char name[48];
  std::snprintf(name, sizeof name, "aarch64 core 0x%02x:0x%03x", unsigned(implementer), unsigned(part));
  return {vendor != nullptr ? vendor : "unknown", name, 0};
}

}  // namespace flopslab
