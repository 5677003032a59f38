// The table of a sweep's variants: each one's step (or role), what it does, and what it chose
// on this machine (or why it cannot run here), for the GEMM and the convolution ladders alike.
#pragma once

#include <string>
#include <vector>

#include "harness/table.h"
#include "kernels/registry.h"

namespace flopslab::bench {

Table gemm_variant_table(const std::vector<const GemmVariant*>& variants);
Table conv_variant_table(const std::vector<const ConvVariant*>& variants);

// Every CPU peer library in the registry (GEMM, then convolution), one line each: its name,
// what it is and which version and kernels it chose here, or why it is not here (the opt-in
// ones: not installed, and how to install them). The report's machine section.
struct PeerLibraryLine {
  std::string kind;  // "gemm" or "conv"
  std::string name, here;
  bool available = false;
};
std::vector<PeerLibraryLine> cpu_peer_libraries();

}  // namespace flopslab::bench
