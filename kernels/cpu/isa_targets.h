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
