// 16-bit floating-point formats for mixed precision: bfloat16 (8 exponent bits like float32,
// 7 stored mantissa bits) and IEEE half (5 exponent bits, 10 mantissa bits, largest 65504).
// Conversions round to nearest even; a value too large for half becomes infinity, which is
// what dynamic loss scaling watches for. Products of two such values are exact in float32
// (at most 22 significant bits), so a GEMM on rounded inputs with float32 sums differs from
// float32 only by the rounding of its inputs.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/gemm.h"

namespace flopslab::gemm {

inline std::uint32_t float_bits(float x) {
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}
inline float bits_float(std::uint32_t u) {
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

inline std::uint16_t bf16_from_float(float x) {
  const std::uint32_t u = float_bits(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((u >> 16) | 0x40u);  // NaN stays a quiet NaN
  return std::uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
inline float float_from_bf16(std::uint16_t h) { return bits_float(std::uint32_t(h) << 16); }
// Two bf16 values of consecutive k in one 32-bit slot, the lower k in the low half: the operand
// vdpbf16ps and AMX's TDPBF16PS take per lane.
inline std::uint32_t bf16_pair(float low_k, float high_k) {
  return std::uint32_t(bf16_from_float(low_k)) | std::uint32_t(bf16_from_float(high_k)) << 16;
}

inline std::uint16_t fp16_from_float(float x) {
  const std::uint32_t u = float_bits(x);
  const std::uint32_t sign = (u >> 16) & 0x8000u, magnitude = u & 0x7fffffffu;
  if (magnitude > 0x7f800000u) return std::uint16_t(sign | 0x7e00u);  // NaN
  if (magnitude >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds past 65504: infinity
  if (magnitude < 0x38800000u) {  // below 2^-14: a subnormal half (or zero), in units of 2^-24
    const float scaled = bits_float(magnitude) * 16777216.0f;  // exact: a power-of-two scale
    // Round to nearest even by adding and removing 2^23 (float32 has no bits below 1 there).
    const float shifted = scaled + 8388608.0f;
    const std::uint32_t q = std::uint32_t(shifted - 8388608.0f);
    return std::uint16_t(sign | q);
  }
  // Normal: drop 13 mantissa bits with round to nearest even, rebias the exponent by 112.
  const std::uint32_t rounded = magnitude + 0xfffu + ((magnitude >> 13) & 1u);
  return std::uint16_t(sign | ((rounded - (112u << 23)) >> 13));
}
inline float float_from_fp16(std::uint16_t h) {
  const std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, exponent = (h >> 10) & 0x1fu, mantissa = h & 0x3ffu;
  if (exponent == 0) {  // zero or subnormal: mantissa * 2^-24
    const float v = float(mantissa) * (1.0f / 16777216.0f);
    return bits_float(sign | float_bits(v));
  }
  if (exponent == 31) return bits_float(sign | 0x7f800000u | (mantissa << 13));
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

inline float round_to(InputFormat format, float x) {
  switch (format) {
    case InputFormat::fp32: return x;
    case InputFormat::bf16: return float_from_bf16(bf16_from_float(x));
    case InputFormat::fp16: return float_from_fp16(fp16_from_float(x));
  }
  return x;
}
inline std::uint16_t to_bits16(InputFormat format, float x) {
  return format == InputFormat::fp16 ? fp16_from_float(x) : bf16_from_float(x);
}
inline float from_bits16(InputFormat format, std::uint16_t h) {
  return format == InputFormat::fp16 ? float_from_fp16(h) : float_from_bf16(h);
}

// The same for whole arrays, with the CPU's conversion instructions where it has them
// (low_precision.cpp); the results equal the scalar functions above.
void to_bits16(InputFormat format, const float* in, std::uint16_t* out, std::int64_t n);
void from_bits16(InputFormat format, const std::uint16_t* in, float* out, std::int64_t n);
void round_in_place(InputFormat format, float* x, std::int64_t n);

}  // namespace flopslab::gemm
