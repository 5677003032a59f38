// Loops the compiler vectorises, compiled once per x86-64 level and chosen at run time:
//
//   FLOPSLAB_MULTIVERSION(void, axpy, (float* y, const float* x, float a, std::int64_t n), (y, x, a, n)) {
//     for (std::int64_t i = 0; i < n; ++i) y[i] += a * x[i];
//   }
//
// defines axpy(), which calls the copy built for isa_level(): AVX-512 (x86-64-v4), AVX2 + FMA
// (x86-64-v3) or baseline SSE2. The body is written once, as an always-inline function that
// each copy inlines under its own target. The choice goes through cpu_features(), so
// FLOPSLAB_SIMD caps it like every other kernel (GCC's target_clones would let the loader
// choose by the real CPU). On aarch64 the copies are NEON (the baseline) and SVE, the loop
// vectorised for any vector length with predicated tails (whilelo), chosen where the CPU has
// SVE; a clang 14 build has the NEON copy only (isa_targets.h). Other architectures get the
// body alone, and so does a build with
// FLOPSLAB_ONE_ISA_COPY (the AddressSanitizer tree's: the body's memory use is the same in
// every copy, and compiling three instrumented copies of the Winograd transforms alone takes
// minutes).
#pragma once

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/isa_targets.h"

#if defined(__x86_64__) && !defined(FLOPSLAB_ONE_ISA_COPY)
// ISA lists rather than "arch=x86-64-v3": GCC inlines only between functions of the same arch.
#define FLOPSLAB_TARGET_V3 __attribute__((target("avx2,fma,bmi,bmi2,f16c,lzcnt,movbe")))
#define FLOPSLAB_TARGET_V4 \
  __attribute__((target("avx512f,avx512bw,avx512cd,avx512dq,avx512vl,avx2,fma,bmi,bmi2,f16c,lzcnt,movbe")))

#define FLOPSLAB_MULTIVERSION(ret, name, params, args)                                                  \
  [[gnu::always_inline]] static inline ret name##_body params;                                         \
  FLOPSLAB_TARGET_V4 static ret name##_v4 params { return name##_body args; }                          \
  FLOPSLAB_TARGET_V3 static ret name##_v3 params { return name##_body args; }                          \
  static ret name##_baseline params { return name##_body args; }                                       \
  ret name params {                                                                                    \
    static ret(*const chosen) params = ::flopslab::isa_level() == ::flopslab::IsaLevel::v4   ? name##_v4 \
                                       : ::flopslab::isa_level() == ::flopslab::IsaLevel::v3 ? name##_v3 \
                                                                                             : name##_baseline; \
    return chosen args;                                                                                \
  }                                                                                                    \
  [[gnu::always_inline]] static inline ret name##_body params
#elif defined(__aarch64__) && FLOPSLAB_HAVE_SVE_KERNELS && !defined(FLOPSLAB_ONE_ISA_COPY)
#define FLOPSLAB_MULTIVERSION(ret, name, params, args)                                      \
  [[gnu::always_inline]] static inline ret name##_body params;                             \
  __attribute__((target("+sve"))) static ret name##_sve params { return name##_body args; } \
  static ret name##_baseline params { return name##_body args; }                           \
  ret name params {                                                                        \
    static ret(*const chosen) params = ::flopslab::cpu_features().can_sve() ? name##_sve : name##_baseline; \
    return chosen args;                                                                    \
  }                                                                                        \
  [[gnu::always_inline]] static inline ret name##_body params
#else
#define FLOPSLAB_MULTIVERSION(ret, name, params, args) ret name params
#endif
