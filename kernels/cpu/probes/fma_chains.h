// FMA throughput loops: the upper bound any floating-point kernel on this core can reach.
//
// Each loop keeps `accumulators` independent chains acc = acc * x + y in registers. One
// chain alone is limited by the FMA latency (4-5 cycles); the core retires one FMA per pipe
// per cycle only when latency x pipes chains are in flight, so each loop carries more chains
// than that (12 for 16-register ISAs, 24 for AVX-512's 32 registers).
#pragma once

#include <cstdint>
#include <span>

namespace flopslab::probes {

enum class Precision { fp32, fp64 };
inline const char* precision_name(Precision p) { return p == Precision::fp32 ? "fp32" : "fp64"; }

struct FmaLoop {
  const char* name;  // "avx2-fp32"
  const char* isa;   // "scalar", "sse (128-bit)", "avx2 (256-bit)", "avx-512 (512-bit)"
  int vector_bits;   // 32/64 for scalar, else 128, 256, 512
  Precision precision;
  int lanes;         // values per instruction
  int accumulators;  // independent chains
  bool (*supported)();
  // Runs `iterations` rounds (one FMA per chain per round). The result depends on every FMA,
  // so the compiler cannot drop any of them.
  double (*run)(std::int64_t iterations);

  double flops_per_iteration() const { return 2.0 * lanes * accumulators; }
};

// Narrowest to widest, fp32 before fp64 at each width.
std::span<const FmaLoop> fma_loops();
// The widest loop this CPU supports for the precision.
const FmaLoop& widest_fma_loop(Precision precision);

}  // namespace flopslab::probes
