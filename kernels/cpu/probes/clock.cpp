// The core clock from a chain of dependent integer adds (one add per cycle).
#include "kernels/cpu/probes/clock.h"

namespace flopslab::probes {

std::uint64_t dependent_adds(std::int64_t iterations) {
  std::uint64_t x = 0, one = 1;
#if defined(__x86_64__)
  // 100 adds to the same register: each waits for the previous one. The loop counter runs on
  // other ports in parallel and does not lengthen the chain.
  __asm__ volatile(
      "1:\n\t"
      ".rept 100\n\t"
      "add %2, %0\n\t"
      ".endr\n\t"
      "sub $1, %1\n\t"
      "jnz 1b\n\t"
      : "+r"(x), "+r"(iterations)
      : "r"(one)
      : "cc");
#elif defined(__aarch64__)
  __asm__ volatile(
      "1:\n\t"
      ".rept 100\n\t"
      "add %0, %0, %2\n\t"
      ".endr\n\t"
      "subs %1, %1, #1\n\t"
      "b.ne 1b\n\t"
      : "+r"(x), "+r"(iterations)
      : "r"(one)
      : "cc");
#else
  for (std::int64_t i = 0; i < iterations * kAddsPerIteration; ++i) {
    x += one;
    __asm__ volatile("" : "+r"(x));  // keeps the adds from being folded into one
  }
#endif
  return x;
}

std::uint64_t dependent_multiplies(std::int64_t iterations) {
  std::uint64_t x = 3, factor = 1;
#if defined(__x86_64__)
  __asm__ volatile(
      "1:\n\t"
      ".rept 50\n\t"
      "imul %2, %0\n\t"
      ".endr\n\t"
      "sub $1, %1\n\t"
      "jnz 1b\n\t"
      : "+r"(x), "+r"(iterations)
      : "r"(factor)
      : "cc");
#else
  for (std::int64_t i = 0; i < iterations * kMultipliesPerIteration; ++i) {
    x *= factor;
    __asm__ volatile("" : "+r"(x));
  }
#endif
  return x;
}

}  // namespace flopslab::probes
