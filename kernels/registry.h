// The one list of kernel variants. The benchmark runner, the tests, the report and the
// lessons all iterate it, so adding a variant is one file (which defines its descriptor) plus
// one line in registry.cpp.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace flopslab {

enum class Device { cpu, cuda };
// A rung we wrote, a library we compare against, or a library row shown for context only (a
// different precision, so not a fair peer: cuBLAS with TF32 tensor cores, for instance).
enum class Role { ladder, peer, context };
inline const char* role_name(Role r) { return r == Role::ladder ? "ladder" : r == Role::peer ? "peer" : "context"; }

inline const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

struct RunContext {
  int threads = 1;          // CPU variants: how many threads they may use
  void* stream = nullptr;   // CUDA variants: the cudaStream_t to launch on (null: default)
  // CPU GEMM-based variants: the format their GEMM operands are rounded to (mixed precision).
  gemm::InputFormat inputs = gemm::InputFormat::fp32;
};

struct GemmVariant {
  std::string_view name;  // command-line name, e.g. "packed-simd"
  int step = 0;           // rung on the ladder (1 = naive); 0 for peers
  Device device = Device::cpu;
  Role role = Role::ladder;
  bool multithreaded = false;  // uses RunContext::threads
  std::string_view idea;       // what this rung changes, in one line
  void (*run)(const gemm::Operands&, const RunContext&) = nullptr;
  double (*flops)(gemm::Shape) = gemm::flop_count;
  double (*bytes)(gemm::Shape) = gemm::compulsory_bytes;
  // Null when the variant can run here; otherwise why not (peer library not built, ...).
  const char* (*unavailable)() = nullptr;
  // What it chose at run time on this machine (micro-kernel, library core, ISA); may be null.
  std::string (*detail)() = nullptr;
  // Unit roundoff of the products' inputs when the variant rounds them below FP32 (TF32 tensor
  // cores: 2^-11); 0 for true FP32. Widens the tolerance its result is checked with.
  double input_roundoff = 0;

  bool available() const { return unavailable == nullptr || unavailable() == nullptr; }
};

// Ladder rungs in step order per device, then the peers.
std::span<const GemmVariant* const> gemm_variants();
const GemmVariant* find_gemm_variant(std::string_view name);

// A convolution implementation: up to three passes (see kernels/conv.h), any of them null
// when the variant does not provide it.
struct ConvVariant {
  using Pass = void (*)(const conv::Operands&, const RunContext&);
  std::string_view name;  // command-line name, e.g. "implicit-gemm"
  int step = 0;           // rung on the ladder (1 = direct); 0 for peers
  Device device = Device::cpu;
  Role role = Role::ladder;
  bool multithreaded = false;
  std::string_view idea;
  Pass forward = nullptr;
  Pass backward_data = nullptr;
  Pass backward_weights = nullptr;
  // Null, or returns why this variant cannot run this (valid) shape, e.g. "only 1x1 filters
  // with stride 1 and no padding"; nullptr when it can.
  const char* (*unsupported)(const conv::Shape&) = nullptr;
  const char* (*unavailable)() = nullptr;  // as GemmVariant
  std::string (*detail)() = nullptr;       // what it chose on this machine; may be null
  double input_roundoff = 0;               // as GemmVariant (TF32, FP16 context rows)
  // Outputs computed together from one tile of inputs, as an m x m block of each output plane
  // (Winograd's F(m x m, r x r)): one output's rounding follows the largest magnitude in its
  // block, not its own, so the checker bounds it by that. 1: each output on its own.
  int error_block = 1;
  // A variant that chooses between techniques: which one runs this shape and pass
  // ("step 6"); null for the others.
  std::string (*ran)(const conv::Shape&, conv::Pass) = nullptr;

  bool available() const { return unavailable == nullptr || unavailable() == nullptr; }
  const char* why_not(const conv::Shape& shape) const {
    if (!available()) return unavailable();
    return unsupported == nullptr ? nullptr : unsupported(shape);
  }
  Pass pass(conv::Pass p) const {
    return p == conv::Pass::forward ? forward : p == conv::Pass::backward_data ? backward_data : backward_weights;
  }
};

std::span<const ConvVariant* const> conv_variants();
const ConvVariant* find_conv_variant(std::string_view name);

}  // namespace flopslab
