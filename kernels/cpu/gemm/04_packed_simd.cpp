// Step 4: packed panels and a SIMD register micro-kernel (one thread).
//
// Blocking alone leaves two costs: the inner loop still loads and stores C on every update,
// and the tiles are strided views of A and B. Here C's tile stays in registers for a whole
// kc-long dot product (the micro-kernel), and A and B are copied ("packed") into the order
// the micro-kernel reads them. The loop structure is described in packed.h.
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <cstdio>
#include <string>

#include "kernels/cpu/gemm/packed_driver.h"
#include "kernels/registry.h"

namespace flopslab::gemm::packed {

AlignedBuffer::AlignedBuffer(std::int64_t floats) {
  // Panels of a megabyte or more go on 2 MiB pages where the kernel allows it (THP "madvise"
  // mode): a 4 KiB-paged B panel takes hundreds of TLB entries.
  constexpr std::size_t kHuge = std::size_t(2) << 20;
  const std::size_t raw = static_cast<std::size_t>(std::max<std::int64_t>(floats, 16)) * sizeof(float);
  const std::size_t align = raw >= kHuge / 2 ? kHuge : 64;
  const std::size_t bytes = (raw + align - 1) / align * align;
  data_ = static_cast<float*>(std::aligned_alloc(align, bytes));
  if (data_ == nullptr) throw std::bad_alloc();
  if (align == kHuge) madvise(data_, bytes, MADV_HUGEPAGE);
}
AlignedBuffer::~AlignedBuffer() { std::free(data_); }

float* reusable_scratch(int slot, std::int64_t floats) {
  struct Slot {
    std::unique_ptr<AlignedBuffer> buffer;
    std::int64_t floats = 0;
  };
  thread_local Slot slots[kScratchSlots];
  Slot& s = slots[slot];
  if (s.floats < floats) s.buffer = std::make_unique<AlignedBuffer>(floats), s.floats = floats;
  return s.buffer->data();
}

const MicroKernel& micro_kernel(SimdPath path) {
  switch (path) {
    case SimdPath::avx512: return kMicroKernelAvx512;
    case SimdPath::avx2: return kMicroKernelAvx2;
    case SimdPath::scalar: return kMicroKernelScalar;
    case SimdPath::neon: return kMicroKernelNeon;
    case SimdPath::sve: return micro_kernel_sve();
  }
  return kMicroKernelScalar;
}

namespace {
// FLOPSLAB_GEMM_BLOCKING=mc,kc,nc replaces the model's blocks (for experiments such as lesson
// 05's exercise); the "here" column then says so. Values are rounded to what the kernels need.
std::optional<Blocking> blocking_from_environment(const MicroKernel& uk) {
  const char* text = std::getenv("FLOPSLAB_GEMM_BLOCKING");
  if (text == nullptr || *text == '\0') return std::nullopt;
  long long mc = 0, kc = 0, nc = 0;
  char tail = 0;
  if (std::sscanf(text, "%lld,%lld,%lld%c", &mc, &kc, &nc, &tail) != 3 || mc < 1 || kc < 1 || nc < 1)
    return std::nullopt;
  return Blocking{.mc = (mc + uk.mr - 1) / uk.mr * uk.mr,
                  .kc = std::min<std::int64_t>(kc, kMaxKc),
                  .nc = (nc + uk.nr - 1) / uk.nr * uk.nr};
}
}  // namespace

Blocking default_blocking(const MicroKernel& uk) {
  if (const std::optional<Blocking> b = blocking_from_environment(uk)) return *b;
  return analytical_blocking(uk.mr, uk.nr, sizeof(float), cache_geometries()).blocking;
}

namespace {

// One sliver of A: for each p, the kMr values A[0..kMr)[p] side by side. Reading kMr rows in
// step keeps the writes sequential; kMr is a constant so the inner loop unrolls.
template <int kMr>
void pack_a_sliver(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, float* dst) {
  const float* src[kMr];
  for (int r = 0; r < kMr; ++r) src[r] = a + std::min<std::int64_t>(r, rows - 1) * lda;
  if (rows == kMr) {
    for (std::int64_t p = 0; p < kc; ++p)
      for (int r = 0; r < kMr; ++r) dst[p * kMr + r] = src[r][p];
    return;
  }
  for (std::int64_t p = 0; p < kc; ++p)  // a short sliver at the bottom edge: pad with zeros
    for (int r = 0; r < kMr; ++r) dst[p * kMr + r] = r < rows ? src[r][p] : 0.0f;
}

}  // namespace

void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, int mr,
            float* dst) {
  for (std::int64_t i0 = 0; i0 < rows; i0 += mr, dst += kc * mr) {
    const std::int64_t valid = std::min<std::int64_t>(mr, rows - i0);
    const float* src = a + i0 * lda;
    switch (mr) {
      case 4: pack_a_sliver<4>(src, lda, valid, kc, dst); break;
      case 6: pack_a_sliver<6>(src, lda, valid, kc, dst); break;
      case 8: pack_a_sliver<8>(src, lda, valid, kc, dst); break;
      case 12:
        if (valid == 12 && cpu_features().can_avx512()) {
          pack_a_sliver_12_avx512(src, lda, kc, dst);
        } else {
          pack_a_sliver<12>(src, lda, valid, kc, dst);
        }
        break;
      default:
        for (std::int64_t p = 0; p < kc; ++p)
          for (std::int64_t r = 0; r < mr; ++r) dst[p * mr + r] = r < valid ? src[r * lda + p] : 0.0f;
    }
  }
}

