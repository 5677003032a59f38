// Reading CPUID and XCR0 (x86-64) or HWCAP and MIDR (aarch64) into CpuFeatures, and the
// FLOPSLAB_SIMD cap applied to them.
#include "kernels/cpu/cpu_features.h"

#if defined(__linux__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "kernels/cpu/isa_targets.h"

#include <cstdlib>

#include <cstring>
#include <string_view>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define FLOPSLAB_X86 1
#elif defined(__aarch64__)
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <asm/hwcap.h>

#include "kernels/cpu/arm_cores.h"
#endif

namespace flopslab {
namespace {

#ifdef FLOPSLAB_X86
struct Regs {
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
};

Regs cpuid(unsigned leaf, unsigned subleaf = 0) {
  Regs r;
  __cpuid_count(leaf, subleaf, r.eax, r.ebx, r.ecx, r.edx);
  return r;
}

bool bit(unsigned value, int index) { return (value >> index) & 1u; }

// XCR0 says which register files the OS saves: bits 1-2 for SSE/AVX (XMM, YMM), bits 5-7 for
// AVX-512 (opmask, upper ZMM halves, ZMM16-31). Without them the instructions fault.
unsigned long long read_xcr0() {
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
}

CpuFeatures detect() {
  CpuFeatures f;
  const unsigned max_leaf = cpuid(0).eax;
  {
    const Regs r = cpuid(0);
    char vendor[13] = {};
    std::memcpy(vendor + 0, &r.ebx, 4);
    std::memcpy(vendor + 4, &r.edx, 4);
    std::memcpy(vendor + 8, &r.ecx, 4);
    f.vendor = vendor;
  }
  const Regs l1 = cpuid(1);
  const unsigned base_family = (l1.eax >> 8) & 0xf, base_model = (l1.eax >> 4) & 0xf;
  f.family = static_cast<int>(base_family == 0xf ? base_family + ((l1.eax >> 20) & 0xff) : base_family);
  f.model = static_cast<int>((base_family == 0x6 || base_family == 0xf)
                                 ? (((l1.eax >> 16) & 0xf) << 4) | base_model
                                 : base_model);
  f.stepping = static_cast<int>(l1.eax & 0xf);
  f.sse = bit(l1.edx, 25);
  f.sse2 = bit(l1.edx, 26);
  f.sse3 = bit(l1.ecx, 0);
  f.ssse3 = bit(l1.ecx, 9);
  f.fma = bit(l1.ecx, 12);
  f.movbe = bit(l1.ecx, 22);
  f.sse41 = bit(l1.ecx, 19);
  f.sse42 = bit(l1.ecx, 20);
  f.f16c = bit(l1.ecx, 29);
  f.hypervisor = bit(l1.ecx, 31);

  const bool osxsave = bit(l1.ecx, 27);
  const unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
  const bool os_avx = (xcr0 & 0x6) == 0x6;
  const bool os_avx512 = os_avx && (xcr0 & 0xe0) == 0xe0;
  const bool os_amx = (xcr0 & 0x60000) == 0x60000;

  f.avx = bit(l1.ecx, 28) && os_avx;
  f.fma = f.fma && os_avx;
  f.f16c = f.f16c && os_avx;
  if (max_leaf >= 7) {
    const Regs l7 = cpuid(7, 0);
    f.avx2 = bit(l7.ebx, 5) && os_avx;
    f.bmi1 = bit(l7.ebx, 3);
    f.bmi2 = bit(l7.ebx, 8);
    f.avx512f = bit(l7.ebx, 16) && os_avx512;
    f.avx512dq = bit(l7.ebx, 17) && os_avx512;
    f.avx512cd = bit(l7.ebx, 28) && os_avx512;
    f.avx512bw = bit(l7.ebx, 30) && os_avx512;
    f.avx512vl = bit(l7.ebx, 31) && os_avx512;
    f.avx512_vnni = bit(l7.ecx, 11) && os_avx512;
    f.avx512_fp16 = bit(l7.edx, 23) && os_avx512;
    f.amx_tile = bit(l7.edx, 24) && os_amx;
    f.amx_bf16 = bit(l7.edx, 22) && f.amx_tile;
    if (cpuid(7, 0).eax >= 1) f.avx512_bf16 = bit(cpuid(7, 1).eax, 5) && os_avx512;
  }

  const unsigned max_extended = cpuid(0x80000000).eax;
  if (max_extended >= 0x80000001) f.lzcnt = bit(cpuid(0x80000001).ecx, 5);  // "ABM" on AMD
  if (max_extended >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      const Regs r = cpuid(0x80000002 + i);
      std::memcpy(brand + 16 * i + 0, &r.eax, 4);
      std::memcpy(brand + 16 * i + 4, &r.ebx, 4);
      std::memcpy(brand + 16 * i + 8, &r.ecx, 4);
      std::memcpy(brand + 16 * i + 12, &r.edx, 4);
    }
    std::string_view s(brand);
    while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.remove_suffix(1);
    f.brand = std::string(s);
  }
  if (f.hypervisor) {
    const Regs h = cpuid(0x40000000);
    char name[13] = {};
    std::memcpy(name + 0, &h.ebx, 4);
    std::memcpy(name + 4, &h.ecx, 4);
    std::memcpy(name + 8, &h.edx, 4);
    f.hypervisor_vendor = name;
  }
  return f;
}
#elif defined(__aarch64__)
// The kernel's HWCAP words say which extensions user space may use; the SVE vector length is
// per process (prctl). With HWCAP_CPUID the kernel lets user space read MIDR_EL1 (it traps and
// emulates the read), which names the core: implementer and part number.
CpuFeatures detect() {
  CpuFeatures f;
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  f.neon = (hwcap & HWCAP_ASIMD) != 0;
  f.neon_fp16 = (hwcap & HWCAP_ASIMDHP) != 0;
  f.sve = (hwcap & HWCAP_SVE) != 0;
  f.sve2 = (hwcap2 & HWCAP2_SVE2) != 0;
  f.arm_bf16 = (hwcap2 & HWCAP2_BF16) != 0;
  f.i8mm = (hwcap2 & HWCAP2_I8MM) != 0;
  if (f.sve) {
    const int vl = prctl(PR_SVE_GET_VL);
    f.sve_bits = vl > 0 ? 8 * (vl & PR_SVE_VL_LEN_MASK) : 0;
  }
  if (hwcap & HWCAP_CPUID) {
    unsigned long midr = 0;
    __asm__ volatile("mrs %0, MIDR_EL1" : "=r"(midr));
    f.midr_implementer = int((midr >> 24) & 0xff);
    f.midr_variant = int((midr >> 20) & 0xf);
    f.midr_part = int((midr >> 4) & 0xfff);
    f.midr_revision = int(midr & 0xf);
  }
  const ArmCore core = arm_core(f.midr_implementer, f.midr_part);
  f.vendor = core.implementer;
  f.brand = core.name;
  f.family = f.midr_implementer, f.model = f.midr_part, f.stepping = f.midr_revision;
  return f;
}
#else
CpuFeatures detect() {
  CpuFeatures f;
  f.vendor = "unknown (neither x86-64 nor aarch64)";
  return f;
}
#endif

}  // namespace

