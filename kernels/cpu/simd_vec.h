// GCC vector types of 8 and 16 floats for kernels written once for both AVX2 and AVX-512: the
// kernel is an always-inline template over the width, instantiated inside functions that carry
// the target attribute, which gives the vector operations their instructions. (An attribute on
// a dependent alias template is dropped, hence the explicit typedefs.)
#pragma once

#include <cstring>

namespace flopslab::cpu_simd {

typedef float Vec8 __attribute__((vector_size(32)));
typedef float Vec16 __attribute__((vector_size(64)));
template <int V> struct VecOf;
template <> struct VecOf<8> { using type = Vec8; };
template <> struct VecOf<16> { using type = Vec16; };
template <int V>
using Vec = typename VecOf<V>::type;

template <int V>
[[gnu::always_inline]] inline Vec<V> load(const float* p) {
  Vec<V> v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// A vector loaded once and used by several FMAs, kept in a register: GCC otherwise folds the
// load into each FMA as a memory operand, one load per use, and a kernel that reuses each
// loaded vector becomes bound by the loads again (a depthwise weight gradient ran 1.5x slower).
// On x86 an empty asm that claims to change the register stops the folding; elsewhere the
// vector is returned as it is.
template <int V>
[[gnu::always_inline]] inline Vec<V> load_to_register(const float* p) {
  Vec<V> v = load<V>(p);
#if defined(__x86_64__)
  asm("" : "+v"(v));
#endif
  return v;
}

template <int V>
[[gnu::always_inline]] inline float sum_lanes(const Vec<V>& v) {
  float s = 0;
  for (int i = 0; i < V; ++i) s += v[i];
  return s;
}

}  // namespace flopslab::cpu_simd