namespace {

template <int kNr>
void pack_b_sliver_fixed(const float* b, std::int64_t ldb, std::int64_t kc, std::int64_t cols, float* dst) {
  if (cols == kNr) {  // the common case: a fixed-length copy the compiler turns into vector moves
    for (std::int64_t p = 0; p < kc; ++p)
      for (int j = 0; j < kNr; ++j) dst[p * kNr + j] = b[p * ldb + j];
    return;
  }
  for (std::int64_t p = 0; p < kc; ++p)  // the right edge: pad with zeros
    for (int j = 0; j < kNr; ++j) dst[p * kNr + j] = j < cols ? b[p * ldb + j] : 0.0f;
}

}  // namespace

void pack_b_sliver(const float* b, std::int64_t ldb, std::int64_t kc, std::int64_t cols, int nr,
                   float* dst) {
  switch (nr) {
    case 8: return pack_b_sliver_fixed<8>(b, ldb, kc, cols, dst);
    case 12: return pack_b_sliver_fixed<12>(b, ldb, kc, cols, dst);
    case 16: return pack_b_sliver_fixed<16>(b, ldb, kc, cols, dst);
    case 32: return pack_b_sliver_fixed<32>(b, ldb, kc, cols, dst);
  }
  for (std::int64_t p = 0; p < kc; ++p)
    for (std::int64_t j = 0; j < nr; ++j) dst[p * nr + j] = j < cols ? b[p * ldb + j] : 0.0f;
}

void macro_kernel(const MicroKernel& uk, std::int64_t rows, std::int64_t cols, std::int64_t kc,
                  const float* a_packed, const float* b_packed, float* c, std::int64_t ldc,
                  bool accumulate) {
  macro_kernel_for(FloatPanels<InputFormat::fp32>(uk), rows, cols, kc, a_packed, b_packed, c, ldc, accumulate);
}

namespace {

std::int64_t round_up(std::int64_t x, std::int64_t to) { return (x + to - 1) / to * to; }

}  // namespace

std::int64_t balanced_block(std::int64_t total, std::int64_t block, int unit) {
  if (total <= 0) return block;
  const std::int64_t pieces = (total + block - 1) / block;
  return std::min(block, round_up((total + pieces - 1) / pieces, unit));
}

void gemm_packed(const Operands& op, const MicroKernel& uk, const Blocking& blk) {
  const auto [m, n, k] = op.shape;
  if (k == 0) {  // an empty sum: C = 0
    for (std::int64_t i = 0; i < m; ++i) std::fill_n(op.c + i * op.ldc, n, 0.0f);
    return;
  }
  const std::int64_t kc_max = std::min(blk.kc, k);
  const std::int64_t mc_step = balanced_block(m, rows_per_block(blk, op.ldc, uk.mr), uk.mr);
  AlignedBuffer a_packed(mc_step * kc_max);
  AlignedBuffer b_packed(std::min(blk.nc, round_up(n, uk.nr)) * kc_max);

  for (std::int64_t jc = 0; jc < n; jc += blk.nc) {
    const std::int64_t nc = std::min(blk.nc, n - jc);
    for (std::int64_t pc = 0; pc < k; pc += blk.kc) {
      const std::int64_t kc = std::min(blk.kc, k - pc);
      for (std::int64_t j0 = 0; j0 < nc; j0 += uk.nr)
        pack_b_sliver(op.b + pc * op.ldb + jc + j0, op.ldb, kc,
                      std::min<std::int64_t>(uk.nr, nc - j0), uk.nr, b_packed.data() + j0 * kc);
      for (std::int64_t ic = 0; ic < m; ic += mc_step) {
        const std::int64_t mc = std::min(mc_step, m - ic);
        pack_a(op.a + ic * op.lda + pc, op.lda, mc, kc, uk.mr, a_packed.data());
        macro_kernel(uk, mc, nc, kc, a_packed.data(), b_packed.data(), op.c + ic * op.ldc + jc,
                     op.ldc, /*accumulate=*/pc > 0);
      }
    }
  }
}

namespace {

void packed_simd(const Operands& op, const RunContext&) {
  const MicroKernel& uk = micro_kernel(best_simd_path());
  gemm_packed(op, uk, default_blocking(uk));
}

}  // namespace

std::string describe_choice() {
  const MicroKernel& uk = micro_kernel(best_simd_path());
  const std::string kernel =
      std::string(simd_path_name(uk.path)) + " micro-kernel " + std::to_string(uk.mr) + "x" + std::to_string(uk.nr);
  if (const std::optional<Blocking> b = blocking_from_environment(uk))
    return kernel + ", blocks mc " + std::to_string(b->mc) + " kc " + std::to_string(b->kc) + " nc " +
           std::to_string(b->nc) + " (set by FLOPSLAB_GEMM_BLOCKING)";
  return kernel + ", " + describe_blocking(analytical_blocking(uk.mr, uk.nr, sizeof(float), cache_geometries()), cache_geometries());
}

}  // namespace flopslab::gemm::packed

namespace flopslab::gemm {
extern const GemmVariant kCpuPackedSimd{
    .name = "packed-simd",
    .step = 4,
    .idea = "packed panels + a register-tile micro-kernel (AVX-512 / AVX2+FMA / SVE / NEON / scalar, by what the CPU has)",
    .run = packed::packed_simd,
    .detail = packed::describe_choice,
};
}  // namespace flopslab::gemm