std::vector<std::string> CpuFeatures::names() const {
  const std::pair<bool, const char*> all[] = {
      {sse, "sse"},           {sse2, "sse2"},         {sse3, "sse3"},
      {ssse3, "ssse3"},       {sse41, "sse4.1"},      {sse42, "sse4.2"},
      {avx, "avx"},           {avx2, "avx2"},         {fma, "fma"},
      {f16c, "f16c"},         {avx512f, "avx512f"},   {avx512dq, "avx512dq"},
      {avx512cd, "avx512cd"}, {avx512bw, "avx512bw"}, {avx512vl, "avx512vl"},
      {avx512_vnni, "avx512_vnni"}, {avx512_bf16, "avx512_bf16"},
      {avx512_fp16, "avx512_fp16"}, {amx_tile, "amx_tile"}, {amx_bf16, "amx_bf16"},
      {neon, "neon"}, {neon_fp16, "neon_fp16"}, {arm_bf16, "bf16"}, {i8mm, "i8mm"},
      {sve, "sve"}, {sve2, "sve2"}};
  std::vector<std::string> out;
  for (const auto& [present, name] : all)
    if (present) out.emplace_back(name);
  return out;
}

namespace {
// FLOPSLAB_SIMD=avx2 (or scalar) hides the wider paths, so the tests can run the kernels a
// narrower CPU would (an AVX2-only Zen 3 on an AVX-512 machine).
CpuFeatures capped(CpuFeatures f, const std::string& cap) {
  if (cap == "avx2" || cap == "scalar") {
    f.avx512f = f.avx512dq = f.avx512cd = f.avx512bw = f.avx512vl = false;
    f.avx512_vnni = f.avx512_bf16 = f.avx512_fp16 = f.amx_tile = f.amx_bf16 = false;
  }
  if (cap == "scalar") f.avx = f.avx2 = f.fma = f.f16c = false;
  // `neon` stands for the Armv8.0-8.2 cores (Cortex-A72 to A78, Neoverse N1): no SVE, and none
  // of the later BF16 and I8MM instructions either.
  if (cap == "neon" || cap == "scalar") f.sve = f.sve2 = false, f.sve_bits = 0, f.arm_bf16 = f.i8mm = false;
  if (cap == "scalar") f.neon = f.neon_fp16 = false;
  return f;
}

#if defined(__aarch64__)
constexpr bool kOnAarch64 = true;
#else
constexpr bool kOnAarch64 = false;
#endif
}  // namespace

