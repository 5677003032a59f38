// Target attributes for functions written for one x86 instruction set, chosen at run time by
// cpu_features(). On other architectures they are empty: such a function compiles for the
// baseline there (NEON on aarch64, where a GCC vector of 8 floats is a pair of 128-bit
// registers) and the dispatch decides whether it runs.
#pragma once

#if defined(__x86_64__)
#define FLOPSLAB_TARGET_FMA __attribute__((target("fma")))
#define FLOPSLAB_TARGET_AVX __attribute__((target("avx")))
#define FLOPSLAB_TARGET_AVX2_FMA __attribute__((target("avx2,fma")))
#define FLOPSLAB_TARGET_AVX512_FMA __attribute__((target("avx512f,fma")))
#else
#define FLOPSLAB_TARGET_FMA
#define FLOPSLAB_TARGET_AVX
#define FLOPSLAB_TARGET_AVX2_FMA
#define FLOPSLAB_TARGET_AVX512_FMA
#endif

// aarch64 extensions past the baseline (SVE, BF16) are compiled per function, with target
// attributes, and chosen at run time from HWCAP. GCC accepts their intrinsics that way; clang
// 14 does not (its arm_sve.h and BF16 types insist on -march for the whole file, which would
// let SVE instructions into inline code every CPU runs). A clang build therefore leaves those
// kernels out unless the whole build targets them, and runs the NEON ones.
#if defined(__aarch64__) && (!defined(__clang__) || defined(__ARM_FEATURE_SVE))
#define FLOPSLAB_HAVE_SVE_KERNELS 1
#else
#define FLOPSLAB_HAVE_SVE_KERNELS 0
#endif
#if defined(__aarch64__) && (!defined(__clang__) || defined(__ARM_FEATURE_BF16))
#define FLOPSLAB_HAVE_ARM_BF16_KERNELS 1
#else
#define FLOPSLAB_HAVE_ARM_BF16_KERNELS 0
#endif
