// A block transpose in AVX-512 registers (kernels/cpu/transpose_avx512.cpp), shared by the
// GEMM's A packer and the blocked convolution's layout conversions: element by element,
// each of those was a strided gather or scatter costing more than the arithmetic around it.
#pragma once

#include <cstdint>

namespace flopslab::cpu_simd {

// dst[j * ld_dst + i] = src[i * ld_src + j] for i < rows, j < cols (both at most 16). Reads
// only the rows x cols block and writes only its transpose. Call only where AVX-512F is usable.
void transpose_16x16_avx512(const float* src, std::int64_t ld_src, int rows, int cols, float* dst,
                            std::int64_t ld_dst);

}  // namespace flopslab::cpu_simd