std::string simd_cap() {
  const char* cap = std::getenv("FLOPSLAB_SIMD");
  return cap == nullptr ? std::string() : std::string(cap);
}

std::vector<std::string> simd_caps() {
  const CpuFeatures& f = uncapped_cpu_features();
#if defined(__aarch64__)
  std::vector<std::string> caps;
  if (f.can_sve()) caps.push_back("sve");
  if (f.neon) caps.push_back("neon");
  caps.push_back("scalar");
  return caps;
#else
  return f.can_avx2_fma() ? std::vector<std::string>{"avx2", "scalar"} : std::vector<std::string>{"scalar"};
#endif
}

std::string simd_cap_problem() {
  const std::string cap = simd_cap();
  if (cap.empty()) return {};
  const std::vector<std::string> caps = simd_caps();
  for (const std::string& c : caps)
    if (c == cap) return {};
  std::string valid;
  for (const std::string& c : caps) valid += (valid.empty() ? "" : ", ") + c;
  // "scalar" is valid everywhere, so a known cap that is not valid here is the other
  // architecture's or a set this CPU lacks.
  const bool arm_cap = cap == "sve" || cap == "neon", x86_cap = cap == "avx2";
  const bool other_architecture = kOnAarch64 ? x86_cap : arm_cap;
  const std::string what = other_architecture ? "is a cap for the other architecture (this CPU is " +
                                                    std::string(kOnAarch64 ? "aarch64" : "x86-64") + ")"
                           : arm_cap || x86_cap ? "names an instruction set this CPU lacks"
                                                : "is not a cap";
  return "FLOPSLAB_SIMD: '" + cap + "' " + what + " (valid: " + valid +
         "; unset it for this CPU's full instruction set)";
}

const CpuFeatures& uncapped_cpu_features() {
  static const CpuFeatures features = detect();
  return features;
}

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = capped(uncapped_cpu_features(), simd_cap());
  return features;
}

bool request_amx_permission() {
#if defined(__x86_64__) && defined(__linux__)
  static const bool granted = [] {
    if (!cpu_features().amx_tile) return false;
    constexpr long kArchReqXcompPerm = 0x1023, kXfeatureXtiledata = 18;  // asm/prctl.h, the XSAVE component
    return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
  }();
  return granted;
#else
  return false;
#endif
}

IsaLevel isa_level() {
  static const IsaLevel level = [] {
    const CpuFeatures& f = cpu_features();
    const bool v3 = f.avx && f.avx2 && f.fma && f.f16c && f.bmi1 && f.bmi2 && f.lzcnt && f.movbe;
    const bool v4 = v3 && f.avx512f && f.avx512bw && f.avx512cd && f.avx512dq && f.avx512vl;
    return v4 ? IsaLevel::v4 : v3 ? IsaLevel::v3 : IsaLevel::baseline;
  }();
  return level;
}

const char* isa_level_name(IsaLevel level) {
  return level == IsaLevel::v4 ? "x86-64-v4" : level == IsaLevel::v3 ? "x86-64-v3" : "x86-64 baseline";
}

// SVE only where this build has its kernels (not a clang 14 build: see isa_targets.h).
bool sve_path_here() { return FLOPSLAB_HAVE_SVE_KERNELS && cpu_features().can_sve(); }

SimdPath best_simd_path() {
  const CpuFeatures& f = cpu_features();
  if (sve_path_here()) return SimdPath::sve;
  if (f.neon) return SimdPath::neon;
  if (f.can_avx512()) return SimdPath::avx512;
  if (f.can_avx2_fma()) return SimdPath::avx2;
  return SimdPath::scalar;
}

const char* simd_path_name(SimdPath path) {
  switch (path) {
    case SimdPath::avx512: return "avx512";
    case SimdPath::avx2: return "avx2";
    case SimdPath::scalar: return "scalar";
    case SimdPath::neon: return "neon";
    case SimdPath::sve: return "sve";
  }
  return "?";
}

std::vector<SimdPath> supported_simd_paths() {
  std::vector<SimdPath> paths{SimdPath::scalar};
  if (cpu_features().can_avx2_fma()) paths.push_back(SimdPath::avx2);
  if (cpu_features().can_avx512()) paths.push_back(SimdPath::avx512);
  if (cpu_features().neon) paths.push_back(SimdPath::neon);
  if (sve_path_here()) paths.push_back(SimdPath::sve);
  return paths;
}

}  // namespace flopslab
