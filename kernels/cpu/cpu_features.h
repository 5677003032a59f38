// What this CPU can execute, read from CPUID and checked against what the OS saves on a
// context switch (XGETBV). Kernels use it to pick an ISA path at run time, so one binary
// runs on any x86-64 CPU; the machine description reports it.
#pragma once

#include <string>
#include <vector>

namespace flopslab {

struct CpuFeatures {
  std::string vendor;  // "GenuineIntel", "AuthenticAMD", ...
  std::string brand;   // "AMD EPYC 7B13 64-Core Processor"
  int family = 0, model = 0, stepping = 0;

  bool sse = false, sse2 = false, sse3 = false, ssse3 = false, sse41 = false, sse42 = false;
  bool avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512dq = false, avx512cd = false, avx512bw = false,
       avx512vl = false, avx512_vnni = false, avx512_bf16 = false, avx512_fp16 = false;
  bool amx_tile = false;

  bool hypervisor = false;        // CPUID.1:ECX[31], set by every mainstream hypervisor
  std::string hypervisor_vendor;  // "KVMKVMKVM", "Microsoft Hv", ... (empty when none)

  // The usable paths: the instruction set is there *and* the OS saves its registers.
  bool can_avx2_fma() const { return avx2 && fma; }
  bool can_avx512() const { return avx512f; }

  // Names of the set features, in a fixed order (for reports).
  std::vector<std::string> names() const;
};

// Read once, then cached. FLOPSLAB_SIMD=avx2 or scalar hides the wider instruction sets
// (for testing the paths of narrower CPUs).
const CpuFeatures& cpu_features();

// The widest SIMD path the GEMM and probe kernels can use here.
enum class SimdPath { scalar, avx2, avx512 };
SimdPath best_simd_path();
const char* simd_path_name(SimdPath path);
// Every path this CPU can run, narrowest first (tests run them all).
std::vector<SimdPath> supported_simd_paths();

}  // namespace flopslab
