// What this CPU can execute. On x86-64: CPUID, checked against what the OS saves on a context
// switch (XGETBV). On aarch64: the kernel's HWCAP bits (NEON, SVE, BF16, ...), the SVE vector
// length this process runs with, and the MIDR (implementer and part). Kernels use it to pick
// an ISA path at run time, so one binary runs on any CPU of its architecture; the machine
// description reports it.
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
  bool amx_tile = false, amx_bf16 = false;  // AMX: the tile registers, and TDPBF16PS on them

  // aarch64. NEON (Advanced SIMD) is in every aarch64 core; SVE's vector length is the one
  // this process runs with (the kernel may give a process less than the hardware has).
  bool neon = false, neon_fp16 = false, arm_bf16 = false, i8mm = false, sve = false, sve2 = false;
  int sve_bits = 0;
  int midr_implementer = 0, midr_part = 0, midr_variant = 0, midr_revision = 0;  // 0: not read

  bool hypervisor = false;        // CPUID.1:ECX[31], set by every mainstream hypervisor
  std::string hypervisor_vendor;  // "KVMKVMKVM", "Microsoft Hv", ... (empty when none)

  // The usable paths: the instruction set is there *and* the OS saves its registers.
  bool can_avx2_fma() const { return avx2 && fma; }
  bool can_avx512() const { return avx512f; }
  // The kernels written for vectors of 8 floats: AVX2 + FMA on x86; NEON on aarch64, where
  // such a vector is a pair of 128-bit registers (32 of them hold what AVX2's 16 do).
  bool can_vec8_fma() const { return can_avx2_fma() || neon; }
  bool can_sve() const { return sve && sve_bits >= 128; }

  // Names of the set features, in a fixed order (for reports).
  std::vector<std::string> names() const;
};

// Read once, then cached, with the cap of FLOPSLAB_SIMD applied. x86-64: `avx2` hides AVX-512
// and AMX (an AVX2 laptop: Haswell to Arrow Lake, Zen 1-3), `scalar` hides AVX and FMA as well
// (baseline x86-64: SSE2). aarch64: `neon` hides SVE, BF16 and I8MM (a Cortex-A72 to A78, Neoverse N1, Apple
// cores), `sve` hides nothing (it names the full set of an SVE CPU), `scalar` hides NEON too.
// Everything that dispatches on the CPU reads this, so a capped run takes the paths the
// narrower CPU would.
const CpuFeatures& cpu_features();
// The CPU as CPUID reports it, without the cap.
const CpuFeatures& uncapped_cpu_features();

// FLOPSLAB_SIMD's value: "" (unset: no cap) or one of simd_caps(). An unknown value, one of
// the other architecture, or one naming a set this CPU lacks is no cap; simd_cap_problem()
// names it for the command line to refuse.
std::string simd_cap();
std::string simd_cap_problem();  // empty when FLOPSLAB_SIMD is unset or valid
// The caps this CPU takes: x86-64 "avx2" (with AVX2 + FMA) and "scalar"; aarch64 "sve" (with
// SVE), "neon" and "scalar".
std::vector<std::string> simd_caps();

// Linux lends a process the AMX tile state (8 KiB per thread) only when asked:
// arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA). Asked once; true when granted (false
// off x86, on a CPU without AMX, or where the kernel refuses: before Linux 5.16).
bool request_amx_permission();

// x86-64 micro-architecture levels, as compilers name them: what the functions compiled once
// per level (kernels/cpu/multiversion.h) are chosen by.
enum class IsaLevel { baseline, v3, v4 };  // SSE2; + AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE; + AVX-512 F/BW/CD/DQ/VL
IsaLevel isa_level();  // of cpu_features(), so capped
const char* isa_level_name(IsaLevel level);

// The widest SIMD path the GEMM and probe kernels can use here: the CPU's, within what this
// build compiled (a clang 14 aarch64 build has no SVE kernels).
enum class SimdPath { scalar, avx2, avx512, neon, sve };
SimdPath best_simd_path();
const char* simd_path_name(SimdPath path);
// Every path this CPU can run, narrowest first (tests run them all).
std::vector<SimdPath> supported_simd_paths();

}  // namespace flopslab
