// The GEMM checker: a float64 reference and an error bound that a correct float32 kernel can
// never exceed, whatever order it sums in.
//
// For c = sum over p of a_p * b_p computed in float32 in any order (with or without FMA),
//   |c - exact| <= (k + 2) * u * sum over p of |a_p * b_p|,    u = 2^-24
// (the classic gamma_k bound, plus one rounding for the products and one for the store).
// The bound scales with k; a kernel that drops or repeats one term of a random problem
// exceeds it by a wide margin, and a NaN or Inf anywhere in C fails outright.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "harness/memory.h"

#include "kernels/gemm.h"

namespace flopslab::bench {

struct GemmCheck {
  std::int64_t compared = 0;    // elements compared with the reference
  std::int64_t over_bound = 0;  // elements with |c - ref| > bound
  std::int64_t non_finite = 0;  // NaN or Inf anywhere in C (the whole matrix is scanned)
  double worst = 0;             // max |c - ref| / bound over the compared elements
  std::int64_t worst_i = -1, worst_j = -1;  // a convolution's flat output index in worst_i, worst_j = -1
  bool sampled = false;  // rows and columns were sampled instead of every element

  bool passed() const { return over_bound == 0 && non_finite == 0; }
  std::string summary() const;
};

// Compares every element when m*n*k <= full_check_work, otherwise every element of 16 rows
// and 16 columns (the first, the last and random ones between), which catches edge-handling
// bugs at any size in a fraction of the kernel's own time. A variant that rounds its inputs
// (input_roundoff u_in > 0: bf16 2^-8) gets the bound ((k+2)u(1+u_in)^2 + 2u_in + u_in^2)·Σ|a·b|:
// each rounded product is off by at most (2u_in + u_in^2)|a·b| before the float32 sum.
GemmCheck check_gemm(const gemm::Operands& op, std::int64_t full_check_work = std::int64_t(1) << 27,
                     std::uint64_t seed = 7, double input_roundoff = 0);

// Elementwise agreement with another implementation's result (cuBLAS for the GPU ladder):
//   |c - ref| <= atol + rtol x |ref|, and no NaN or Inf in c.
struct ToleranceCheck {
  std::int64_t compared = 0, over = 0, non_finite = 0;
  double atol = 0, rtol = 0, max_abs_diff = 0, worst = 0;  // worst = max |c - ref| / tolerance
  bool passed() const { return over == 0 && non_finite == 0; }
  std::string summary() const;
};

ToleranceCheck compare_to_reference(const float* c, std::int64_t ldc, const float* ref, std::int64_t ldref,
                                    std::int64_t m, std::int64_t n, double atol, double rtol);

// Tolerances for two FP32-accumulated GEMMs of inputs in [-1, 1) to agree: accumulation error
// grows with k, and inputs rounded to fewer bits (TF32: u = 2^-11, BF16: 2^-8; FP32: 0) add
// a random error per product that grows with sqrt(k). Loose enough that two correct
// summation orders always agree, tight enough that one dropped term of k = 4093 fails.
std::pair<double, double> gemm_tolerance(std::int64_t k, double input_roundoff);

// A, B and C for one shape, with leading dimensions = columns + pad. A and B hold uniform
// values in [-1, 1); C starts as NaN so that an element a kernel forgets to write fails.
struct GemmProblem {
  GemmProblem(gemm::Shape shape, std::uint64_t seed, std::int64_t pad = 0);
  gemm::Operands operands();
  void poison_c();

  gemm::Shape shape;
  std::int64_t lda, ldb, ldc;
  std::vector<float, OperandAllocator<float>> a, b, c;
};

}  // namespace flopslab::bench
