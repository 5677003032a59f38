// Multiply-add throughput loops: the upper bound any floating-point kernel on this core can
// reach.
//
// Each loop keeps `accumulators` independent chains acc = acc * x + y in registers. One
// chain alone is limited by the FMA latency (4-5 cycles); the core retires one FMA per pipe
// per cycle only when latency x pipes chains are in flight, so each loop carries more chains
// than that (12 for 16-register ISAs, 24 for AVX-512's 32 registers). A CPU without FMA
// (Nehalem, Sandy and Ivy Bridge, or FLOPSLAB_SIMD=scalar) runs the same loop as a multiply
// and an add: the same 2 FLOP per lane, issued to a multiply pipe and an add pipe.
//
// The bf16 loops are dot-product chains, acc += a0*b0 + a1*b1 per fp32 lane: vdpbf16ps
// (AVX512_BF16) and BFDOT (Arm FEAT_BF16) take bf16 pairs and do two multiply-adds per lane,
// the ceiling of the GEMM ladder's bf16 rung.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace flopslab::probes {

enum class Precision { fp32, fp64, bf16 };
inline const char* precision_name(Precision p) {
  return p == Precision::fp32 ? "fp32" : p == Precision::fp64 ? "fp64" : "bf16";
}

struct FmaLoop {
  const char* name;  // "avx2-fp32"; a loop and its mul+add twin share the name (one runs here)
  const char* isa;   // "scalar", "sse (128-bit)", "avx2 (256-bit)", "avx-512 (512-bit)"
  int vector_bits;   // 32/64 for scalar, else 128, 256, 512
  Precision precision;
  int lanes;         // accumulator values per instruction (fp32 lanes for the bf16 loops)
  int accumulators;  // independent chains
  bool fused;        // one FMA instruction per multiply-add; false: a multiply and an add
  bool (*supported)();
  // Runs `iterations` rounds (one FMA per chain per round). The result depends on every FMA,
  // so the compiler cannot drop any of them.
  double (*run)(std::int64_t iterations);
  int products_per_lane = 1;  // multiply-adds per lane and instruction: 2 for the bf16 pair dot products, 4 for BFMMLA, 32 for AMX
  int issue_cycles = 1;       // cycles between two instructions on one pipe: 16 for AMX's tile multiply

  double flops_per_iteration() const { return 2.0 * lanes * products_per_lane * accumulators; }
};

// Narrowest to widest, fp32 before fp64 at each width; each with FMA, and the scalar, SSE
// and AVX ones also as mul+add for CPUs without FMA; the bf16 dot-product loops last.
std::span<const FmaLoop> fma_loops();
// The widest loop this CPU supports for the precision (every x86-64 CPU runs at least the
// scalar and SSE ones, as FMAs or as multiplies and adds). bf16 has no fallback: check
// supported() on the answer.
const FmaLoop& widest_fma_loop(Precision precision);
// The loop of that name this CPU runs (or, where it runs neither twin, the first); null for
// an unknown name.
const FmaLoop* find_fma_loop(const char* name);
// What the loop issues per lane and chain: "FMA", "multiply + add", "bf16 pair dot product"
// or "bf16 block product".
inline const char* operation_name(const FmaLoop& loop) {
  return loop.products_per_lane == 32  ? "bf16 tile product"
         : loop.products_per_lane == 4 ? "bf16 block product"
         : loop.products_per_lane == 2 ? "bf16 pair dot product"
         : loop.fused                  ? "FMA"
                                       : "multiply + add";
}
// What each accumulator lane gains per iteration of a bf16 loop: every operand is 2^-10, so
// each product is exactly 2^-20 and a lane gains products_per_lane x 2^-20 (2^-19 for a pair
// dot product, 2^-18 for BFMMLA's 4 x 2 block, 2^-15 for an AMX tile's 32 products); run(n) -
// run(0) is exactly that times lanes x accumulators x n (a test checks that every product was
// done).
constexpr double kBf16ProductValue = 1.0 / (1 << 20);
inline double bf16_gain_per_iteration(const FmaLoop& loop) { return loop.products_per_lane * kBf16ProductValue; }
// "avx2-fp32 FMA loop", "sse-fp32 multiply + add loop".
inline std::string loop_label(const FmaLoop& loop) {
  return std::string(loop.name) + " " + operation_name(loop) + " loop";
}

}  // namespace flopslab::probes
