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
  bool bmi1 = false, bmi2 = false, lzcnt = false, movbe = false;  // the rest of x86-64-v3
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

// Read once, then cached, with the cap of FLOPSLAB_SIMD applied: `avx2` hides AVX-512 and
// AMX (an AVX2 laptop: Haswell to Arrow Lake, Zen 1-3), `scalar` hides AVX and FMA as well
// (baseline x86-64: SSE2). Everything that dispatches on the CPU reads this, so a capped run
// takes the paths the narrower CPU would.
const CpuFeatures& cpu_features();
// The CPU as CPUID reports it, without the cap.
const CpuFeatures& uncapped_cpu_features();

// FLOPSLAB_SIMD's value: "" (unset: no cap), "avx2" or "scalar". An unknown value is no cap;
// simd_cap_problem() names it for the command line to refuse.
std::string simd_cap();
std::string simd_cap_problem();  // empty when FLOPSLAB_SIMD is unset or valid

// x86-64 micro-architecture levels, as compilers name them: what the functions compiled once
// per level (kernels/cpu/multiversion.h) are chosen by.
enum class IsaLevel { baseline, v3, v4 };  // SSE2; + AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE; + AVX-512 F/BW/CD/DQ/VL
IsaLevel isa_level();  // of cpu_features(), so capped
const char* isa_level_name(IsaLevel level);

// The widest SIMD path the GEMM and probe kernels can use here.
enum class SimdPath { scalar, avx2, avx512 };
SimdPath best_simd_path();
const char* simd_path_name(SimdPath path);
// Every path this CPU can run, narrowest first (tests run them all).
std::vector<SimdPath> supported_simd_paths();

}  // namespace flopslab
