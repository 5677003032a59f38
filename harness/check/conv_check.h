// The convolution checker: a float64 reference for any element of any pass, and the same
// error bound as the GEMM checker (harness/check/gemm_check.h): each output is a sum of L products,
// L = (C/g)*R*S for forward, at most (K/g)*R*S for backward_data and N*P*Q for
// backward_weights, so a correct float32 kernel stays within (L + 2) * 2^-24 * sum |products|
// in any summation order. NaN or Inf anywhere in the output fails outright.
#pragma once

#include <cstdint>
#include <vector>

#include "harness/check/gemm_check.h"
#include "kernels/conv.h"
#include "kernels/registry.h"

namespace flopslab::bench {

// Uniform inputs in [-1, 1) for every tensor; the output of the pass under test is poisoned
// with NaN before each checked run, so an element a kernel forgets to write fails.
struct ConvProblem {
  ConvProblem(conv::Shape shape, std::uint64_t seed);
  conv::Operands operands();
  void poison(conv::Pass pass);

  conv::Shape shape;
  std::vector<float> x, w, y;
};

// The float64 value of element `index` of the pass's output and the sum of |products| in it.
struct ReferenceElement {
  double value = 0, magnitude = 0;
  std::int64_t terms = 0;
};
ReferenceElement conv_reference_element(const conv::Operands& op, conv::Pass pass, std::int64_t index);

// Compares every output element when (outputs x terms) <= full_check_work, otherwise the
// first and last 256 elements and 4096 random ones. input_roundoff widens the bound for
// variants that round their inputs below FP32 (as GemmVariant::input_roundoff).
// error_block: as ConvVariant::error_block (Winograd's m x m output tiles).
GemmCheck check_conv(const conv::Operands& op, conv::Pass pass, double input_roundoff = 0,
                     std::int64_t full_check_work = std::int64_t(1) << 26, std::uint64_t seed = 11, int error_block = 1);
// With a variant's own error model: its input_roundoff and error_block.
GemmCheck check_conv(const conv::Operands& op, conv::Pass pass, const ConvVariant& variant);

}  // namespace flopslab::bench
