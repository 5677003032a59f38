// Step 5: step 4 on every core, with OpenMP.
//
// The threads form a grid of tr x tc (rows x columns of C). For each panel they first pack B
// (eight slivers per iteration of an `omp for`) and A (one sliver per iteration) together,
// then each thread runs the same macro-kernel on its own rectangle of C: its rows of the packed A against its columns of
// the packed B. Splitting columns as well as rows matters on many cores: with rows alone,
// every thread would stream the whole B panel through its caches; on a 4 x 4 grid each reads a
// quarter of A and a quarter of B. Nothing is written by two threads, so the only
// synchronisation is the barrier after each packing step and before packed data is reused.
// With two or three threads in a line (a 1 x 2 or 3 x 1 grid) and a small shared operand, each
// thread instead packs what it reads itself and runs step 4 on its own slab of C: no barrier, no
// panel read from another core's cache, at the price of packing the shared operand once per
// thread (packed_driver.h). Where C has few columns and the kernel can (AVX-512, AVX2), A is not
// packed at all: the micro-kernel reads its rows where they lie (read_a_unpacked, blocking.cpp),
// and B's rows too when B is a plain matrix.
#include <omp.h>

#include <algorithm>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm/packed_driver.h"
#include "kernels/cpu/multiversion.h"
#include "kernels/registry.h"

namespace flopslab::gemm::packed {

ThreadGrid thread_grid(std::int64_t m, std::int64_t n, int threads, int mr, int nr) {
  // Minimise what one thread reads per panel, m / rows + n / cols, among the factorisations
  // that leave every thread at least one sliver of each; on a tie, split rows.
  const std::int64_t row_slivers = (m + mr - 1) / mr, col_slivers = (n + nr - 1) / nr;
  ThreadGrid best{1, 1};
  double best_cost = -1;
  for (int rows = threads; rows >= 1; --rows) {
    if (threads % rows != 0) continue;
    const int cols = threads / rows;
    if (rows > row_slivers || cols > col_slivers) continue;
    const double cost = double(m) / rows + double(n) / cols;
    if (best_cost < 0 || cost < best_cost) best = {rows, cols}, best_cost = cost;
  }
  if (best_cost < 0) {  // too small a problem for this many threads: as many rows as fit
    best = {static_cast<int>(std::clamp<std::int64_t>(row_slivers, 1, threads)), 1};
  }
  return best;
}

namespace {
// Dispatches on the input format; read_a_row null: A is (a, lda). b_rows: B as a matrix too,
// which float32 may read unpacked.
void dispatch(Shape shape, const float* a, std::int64_t lda, const ARowReader* read_a_row, const BRowReader& read_b_row,
              float* c, std::int64_t ldc, const MicroKernel& uk, const Blocking& blk, int threads, InputFormat inputs,
              const RowMajorB* b_rows = nullptr) {
  switch (inputs) {
    case InputFormat::fp32:
      return gemm_parallel_for(FloatPanels<InputFormat::fp32>(uk), shape, a, lda, read_b_row, c, ldc, blk, threads,
                               read_a_row, nullptr, 0, 0, nullptr, b_rows);
    case InputFormat::fp16:
      return gemm_parallel_for(FloatPanels<InputFormat::fp16>(uk), shape, a, lda, read_b_row, c, ldc, blk, threads,
                               read_a_row);
    case InputFormat::bf16:
      if (bf16_dot_product_available()) return gemm_bf16_dot(shape, a, lda, read_b_row, c, ldc, threads, read_a_row);
      return gemm_parallel_for(FloatPanels<InputFormat::bf16>(uk), shape, a, lda, read_b_row, c, ldc, blk, threads,
                               read_a_row);
  }
}
}  // namespace

void gemm_packed_parallel(Shape shape, const float* a, std::int64_t lda, const BRowReader& read_b_row, float* c,
                          std::int64_t ldc, const MicroKernel& uk, const Blocking& blk, int threads,
                          InputFormat inputs) {
  dispatch(shape, a, lda, nullptr, read_b_row, c, ldc, uk, blk, threads, inputs);
}

void gemm_packed_parallel(const Operands& op, const MicroKernel& uk, const Blocking& blk, int threads,
                          InputFormat inputs) {
  const BRowReader from_matrix = [&](std::int64_t row, std::int64_t col0, std::int64_t cols, float* out) {
    std::copy_n(op.b + row * op.ldb + col0, cols, out);
  };
  const RowMajorB b_rows{op.b, op.ldb};
  dispatch(op.shape, op.a, op.lda, nullptr, from_matrix, op.c, op.ldc, uk, blk, threads, inputs, &b_rows);
}

void gemm_packed_parallel(Shape shape, const ARowReader& read_a_row, const BRowReader& read_b_row, float* c,
                          std::int64_t ldc, const MicroKernel& uk, const Blocking& blk, int threads,
                          InputFormat inputs) {
  dispatch(shape, nullptr, 0, &read_a_row, read_b_row, c, ldc, uk, blk, threads, inputs);
}

namespace {
// One row of the epilogue, compiled per ISA level (this file is otherwise baseline x86-64);
// out may be in itself (and nothing is declared __restrict).
// Term by term over the row (in L1): each loop is branch-free and vectorises.
FLOPSLAB_MULTIVERSION(void, epilogue_row,
                      (const float* in, float scale, float shift, const float* col_shift,
                       const float* residual, bool relu, float* out, std::int64_t cols),
                      (in, scale, shift, col_shift, residual, relu, out, cols)) {
  for (std::int64_t j = 0; j < cols; ++j) out[j] = in[j] * scale + shift;
  if (col_shift != nullptr)
    for (std::int64_t j = 0; j < cols; ++j) out[j] += col_shift[j];
  if (residual != nullptr)
    for (std::int64_t j = 0; j < cols; ++j) out[j] += residual[j];
  if (relu)
    for (std::int64_t j = 0; j < cols; ++j) out[j] = std::max(out[j], 0.0f);
}
#if defined(__x86_64__)
// The same row in AVX-512, 16 columns a step and the last step under a mask: the rows it gets
// are short (a convolution tile's 14 pixels, a slab's few columns), where the compiled loops
// above ran their scalar tails. One pass, in L1.
__attribute__((target("avx512f"))) void epilogue_row_avx512(const float* in, float scale, float shift,
                                                            const float* col_shift, const float* residual, bool relu,
                                                            float* out, std::int64_t cols) {
  const __m512 a = _mm512_set1_ps(scale), c = _mm512_set1_ps(shift), zero = _mm512_setzero_ps();
  for (std::int64_t j = 0; j < cols; j += 16) {
    const __mmask16 m = cols - j >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << (cols - j)) - 1u);
    __m512 v = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, in + j), a, c);
    if (col_shift != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, col_shift + j));
    if (residual != nullptr) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, residual + j));
    if (relu) v = _mm512_max_ps(zero, v);  // vmaxps returns its second operand on NaN: NaN stays NaN, as std::max
    _mm512_mask_storeu_ps(out + j, m, v);
  }
}
#endif

