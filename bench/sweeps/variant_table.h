// The table of a sweep's variants: each one's step (or role), what it does, and what it chose
// on this machine (or why it cannot run here), for the GEMM and the convolution ladders alike.
#pragma once

#include <vector>

#include "harness/table.h"
#include "kernels/registry.h"

namespace flopslab::bench {

Table gemm_variant_table(const std::vector<const GemmVariant*>& variants);
Table conv_variant_table(const std::vector<const ConvVariant*>& variants);

}  // namespace flopslab::bench
