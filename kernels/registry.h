// The one list of kernel variants. The benchmark runner, the tests, the report and the
// lessons all iterate it, so adding a variant is one file (which defines its descriptor) plus
// one line in registry.cpp.
#pragma once

#include <span>
#include <string>
#include <string_view>

#include "kernels/gemm.h"

namespace flopslab {

enum class Device { cpu, cuda };
enum class Role { ladder, peer };  // a rung we wrote, or a library we compare against

inline const char* device_name(Device d) { return d == Device::cpu ? "cpu" : "cuda"; }

struct RunContext {
  int threads = 1;          // CPU variants: how many threads they may use
  void* stream = nullptr;   // CUDA variants: the cudaStream_t to launch on (null: default)
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

  bool available() const { return unavailable == nullptr || unavailable() == nullptr; }
};

// Ladder rungs in step order per device, then the peers.
std::span<const GemmVariant* const> gemm_variants();
const GemmVariant* find_gemm_variant(std::string_view name);

}  // namespace flopslab