using EpilogueRowFn = void (*)(const float*, float, float, const float*, const float*, bool, float*, std::int64_t);
EpilogueRowFn epilogue_row_here() {
#if defined(__x86_64__)
  if (cpu_features().can_avx512()) return &epilogue_row_avx512;
#endif
  return &epilogue_row;
}
}  // namespace

void apply_epilogue(const Epilogue& e, std::int64_t row0, std::int64_t col0, std::int64_t rows, std::int64_t cols,
                    float* tile, std::int64_t ldc) {
  static const EpilogueRowFn epilogue_row = epilogue_row_here();
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t i = row0 + r;
    const float scale = e.row_scale != nullptr ? e.row_scale[i] : 1.0f;
    const float shift = e.row_shift != nullptr ? e.row_shift[i] : 0.0f;
    const float* col_shift = e.col_shift != nullptr ? e.col_shift + col0 : nullptr;
    const float* residual = e.residual != nullptr ? e.residual + i * e.ld_residual + col0 : nullptr;
    float* out = e.out_rows != nullptr ? e.out_rows[i] + col0 : tile + r * ldc;
    epilogue_row(tile + r * ldc, scale, shift, col_shift, residual, e.relu, out, cols);
  }
}

void gemm_packed_fused(Shape shape, const float* a, std::int64_t lda, const BRowReader& read_b_row, float* c,
                       std::int64_t ldc, const Epilogue& epilogue, int threads, const TransposedB* b_t) {
  const MicroKernel& uk = micro_kernel(best_simd_path());
  gemm_parallel_for(FloatPanels<InputFormat::fp32>(uk), shape, a, lda, read_b_row, c, ldc, default_blocking(uk),
                    threads, nullptr, &epilogue, 0, 0, b_t);
}

namespace {

void openmp(const Operands& op, const RunContext& ctx) {
  const MicroKernel& uk = micro_kernel(best_simd_path());
  gemm_packed_parallel(op, uk, default_blocking(uk), ctx.threads);
}

}  // namespace
}  // namespace flopslab::gemm::packed

namespace flopslab::gemm {
extern const GemmVariant kCpuOpenmp{
    .name = "openmp",
    .step = 5,
    .multithreaded = true,
    .idea = "step 4 on all cores: threads pack A and B together, then each multiplies its block of C (2-3 threads on small operands: each packs its own slab's panels; A and B read unpacked where few columns use A)",
    .run = packed::openmp,
    .detail = packed::describe_choice,
};
}  // namespace flopslab::gemm
