// Function multiversioning for loops the compiler vectorises: one copy per instruction-set
// level, chosen when the program loads, by an ifunc resolver. ThreadSanitizer (clang)
// instruments that resolver, which then runs before the sanitizer's runtime has started and
// crashes; a ThreadSanitizer build keeps the baseline copy only (races do not depend on ISA).
#pragma once

#if defined(__SANITIZE_THREAD__)
#define FLOPSLAB_NO_CLONES 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define FLOPSLAB_NO_CLONES 1
#endif
#endif

#ifdef FLOPSLAB_NO_CLONES
#define FLOPSLAB_CLONES_BY_LEVEL
#define FLOPSLAB_CLONES_BY_ISA
#else
// Baseline x86-64, x86-64-v3 (AVX2 + FMA) and x86-64-v4 (AVX-512).
#define FLOPSLAB_CLONES_BY_LEVEL __attribute__((target_clones("default", "arch=x86-64-v3", "arch=x86-64-v4")))
#define FLOPSLAB_CLONES_BY_ISA __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
