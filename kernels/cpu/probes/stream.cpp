// The STREAM kernels (copy, scale, add, triad) and their non-temporal-store twins.
#include "kernels/cpu/probes/stream.h"

#include "kernels/cpu/multiversion.h"

#if defined(__x86_64__)
#include <emmintrin.h>
#endif

#include <cstring>

namespace flopslab::probes {
namespace {

// Sixteen partial sums: the compiler keeps them in 2-4 vector registers, so the adds do not
// wait on each other and loads, not add latency, set the pace.
FLOPSLAB_MULTIVERSION(double, read,
                      ([[maybe_unused]] double* a, const double* b, [[maybe_unused]] const double* c, std::int64_t n),
                      (a, b, c, n)) {
  double partial[16] = {};
  std::int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) partial[j] += b[i + j];
  double sum = 0;
  for (; i < n; ++i) sum += b[i];
  for (double p : partial) sum += p;
  return sum;
}
FLOPSLAB_MULTIVERSION(double, write,
                      (double* __restrict a, [[maybe_unused]] const double* b, [[maybe_unused]] const double* c, std::int64_t n),
                      (a, b, c, n)) {
  for (std::int64_t i = 0; i < n; ++i) a[i] = kStreamScalar;
  return 0;
}
FLOPSLAB_MULTIVERSION(double, copy,
                      (double* __restrict a, const double* __restrict b, [[maybe_unused]] const double* c, std::int64_t n),
                      (a, b, c, n)) {
  for (std::int64_t i = 0; i < n; ++i) a[i] = b[i];
  return 0;
}
FLOPSLAB_MULTIVERSION(double, scale,
                      (double* __restrict a, const double* __restrict b, [[maybe_unused]] const double* c, std::int64_t n),
                      (a, b, c, n)) {
  for (std::int64_t i = 0; i < n; ++i) a[i] = kStreamScalar * b[i];
  return 0;
}
FLOPSLAB_MULTIVERSION(double, add,
                      (double* __restrict a, const double* __restrict b, const double* __restrict c, std::int64_t n),
                      (a, b, c, n)) {
  for (std::int64_t i = 0; i < n; ++i) a[i] = b[i] + c[i];
  return 0;
}
FLOPSLAB_MULTIVERSION(double, triad,
                      (double* __restrict a, const double* __restrict b, const double* __restrict c, std::int64_t n),
                      (a, b, c, n)) {
  for (std::int64_t i = 0; i < n; ++i) a[i] = b[i] + kStreamScalar * c[i];
  return 0;
}

#if defined(__x86_64__)
// Non-temporal stores: 16-byte SSE2 streaming stores (every x86-64 has them); the write-
// combining buffers merge them into full lines. sfence orders them before the caller's next
// timing read.
double write_nt(double* a, const double*, const double*, std::int64_t n) {
  const __m128d s = _mm_set1_pd(kStreamScalar);
  for (std::int64_t i = 0; i < n; i += 2) _mm_stream_pd(a + i, s);
  _mm_sfence();
  return 0;
}
double copy_nt(double* a, const double* b, const double*, std::int64_t n) {
  for (std::int64_t i = 0; i < n; i += 2) _mm_stream_pd(a + i, _mm_load_pd(b + i));
  _mm_sfence();
  return 0;
}
double triad_nt(double* a, const double* b, const double* c, std::int64_t n) {
  const __m128d s = _mm_set1_pd(kStreamScalar);
  for (std::int64_t i = 0; i < n; i += 2)
    _mm_stream_pd(a + i, _mm_add_pd(_mm_load_pd(b + i), _mm_mul_pd(s, _mm_load_pd(c + i))));
  _mm_sfence();
  return 0;
}
#elif defined(__aarch64__)
// Non-temporal stores: STNP, a store pair of two 128-bit registers with a hint that the data
// will not be read soon, so the core need not bring the lines into its caches first.
typedef double f64x2 __attribute__((vector_size(16)));
inline void store_pair_nt(double* p, f64x2 lo, f64x2 hi) {
  __asm__ volatile("stnp %q0, %q1, [%2]" : : "w"(lo), "w"(hi), "r"(p) : "memory");
}
double write_nt(double* a, const double*, const double*, std::int64_t n) {
  const f64x2 s = {kStreamScalar, kStreamScalar};
  for (std::int64_t i = 0; i < n; i += 4) store_pair_nt(a + i, s, s);
  return 0;
}
double copy_nt(double* a, const double* b, const double*, std::int64_t n) {
  for (std::int64_t i = 0; i < n; i += 4)
    store_pair_nt(a + i, *reinterpret_cast<const f64x2*>(b + i), *reinterpret_cast<const f64x2*>(b + i + 2));
  return 0;
}
double triad_nt(double* a, const double* b, const double* c, std::int64_t n) {
  const f64x2 s = {kStreamScalar, kStreamScalar};
  for (std::int64_t i = 0; i < n; i += 4) {
    const f64x2* bv = reinterpret_cast<const f64x2*>(b + i);
    const f64x2* cv = reinterpret_cast<const f64x2*>(c + i);
    store_pair_nt(a + i, bv[0] + s * cv[0], bv[1] + s * cv[1]);
  }
  return 0;
}
#else
// No non-temporal store spelled out for this architecture: plain stores.
double write_nt(double* a, const double* b, const double* c, std::int64_t n) { return write(a, b, c, n); }
double copy_nt(double* a, const double* b, const double* c, std::int64_t n) { return copy(a, b, c, n); }
double triad_nt(double* a, const double* b, const double* c, std::int64_t n) { return triad(a, b, c, n); }
#endif

const StreamKernel kKernels[] = {
    {"read", "sum += b[i]", 1, 0, 1, false, read},
    {"write", "a[i] = s", 0, 1, 0, false, write},
    {"copy", "a[i] = b[i]", 1, 1, 0, false, copy},
    {"scale", "a[i] = s*b[i]", 1, 1, 1, false, scale},
    {"add", "a[i] = b[i] + c[i]", 2, 1, 1, false, add},
    {"triad", "a[i] = b[i] + s*c[i]", 2, 1, 2, false, triad},
    {"write-nt", "a[i] = s (non-temporal store)", 0, 1, 0, true, write_nt},
    {"copy-nt", "a[i] = b[i] (non-temporal store)", 1, 1, 0, true, copy_nt},
    {"triad-nt", "a[i] = b[i] + s*c[i] (non-temporal store)", 2, 1, 2, true, triad_nt},
};

}  // namespace

std::span<const StreamKernel> stream_kernels() { return kKernels; }

const StreamKernel* find_stream_kernel(const char* name) {
  for (const StreamKernel& k : kKernels)
    if (std::strcmp(k.name, name) == 0) return &k;
  return nullptr;
}

double strided_sum(const double* a, std::int64_t n, std::int64_t stride) {
  // Eight chains: enough that two loads per cycle, not the 3-4 cycle add latency, set the pace.
  double s[8] = {};
  const std::int64_t step = 8 * stride;
  std::int64_t i = 0;
  for (; i + 7 * stride < n; i += step)
    for (int j = 0; j < 8; ++j) s[j] += a[i + j * stride];
  for (; i < n; i += stride) s[0] += a[i];
  return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
}

}  // namespace flopslab::probes
