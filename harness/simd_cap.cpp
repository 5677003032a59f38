// Passing FLOPSLAB_SIMD's cap on to OpenBLAS and oneDNN by re-executing with their variables set.
#include "harness/simd_cap.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

#include "kernels/cpu/cpu_features.h"

namespace flopslab::bench {
namespace {

// The peers' narrowest settings that hold the cap: OpenBLAS's Haswell core (AVX2 + FMA) and
// oneDNN's AVX2; for scalar, OpenBLAS's Prescott core (SSE3: its Opteron core, SSE2, issues
// 3DNow! prefetches that current CPUs fault on) and oneDNN's narrowest ISA, SSE4.1.
struct Cap {
  const char* openblas_core;
  const char* onednn_isa;
};

const char* kGuard = "FLOPSLAB_SIMD_PEERS_SET";  // set before the execv, so it happens once

}  // namespace

// What the cap asks of the peers here: {variable, value} pairs, empty when there is no cap
// or the CPU is no wider than it (a Haswell asked for avx2), or the user set them already.
static std::vector<std::pair<std::string, std::string>> peer_caps() {
  const std::string cap = simd_cap();
  const CpuFeatures& real = uncapped_cpu_features();
  Cap wanted{nullptr, nullptr};
  if (cap == "avx2" && real.can_avx512()) wanted = {"Haswell", "AVX2"};
  if (cap == "scalar" && real.avx) wanted = {"Prescott", "SSE41"};
  // aarch64: OpenBLAS's Neoverse N1 core is NEON only; its ARMV8 core is its most generic
  // (still NEON: aarch64 has no SIMD-free OpenBLAS). oneDNN's NEON level is its narrowest.
  if (cap == "neon" && real.can_sve()) wanted = {"NEOVERSEN1", "ASIMD"};
  if (cap == "scalar" && real.neon) wanted = {"ARMV8", "ASIMD"};
  std::vector<std::pair<std::string, std::string>> out;
  if (wanted.openblas_core == nullptr) return out;
  if (std::getenv("OPENBLAS_CORETYPE") == nullptr) out.emplace_back("OPENBLAS_CORETYPE", wanted.openblas_core);
  if (std::getenv("ONEDNN_MAX_CPU_ISA") == nullptr) out.emplace_back("ONEDNN_MAX_CPU_ISA", wanted.onednn_isa);
  return out;
}

void apply_simd_cap_to_peers(char** argv) {
  if (std::getenv(kGuard) != nullptr) return;
  const auto caps = peer_caps();
  if (caps.empty()) return;
  for (const auto& [name, value] : caps) ::setenv(name.c_str(), value.c_str(), 1);
  ::setenv(kGuard, "1", 1);
  ::execv("/proc/self/exe", argv);
  // Still here: the peers run uncapped, and the report says so (simd_cap_summary).
  std::fprintf(stderr, "flopslab: warning: could not restart under FLOPSLAB_SIMD's peer settings; OpenBLAS and "
                       "oneDNN run with this CPU's full instruction set\n");
}

std::string simd_cap_summary() {
  const std::string cap = simd_cap();
  if (cap.empty() || !simd_cap_problem().empty()) return {};
  const char* openblas = std::getenv("OPENBLAS_CORETYPE");
  const char* onednn = std::getenv("ONEDNN_MAX_CPU_ISA");
  std::string out = "FLOPSLAB_SIMD=" + cap + ": " +
                    (cap == "avx2"   ? "AVX-512 and AMX hidden"
                     : cap == "neon" ? "SVE hidden"
                     : cap == "sve"  ? "nothing hidden (SVE is this CPU's widest set)"
#if defined(__aarch64__)
                                     : "NEON and SVE hidden (flopslab's own kernels run scalar)");
#else
                                     : "AVX, AVX2, FMA, AVX-512 and AMX hidden (baseline SSE2)");
#endif
  out += std::string("; OpenBLAS core ") + (openblas != nullptr ? openblas : "as this CPU") + ", oneDNN at most " +
         (onednn != nullptr ? onednn : "this CPU's ISA");
  return out;
}

}  // namespace flopslab::bench
