// The GEMM problem every variant solves, on any device:
//   C[m x n] = A[m x k] * B[k x n]       (single precision, row-major, C overwritten)
// Each matrix has a leading dimension: the distance, in elements, between consecutive rows,
// at least its column count. Sub-matrices of larger arrays are therefore valid operands.
#pragma once

#include <cstdint>

namespace flopslab::gemm {

struct Shape {
  std::int64_t m = 0, n = 0, k = 0;
};

struct Operands {
  Shape shape;
  const float* a = nullptr;
  std::int64_t lda = 0;  // >= k
  const float* b = nullptr;
  std::int64_t ldb = 0;  // >= n
  float* c = nullptr;
  std::int64_t ldc = 0;  // >= n
};

// What a GEMM rounds its operands to before multiplying; the products are summed in float32
// either way (mixed precision: 16-bit inputs, float32 accumulation).
enum class InputFormat { fp32, bf16, fp16 };
inline const char* input_format_name(InputFormat f) {
  return f == InputFormat::fp32 ? "fp32" : f == InputFormat::bf16 ? "bf16" : "fp16";
}

// One multiply and one add per (i, j, p) triple.
inline double flop_count(Shape s) { return 2.0 * double(s.m) * double(s.n) * double(s.k); }

// The least traffic any implementation must cause: read A and B once, write C once.
// Real kernels move more (naive ones far more); this is the yardstick for arithmetic
// intensity, flops / bytes.
inline double compulsory_bytes(Shape s) {
  return 4.0 * (double(s.m) * double(s.k) + double(s.k) * double(s.n) + double(s.m) * double(s.n));
}

}  // namespace flopslab::gemm
