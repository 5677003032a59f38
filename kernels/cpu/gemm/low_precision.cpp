// Bulk 16-bit conversions: F16C's vcvtps2ph / vcvtph2ps for fp16 where the CPU has them,
// compiler-vectorised integer rounding for bf16 (and for fp16 without F16C). Both round to
// nearest even exactly as the scalar rules of low_precision.h do.
#include "kernels/cpu/gemm/low_precision.h"

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/multiversion.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace flopslab::gemm {
namespace {

// bf16 without branches, so that the loop vectorises: NaN keeps its payload's top bits, quietened.
inline std::uint16_t bf16_bits(std::uint32_t u) {
  const std::uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  return std::uint16_t(nan ? ((u >> 16) | 0x40u) : rounded);
}

FLOPSLAB_MULTIVERSION(void, to_bf16_loop, (const float* in, std::uint16_t* out, std::int64_t n), (in, out, n)) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = bf16_bits(float_bits(in[i]));
}
FLOPSLAB_MULTIVERSION(void, from_bf16_loop, (const std::uint16_t* in, float* out, std::int64_t n), (in, out, n)) {
  for (std::int64_t i = 0; i < n; ++i) out[i] = bits_float(std::uint32_t(in[i]) << 16);
}
FLOPSLAB_MULTIVERSION(void, round_bf16_loop, (float* x, std::int64_t n), (x, n)) {
  for (std::int64_t i = 0; i < n; ++i) x[i] = bits_float(std::uint32_t(bf16_bits(float_bits(x[i]))) << 16);
}

#if defined(__x86_64__)
__attribute__((target("avx2,f16c"))) void to_fp16_f16c(const float* in, std::uint16_t* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  for (; i < n; ++i) out[i] = fp16_from_float(in[i]);
}
__attribute__((target("avx2,f16c"))) void from_fp16_f16c(const std::uint16_t* in, float* out, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  for (; i < n; ++i) out[i] = float_from_fp16(in[i]);
}
__attribute__((target("avx2,f16c"))) void round_fp16_f16c(float* x, std::int64_t n) {
  std::int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(x + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)));
  for (; i < n; ++i) x[i] = float_from_fp16(fp16_from_float(x[i]));
}
#endif

[[maybe_unused]] bool has_f16c() {
#if defined(__x86_64__)
  return cpu_features().f16c && cpu_features().can_avx2_fma();
#else
  return false;
#endif
}

}  // namespace

void to_bits16(InputFormat format, const float* in, std::uint16_t* out, std::int64_t n) {
  if (format == InputFormat::bf16) return to_bf16_loop(in, out, n);
#if defined(__x86_64__)
  if (has_f16c()) return to_fp16_f16c(in, out, n);
#endif
  for (std::int64_t i = 0; i < n; ++i) out[i] = fp16_from_float(in[i]);
}

void from_bits16(InputFormat format, const std::uint16_t* in, float* out, std::int64_t n) {
  if (format == InputFormat::bf16) return from_bf16_loop(in, out, n);
#if defined(__x86_64__)
  if (has_f16c()) return from_fp16_f16c(in, out, n);
#endif
  for (std::int64_t i = 0; i < n; ++i) out[i] = float_from_fp16(in[i]);
}

void round_in_place(InputFormat format, float* x, std::int64_t n) {
  if (format == InputFormat::fp32) return;
  if (format == InputFormat::bf16) return round_bf16_loop(x, n);
#if defined(__x86_64__)
  if (has_f16c()) return round_fp16_f16c(x, n);
#endif
  for (std::int64_t i = 0; i < n; ++i) x[i] = float_from_fp16(fp16_from_float(x[i]));
}

}  // namespace flopslab::gemm
