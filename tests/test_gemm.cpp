// Every CPU GEMM variant in the registry against the float64 reference, at awkward sizes,
// padded leading dimensions and several thread counts; the packed kernels on every SIMD path
// this CPU has, with tiny blocks so every edge case of the blocking is hit; and the checker
// itself, which must reject NaNs, unwritten elements and a kernel that drops one term.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "harness/check/gemm_check.h"
#include "kernels/cpu/gemm/packed_driver.h"
#include "kernels/cpu/isa_targets.h"
#include "kernels/registry.h"

using namespace flopslab;

namespace {

const std::vector<gemm::Shape> kGemmShapes = {
    {1, 1, 1},     {2, 2, 2},      {7, 7, 7},       {31, 31, 31},   {33, 33, 33},   {64, 64, 64},
    {127, 127, 127}, {129, 129, 129}, {255, 255, 255}, {257, 257, 257}, {1000, 1000, 1000},
    {1, 300, 7},   {300, 1, 7},    {5, 3, 400},     {97, 61, 1},    {200, 37, 129}, {13, 517, 33},
};

std::string describe(const GemmVariant& v, gemm::Shape s, std::int64_t pad, int threads) {
  return std::string(v.name) + " " + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k) +
         " pad " + std::to_string(pad) + " threads " + std::to_string(threads);
}

// Elements of C's padding (columns n..ldc) that are no longer NaN: writes outside the matrix.
std::int64_t writes_outside(const bench::GemmProblem& p) {
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < p.shape.m; ++i)
    for (std::int64_t j = p.shape.n; j < p.ldc; ++j) count += std::isnan(p.c[i * p.ldc + j]) ? 0 : 1;
  return count;
}

bench::GemmCheck run_and_check(const GemmVariant& v, gemm::Shape s, std::int64_t pad, int threads) {
  bench::GemmProblem problem(s, /*seed=*/s.m * 7919 + s.n * 31 + s.k, pad);
  const gemm::Operands op = problem.operands();
  v.run(op, RunContext{.threads = threads});
  CHECK_MESSAGE(writes_outside(problem) == 0, v.name, " wrote into the padding of C");
  return bench::check_gemm(op, /*full_check_work=*/std::numeric_limits<std::int64_t>::max(), 7, v.input_roundoff);
}

}  // namespace

TEST_CASE("every CPU GEMM variant matches the float64 reference") {
  for (const GemmVariant* v : gemm_variants()) {
    if (v->device != Device::cpu) continue;
    if (!v->available()) {
      MESSAGE(v->name << " not tested: " << v->unavailable());
      continue;
    }
    for (const gemm::Shape& s : kGemmShapes) {
      for (std::int64_t pad : {0, 3}) {
        if (pad == 3 && s.m * s.n * s.k > 300 * 300 * 300) continue;  // padding matters at small sizes
        for (int threads : v->multithreaded ? std::vector<int>{1, 2, 3} : std::vector<int>{1}) {
          if (threads > 1 && s.m * s.n * s.k > 300 * 300 * 300 && threads != 2) continue;
          const bench::GemmCheck check = run_and_check(*v, s, pad, threads);
          INFO(describe(*v, s, pad, threads) << ": " << check.summary());
          CHECK(check.passed());
          CHECK(check.compared == s.m * s.n);
        }
      }
    }
  }
}

TEST_CASE("k = 0 gives C = 0 (an empty sum), not the old contents") {
  for (const GemmVariant* v : gemm_variants()) {
    if (v->device != Device::cpu || !v->available()) continue;
    bench::GemmProblem problem({5, 9, 0}, 1);
    std::fill(problem.c.begin(), problem.c.end(), 42.0f);
    v->run(problem.operands(), RunContext{.threads = 2});
    for (float x : problem.c) CHECK_MESSAGE(x == 0.0f, v->name);
  }
}

// The epilogue of fused layers (bias, scale, residual, ReLU), on rows of every length up to
// two vectors and past: every term, and a NaN that the ReLU keeps (PyTorch's ReLU passes NaN
// through; a max that returned 0 would hide a diverged layer).
TEST_CASE("the fused epilogue: scale, shifts, residual and ReLU on every row length, NaN kept") {
  using gemm::packed::Epilogue;
  for (std::int64_t cols : {1, 5, 14, 16, 17, 31, 32, 45}) {
    const std::int64_t rows = 3, ldc = 48;
    // Rows 1-3 of a 4-row C (row0 = 1): the per-row terms are indexed from C's row 0.
    std::vector<float> tile(static_cast<std::size_t>(rows * ldc)), col_shift(static_cast<std::size_t>(cols)),
        residual(static_cast<std::size_t>((rows + 1) * cols));
    for (std::int64_t i = 0; i < rows * ldc; ++i) tile[std::size_t(i)] = float(i % 7) - 3.0f;
    for (std::int64_t j = 0; j < cols; ++j) col_shift[std::size_t(j)] = 0.25f * float(j % 3);
    for (std::int64_t i = 0; i < (rows + 1) * cols; ++i) residual[std::size_t(i)] = 0.5f * float(i % 5) - 1.0f;
    tile[std::size_t(ldc + cols - 1)] = std::numeric_limits<float>::quiet_NaN();  // row 1's last column
    const std::vector<float> in = tile;
    const float scale[4] = {9, 2.0f, -1.0f, 0.5f}, shift[4] = {9, 1.0f, 0.5f, -2.0f};
    // Each output row with 16 sentinels after it: a mask one lane too wide would write there.
    const std::int64_t out_stride = cols + 16;
    std::vector<float> out(static_cast<std::size_t>(rows * out_stride), -99.0f);
    std::vector<float*> out_rows;
    for (std::int64_t r = 0; r < 4; ++r) out_rows.push_back(r == 0 ? nullptr : out.data() + (r - 1) * out_stride);
    const Epilogue e{.row_scale = scale, .row_shift = shift, .col_shift = col_shift.data(),
                     .residual = residual.data(), .ld_residual = cols, .relu = true, .out_rows = out_rows.data()};
    gemm::packed::apply_epilogue(e, 1, 0, rows, cols, tile.data(), ldc);
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = 0; j < cols; ++j) {
        const float got = out[std::size_t(r * out_stride + j)];
        const float x = in[std::size_t(r * ldc + j)];
        if (std::isnan(x)) {
          CHECK_MESSAGE(std::isnan(got), "cols ", cols, ": the ReLU turned NaN into ", got);
          continue;
        }
        const double want =
            std::max(0.0, double(x) * scale[r + 1] + shift[r + 1] + col_shift[std::size_t(j)] + residual[std::size_t((r + 1) * cols + j)]);
        CHECK_MESSAGE(std::abs(got - want) <= 1e-5, "cols ", cols, " row ", r, " column ", j);
      }
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t j = cols; j < out_stride; ++j) CHECK(out[std::size_t(r * out_stride + j)] == -99.0f);
    for (std::int64_t i = 0; i < rows * ldc; ++i)  // the raw sums stay where they were
      if (!std::isnan(in[std::size_t(i)])) CHECK(tile[std::size_t(i)] == in[std::size_t(i)]);
  }
}

TEST_CASE("the packed kernels agree with the reference on every SIMD path and tiny blocks") {
  using namespace gemm::packed;
  for (SimdPath path : supported_simd_paths()) {
    const MicroKernel& uk = micro_kernel(path);
    REQUIRE(bool(uk.run));
    // Blocks of 2 slivers, k blocks of 5, panels of 2 slivers: edges at every loop level.
    const Blocking tiny{.mc = 2 * uk.mr, .kc = 5, .nc = 2 * uk.nr};
    // A page limit that cuts the row blocks below mc (one page holds about 14 rows of these Cs).
    const Blocking tlb_limited{.mc = 4 * uk.mr, .kc = 7, .nc = 3 * uk.nr, .c_pages = 1};
    for (const gemm::Shape& s : {gemm::Shape{1, 1, 1}, gemm::Shape{29, 71, 23}, gemm::Shape{100, 37, 11},
                                 gemm::Shape{3 * uk.mr, 3 * uk.nr, 10}, gemm::Shape{uk.mr + 1, uk.nr - 1, 6}}) {
      for (const Blocking& blk : {tiny, tlb_limited, default_blocking(uk)}) {
        for (int threads : {1, 2, 4, 6}) {
          bench::GemmProblem problem(s, 99, /*pad=*/1);
          const gemm::Operands op = problem.operands();
          if (threads == 1)
            gemm_packed(op, uk, blk);
          else
            gemm_packed_parallel(op, uk, blk, threads);
          CHECK(writes_outside(problem) == 0);
          const bench::GemmCheck check = bench::check_gemm(op);
          INFO(simd_path_name(path) << " " << s.m << "x" << s.n << "x" << s.k << " mc " << blk.mc << " kc "
                                    << blk.kc << " threads " << threads << ": " << check.summary());
          CHECK(check.passed());
        }
      }
    }
  }
}

// A Linear layer's forward packs B = x^T straight from x by 16 x 16 block transposes. The
// panels must be the very ones a row reader of the stored B^T packs, so C is bit for bit the
// same: k not a multiple of 16, n past one packing group (8 slivers) and off the sliver width,
// k blocks that end mid-block, the 2- and 3-thread slabs and a 2 x 2 grid of shared panels.
TEST_CASE("B packed from its transpose gives bit for bit the row reader's product") {
  using namespace gemm::packed;
  for (SimdPath path : supported_simd_paths()) {
    const MicroKernel& uk = micro_kernel(path);
    const FloatPanels<gemm::InputFormat::fp32> f(uk);
    const Blocking tiny{.mc = 2 * uk.mr, .kc = 21, .nc = 3 * uk.nr};
    for (const gemm::Shape& s : {gemm::Shape{1, 1, 1}, gemm::Shape{29, 71, 23}, gemm::Shape{13, 9 * uk.nr + 5, 40},
                                 gemm::Shape{64, 37, 100}, gemm::Shape{256, 64, 784}, gemm::Shape{300, 400, 50}}) {
      for (const Blocking& blk : {tiny, default_blocking(uk)}) {
        for (int threads : {1, 2, 3, 4}) {  // 4: a 2 x 2 grid sharing the packed panels
          bench::GemmProblem problem(s, 7, /*pad=*/1);
          // B^T, n rows of k, 3 floats of padding per row.
          const std::int64_t ld_t = s.k + 3;
          std::vector<float> b_t(std::size_t(s.n * ld_t), std::numeric_limits<float>::quiet_NaN());
          for (std::int64_t kk = 0; kk < s.k; ++kk)
            for (std::int64_t j = 0; j < s.n; ++j) b_t[std::size_t(j * ld_t + kk)] = problem.b[std::size_t(kk * problem.ldb + j)];
          const BRowReader stored_b_t = [&](std::int64_t row, std::int64_t col0, std::int64_t cols, float* out) {
            for (std::int64_t j = 0; j < cols; ++j) out[j] = b_t[std::size_t((col0 + j) * ld_t + row)];
          };
          std::vector<float> by_rows(std::size_t(s.m * problem.ldc), -1.0f);
          gemm_parallel_for(f, s, problem.a.data(), problem.lda, stored_b_t, by_rows.data(), problem.ldc, blk, threads);
          const TransposedB transposed{b_t.data(), ld_t};
          gemm_parallel_for(f, s, problem.a.data(), problem.lda, BRowReader{}, problem.c.data(), problem.ldc, blk,
                            threads, nullptr, nullptr, 0, 0, &transposed);
          INFO(simd_path_name(path) << " " << s.m << "x" << s.n << "x" << s.k << " kc " << blk.kc << " threads "
                                    << threads);
          std::int64_t differing = 0;
          for (std::int64_t i = 0; i < s.m; ++i)
            for (std::int64_t j = 0; j < s.n; ++j)
              differing += by_rows[std::size_t(i * problem.ldc + j)] != problem.c[std::size_t(i * problem.ldc + j)];
          CHECK(differing == 0);
          CHECK(writes_outside(problem) == 0);
          const bench::GemmCheck check = bench::check_gemm(problem.operands());
          INFO(check.summary());
          CHECK(check.passed());
        }
      }
    }
  }
}

// A micro-kernel that reads A's rows where they lie (MicroKernel::unpacked), and B's rows too
// where B is a plain matrix, must give the very sums the packed slivers give: the same products
// added in the same order. Partial tiles in both directions, k blocks that start mid-row (kc 5,
// and 600 past the 512 cap), padded rows of A and B, the slabs of 2 and 3 threads (rows, and
// columns: a B slab that starts mid-row) and a 2 x 2 grid, and a bias and ReLU epilogue.
TEST_CASE("A and B read where they lie give bit for bit the packed operands' product") {
  using namespace gemm::packed;
  for (SimdPath path : supported_simd_paths()) {
    const MicroKernel& uk = micro_kernel(path);
    const FloatPanels<gemm::InputFormat::fp32> f(uk);
    if (!f.has_unpacked_kernel()) {
      MESSAGE(simd_path_name(path) << ": its micro-kernel always reads packed operands");
      continue;
    }
    for (const gemm::Shape& s : {gemm::Shape{1, 1, 1}, gemm::Shape{29, 71, 23}, gemm::Shape{uk.mr, uk.nr, 5},
                                 gemm::Shape{uk.mr - 1, uk.nr + 1, 17}, gemm::Shape{13, 100, 600},
                                 gemm::Shape{256, 64, 784}, gemm::Shape{100, 37, 64}, gemm::Shape{40, 250, 30}}) {
      for (std::int64_t kc : {std::int64_t(5), kMaxKc}) {
        for (int threads : {1, 2, 3, 4}) {
          for (bool fused : {false, true}) {
            Blocking packed = default_blocking(uk), unpacked = packed;
            packed.kc = unpacked.kc = kc;
            packed.packing = Packing::always;
            unpacked.packing = Packing::none;
            bench::GemmProblem problem(s, 11, /*pad=*/3);
            std::vector<float> bias(std::size_t(s.m));
            for (std::int64_t i = 0; i < s.m; ++i) bias[std::size_t(i)] = 0.5f - float(i % 4);
            const Epilogue epilogue{.row_shift = bias.data(), .relu = true};
            const Epilogue* e = fused ? &epilogue : nullptr;
            const BRowReader rows = [&](std::int64_t row, std::int64_t col0, std::int64_t cols, float* out) {
              std::copy_n(problem.b.data() + row * problem.ldb + col0, cols, out);
            };
            const RowMajorB b_rows{problem.b.data(), problem.ldb};
            std::vector<float> from_packed(problem.c.size(), std::numeric_limits<float>::quiet_NaN());
            std::vector<float> a_unpacked = from_packed;
            // Packing::always packs B even when it could read it, and A; then A unpacked with B
            // from a row reader (packed); then neither packed.
            gemm_parallel_for(f, s, problem.a.data(), problem.lda, rows, from_packed.data(), problem.ldc, packed,
                              threads, nullptr, e, 0, 0, nullptr, &b_rows);
            gemm_parallel_for(f, s, problem.a.data(), problem.lda, rows, a_unpacked.data(), problem.ldc, unpacked,
                              threads, nullptr, e);
            gemm_parallel_for(f, s, problem.a.data(), problem.lda, rows, problem.c.data(), problem.ldc, unpacked,
                              threads, nullptr, e, 0, 0, nullptr, &b_rows);
            INFO(simd_path_name(path) << " " << s.m << "x" << s.n << "x" << s.k << " kc " << kc << " threads "
                                      << threads << (fused ? " with bias and ReLU" : ""));
            std::int64_t a_differing = 0, both_differing = 0;
            for (std::int64_t i = 0; i < s.m; ++i)
              for (std::int64_t j = 0; j < s.n; ++j) {
                const std::size_t at = std::size_t(i * problem.ldc + j);
                a_differing += std::memcmp(&from_packed[at], &a_unpacked[at], sizeof(float)) != 0;
                both_differing += std::memcmp(&from_packed[at], &problem.c[at], sizeof(float)) != 0;
              }
            CHECK(a_differing == 0);
            CHECK(both_differing == 0);
            CHECK(writes_outside(problem) == 0);
            if (!fused) {
              const bench::GemmCheck check = bench::check_gemm(problem.operands());
              INFO(check.summary());
              CHECK(check.passed());
            }
          }
        }
      }
    }
  }
}

// When A is read where it lies: few enough columns that packing it would cost something, and
// its rows spread over the L1's sets. The rows of a 12-row kernel, lda floats apart, against a
// 32 KiB 8-way L1 (Zen 4) and a 48 KiB 12-way one (Intel since Ice Lake, Zen 5).
TEST_CASE("A is read where it lies only with few columns and rows that share no L1 set, B while it fits the L2") {
  using namespace gemm::packed;
  const CacheGeometry zen4{32 << 10, 64, 8, 64}, wide{48 << 10, 64, 12, 64};
  CHECK(rows_sharing_a_set(12, 1024, zen4) == 12);  // 4 KiB apart: every row in one set
  CHECK(rows_sharing_a_set(12, 2048, zen4) == 12);
  CHECK(rows_sharing_a_set(12, 512, zen4) == 6);    // 2 KiB apart: rows alternate between two sets
  CHECK(rows_sharing_a_set(12, 784, zen4) == 1);    // 3136 bytes apart: all in different sets
  CHECK(rows_sharing_a_set(12, 1000, zen4) == 1);   // 96 bytes less than a way: drift by 1.5 lines
  CHECK(rows_sharing_a_set(12, 1008, zen4) == 1);   // a line less: neighbours always in adjacent sets
  CHECK(rows_sharing_a_set(12, 1032, zen4) == 3);   // 32 bytes more: a set shared with each neighbour at some k
  CHECK(rows_sharing_a_set(12, 1536, zen4) == 6);
  CHECK(read_a_unpacked(12, 784, 64, zen4));        // the MLP's first layer: W times a batch
  CHECK(read_a_unpacked(12, 256, 256, zen4));
  CHECK(read_a_unpacked(12, 512, 512, zen4));       // 6 rows in a set of 8 ways, B in the other 2
  CHECK_FALSE(read_a_unpacked(12, 784, 513, zen4));  // enough columns to pay for packing
  CHECK_FALSE(read_a_unpacked(12, 1024, 64, zen4));
  CHECK_FALSE(read_a_unpacked(12, 1024, 64, wide));  // 12 rows, 10 ways for them
  CHECK(read_a_unpacked(12, 512, 64, wide));
  // B read unpacked too while its block stays in the L2: all of it at 12 rows, half at 6.
  const CacheGeometry l2{1 << 20, 64, 8, 2048};
  CHECK(read_b_unpacked(12, 512, 512, l2));         // 1 MiB
  CHECK_FALSE(read_b_unpacked(12, 512, 513, l2));
  CHECK(read_b_unpacked(6, 256, 512, l2));           // 512 KiB
  CHECK_FALSE(read_b_unpacked(6, 384, 384, l2));     // 576 KiB
}

TEST_CASE("balanced_block splits rows into near-equal blocks") {
  using gemm::packed::balanced_block;
  CHECK(balanced_block(1024, 168, 6) == 150);  // 7 blocks: 6 x 150 + 124
  CHECK(balanced_block(2048, 168, 6) == 162);  // 13 blocks
  CHECK(balanced_block(100, 168, 6) == 102);   // one block, rounded up to whole slivers
  CHECK(balanced_block(168, 168, 6) == 168);
  CHECK(balanced_block(169, 168, 6) == 90);    // 2 blocks instead of 168 + 1
}

TEST_CASE("the BLIS model's blocks for Zen 5 (AVX-512) and Zen 3 (AVX2) caches") {
  using namespace gemm::packed;
  // Zen 5: 48 KiB 12-way L1d, 1 MiB 16-way L2, 32 MiB 16-way L3, 96-entry L1 DTLB; 12x32 kernel.
  CacheGeometries zen5{.level = {{48 << 10, 64, 12, 64}, {1 << 20, 64, 16, 1024}, {32 << 20, 64, 16, 32768}},
                       .dtlb_entries = 96};
  const ModelledBlocking f32 = analytical_blocking(12, 32, 4, zen5);
  CHECK(f32.a_ways_l1 == 3);     // floor(11 / (1 + 32/12))
  CHECK(f32.kc_l1 == 256);       // 3 ways * 64 sets * 64 B / (12 rows * 4 B)
  CHECK(f32.blocking.kc == 512);  // the cap
  CHECK(f32.a_ways_l2 == 14);    // 16 - 1 streaming - 1 for the 64 KiB B sliver
  CHECK(f32.blocking.mc == 444);  // 14 * 1024 * 64 / (512 * 4), down to a multiple of 12
  CHECK(f32.b_ways_l3 == 14);
  CHECK(f32.blocking.nc == 14336);
  CHECK(f32.blocking.c_pages == 48);
  // bf16 pairs: 2 bytes per k, the L1 model already at the cap.
  const ModelledBlocking bf16 = analytical_blocking(12, 32, 2, zen5);
  CHECK(bf16.kc_l1 == 512);
  CHECK(bf16.blocking.kc == 512);
  CHECK(bf16.blocking.mc == 888);
  // Zen 3: 32 KiB 8-way L1d, 512 KiB 8-way L2, 32 MiB 16-way L3; 6x16 AVX2 kernel.
  CacheGeometries zen3{.level = {{32 << 10, 64, 8, 64}, {512 << 10, 64, 8, 1024}, {32 << 20, 64, 16, 32768}},
                       .dtlb_entries = 64};
  const ModelledBlocking avx2 = analytical_blocking(6, 16, 4, zen3);
  CHECK(avx2.a_ways_l1 == 1);
  CHECK(avx2.kc_l1 == 168);      // 64 * 64 / 24 = 170, down to a multiple of 8
  CHECK(avx2.blocking.kc == 512);  // the cap, not the model's 168 (C's tile)
  CHECK(avx2.blocking.mc == 192);  // 6 ways * 65536 / 2048
  // Rows of C: page-apart rows are capped at c_pages, rows sharing a page count once per page.
  CHECK(rows_per_block(f32.blocking, 4096, 12) == 48);
  CHECK(rows_per_block(f32.blocking, 1024, 12) == 48);
  CHECK(rows_per_block(f32.blocking, 256, 12) == 192);   // 4 rows per page
  CHECK(rows_per_block(f32.blocking, 16, 12) == 444);    // 64 rows per page: mc decides
  CHECK(rows_per_block(Blocking{.mc = 444, .kc = 512, .nc = 4096}, 4096, 12) == 444);  // no limit set
  // This machine's caches were read (or stood in for), and the blocks are usable.
  const Blocking here = default_blocking(micro_kernel(best_simd_path()));
  CHECK(here.kc >= 16);
  CHECK(here.kc <= kMaxKc);
  CHECK(here.mc % micro_kernel(best_simd_path()).mr == 0);
  CHECK(here.nc % micro_kernel(best_simd_path()).nr == 0);
}

TEST_CASE("an L3 no CPU has (a VM seeing its host's chip) gives way to the measured last level") {
  using namespace gemm::packed;
  // The Sapphire Rapids-class VM of issue 33: 48 KiB 12-way L1d, 2 MiB 16-way L2, and an "L3"
  // of 480 MiB (16 ways) shared by its 2 vCPUs, as sysfs shows it.
  const std::filesystem::path root = std::filesystem::temp_directory_path() / "flopslab-vm-l3";
  std::filesystem::remove_all(root);
  auto cache = [&](int index, const char* type, int level, const char* size, int ways, int sets, const char* shared) {
    const std::filesystem::path dir = root / "cpu0" / "cache" / ("index" + std::to_string(index));
    std::filesystem::create_directories(dir);
    auto put = [&](const char* name, const std::string& value) { std::ofstream(dir / name) << value << "\n"; };
    put("type", type), put("level", std::to_string(level)), put("size", size);
    put("coherency_line_size", "64"), put("ways_of_associativity", std::to_string(ways));
    put("number_of_sets", std::to_string(sets)), put("shared_cpu_list", shared);
  };
  cache(0, "Data", 1, "48K", 12, 64, "0");
  cache(1, "Instruction", 1, "32K", 8, 64, "0");
  cache(2, "Unified", 2, "2048K", 16, 2048, "0");
  cache(3, "Unified", 3, "491520K", 16, 491520, "0-1");
  const CacheGeometries vm = read_cache_geometries(root.string());
  std::filesystem::remove_all(root);
  CHECK(vm.level[2].bytes == std::int64_t(480) << 20);
  CHECK(vm.l3_shared_by == 2);
  CHECK(last_level_implausible(vm));  // 240 MiB per CPU
  const ModelledBlocking reported = analytical_blocking(12, 32, 4, vm);
  CHECK(reported.blocking.nc == 215040);  // the "B panel in 14 of 16 ways of the 480 MiB L3" of the issue
  // The latency probe found the last level ending near 13.5 MiB: the panel is sized for that.
  const CacheGeometries measured = with_measured_last_level(vm, std::int64_t(27) << 19, "measured: test");
  CHECK_FALSE(last_level_implausible(measured));
  CHECK(measured.level[2].ways == 16);
  CHECK(measured.level[2].bytes == 16 * 13824 * 64);  // 13.5 MiB: 13824 sets of 16 ways
  const ModelledBlocking fixed = analytical_blocking(12, 32, 4, measured);
  // The A block (888 x 512 floats, 1.7 MiB) now takes 3 ways, the B panel the other 12 but one.
  CHECK(fixed.b_ways_l3 == 12);
  CHECK(fixed.blocking.nc == 5184);  // 12 ways x 13824 sets x 64 B / 2048 B per column
  CHECK(describe_blocking(fixed, measured).find("of the 13 MiB L3 (measured: test)") != std::string::npos);
  // A measured level no larger than the L2 is no last level: nothing changes.
  CHECK(with_measured_last_level(vm, 1 << 20, "x").level[2].bytes == vm.level[2].bytes);
  // A plausible L3 (32 MiB for 16 CPUs) stands.
  CacheGeometries zen{.level = {{32 << 10, 64, 8, 64}, {1 << 20, 64, 16, 1024}, {32 << 20, 64, 16, 32768}},
                      .l3_shared_by = 16};
  CHECK_FALSE(last_level_implausible(zen));
}

TEST_CASE("thread_grid splits C to minimise what each thread reads") {
  using gemm::packed::thread_grid;
  auto grid = [](std::int64_t m, std::int64_t n, int t) {
    const auto g = thread_grid(m, n, t, 6, 16);
    return std::pair{g.rows, g.cols};
  };
  CHECK(grid(2048, 2048, 16) == std::pair{4, 4});
  CHECK(grid(2048, 2048, 2) == std::pair{2, 1});   // a tie goes to splitting rows
  CHECK(grid(4096, 256, 8) == std::pair{8, 1});    // tall C: rows only
  CHECK(grid(12, 4096, 8) == std::pair{1, 8});     // wide C: columns only
  CHECK(grid(6, 16, 8) == std::pair{1, 1});        // one sliver each way: no split possible
  CHECK(grid(2048, 2048, 7) == std::pair{7, 1});   // a prime count
}

TEST_CASE("the checker rejects NaN, Inf, unwritten and wrong elements") {
  const gemm::Shape s{40, 30, 50};
  const GemmVariant& reference = *find_gemm_variant("loop-order");

  SUBCASE("a correct result passes") {
    bench::GemmProblem p(s, 3);
    reference.run(p.operands(), {});
    const bench::GemmCheck c = bench::check_gemm(p.operands());
    CHECK(c.passed());
    CHECK(c.worst < 1.0);
  }
  SUBCASE("one NaN fails") {
    bench::GemmProblem p(s, 3);
    reference.run(p.operands(), {});
    p.c[7 * p.ldc + 11] = std::numeric_limits<float>::quiet_NaN();
    const bench::GemmCheck c = bench::check_gemm(p.operands());
    CHECK_FALSE(c.passed());
    CHECK(c.non_finite == 1);
  }
  SUBCASE("one Inf fails") {
    bench::GemmProblem p(s, 3);
    reference.run(p.operands(), {});
    p.c[0] = std::numeric_limits<float>::infinity();
    CHECK(bench::check_gemm(p.operands()).non_finite == 1);
  }
  SUBCASE("an element the kernel never wrote fails (C starts as NaN)") {
    bench::GemmProblem p(s, 3);
    gemm::Operands op = p.operands();
    op.shape.n -= 1;  // a kernel that forgets the last column
    reference.run(op, {});
    const bench::GemmCheck c = bench::check_gemm(p.operands());
    CHECK_FALSE(c.passed());
    CHECK(c.non_finite == s.m);
  }
  SUBCASE("a kernel that drops the last term of every dot product fails") {
    for (std::int64_t k : {2, 50, 1000}) {
      bench::GemmProblem p({30, 20, k}, 5);
      gemm::Operands op = p.operands();
      op.shape.k -= 1;
      reference.run(op, {});
      const bench::GemmCheck c = bench::check_gemm(p.operands());
      INFO("k = " << k << ": " << c.summary());
      CHECK_FALSE(c.passed());
      CHECK(c.over_bound > 30 * 20 / 2);
      CHECK(c.worst > 2.0);
    }
  }
  SUBCASE("one element off by a relative 1e-3 fails") {
    bench::GemmProblem p(s, 3);
    reference.run(p.operands(), {});
    float& x = p.c[13 * p.ldc + 17];
    x += std::max(1e-3f * std::abs(x), 1e-4f);
    const bench::GemmCheck c = bench::check_gemm(p.operands());
    CHECK(c.over_bound == 1);
    CHECK(c.worst_i == 13);
    CHECK(c.worst_j == 17);
  }
  SUBCASE("sampled checking still sees the last row and column") {
    bench::GemmProblem p({300, 200, 100}, 4);
    reference.run(p.operands(), {});
    p.c[299 * p.ldc + 5] += 1.0f;
    p.c[7 * p.ldc + 199] += 1.0f;
    const bench::GemmCheck c = bench::check_gemm(p.operands(), /*full_check_work=*/1000);
    CHECK(c.sampled);
    CHECK(c.over_bound == 2);
    CHECK(c.compared == 16 * 200 + 16 * (300 - 16));  // 16 rows, then 16 columns minus those rows
  }
}

TEST_CASE("the error bound grows with k") {
  // The same relative perturbation passes at large k and fails at small k.
  auto perturbed_passes = [](std::int64_t k) {
    bench::GemmProblem p({8, 8, k}, 11);
    find_gemm_variant("loop-order")->run(p.operands(), {});
    // |A||B| ~ k/4 for uniform [-1, 1); add 50 units of roundoff relative to it.
    p.c[0] += static_cast<float>(50 * 0x1p-24 * double(k) / 4);
    return bench::check_gemm(p.operands()).passed();
  };
  CHECK_FALSE(perturbed_passes(4));
  CHECK(perturbed_passes(4000));
}

TEST_CASE("FLOP and byte counts") {
  const gemm::Shape s{2, 3, 4};
  CHECK(gemm::flop_count(s) == 48.0);
  CHECK(gemm::compulsory_bytes(s) == 4.0 * (8 + 12 + 6));
  for (const GemmVariant* v : gemm_variants()) {
    CHECK(v->flops(s) == 48.0);
    CHECK(v->bytes(s) == 104.0);
  }
}

TEST_CASE("the registry: unique names, ladder steps in order, peers last") {
  std::vector<std::string> names;
  int last_step = 0;
  bool seen_peer = false;
  for (const GemmVariant* v : gemm_variants()) {
    if (v->device != Device::cpu) continue;
    CHECK(std::find(names.begin(), names.end(), std::string(v->name)) == names.end());
    names.emplace_back(v->name);
    CHECK(bool(v->run));
    CHECK_FALSE(v->idea.empty());
    if (v->role == Role::ladder) {
      CHECK_FALSE(seen_peer);
      CHECK(v->step == last_step + 1);
      last_step = v->step;
    } else {
      seen_peer = true;
      CHECK(v->step == 0);
    }
  }
  CHECK(last_step == 7);
  CHECK(find_gemm_variant("packed-simd") != nullptr);
  CHECK(find_gemm_variant("no-such-kernel") == nullptr);
}

TEST_CASE("16-bit conversions round to nearest even and keep infinities, NaN and subnormals") {
  using namespace gemm;
  CHECK(bf16_from_float(1.0f) == 0x3f80);
  CHECK(float_from_bf16(bf16_from_float(1.00390625f)) == 1.0f);        // halfway (1 + 2^-8): to even, down
  CHECK(float_from_bf16(bf16_from_float(1.01171875f)) == 1.015625f);   // halfway (1 + 3 * 2^-8): to even, up
  CHECK(float_from_bf16(bf16_from_float(1.005f)) == 1.0078125f);       // above halfway: up
  CHECK(std::isnan(float_from_bf16(bf16_from_float(std::nanf("")))));
  CHECK(float_from_bf16(bf16_from_float(std::numeric_limits<float>::max())) == std::numeric_limits<float>::infinity());
  CHECK(bf16_from_float(3e38f) == 0x7f62);  // large but finite: bf16 shares float32's range
  CHECK(float_from_bf16(bf16_from_float(-0x1p-133f)) == -0x1p-133f);  // float32's subnormals, as bf16 shares its exponent
  CHECK(fp16_from_float(1.0f) == 0x3c00);
  CHECK(float_from_fp16(fp16_from_float(65504.0f)) == 65504.0f);
  CHECK(float_from_fp16(fp16_from_float(65519.0f)) == 65504.0f);                              // below halfway
  CHECK(float_from_fp16(fp16_from_float(65520.0f)) == std::numeric_limits<float>::infinity());  // halfway: to even = inf
  CHECK(float_from_fp16(fp16_from_float(-1e6f)) == -std::numeric_limits<float>::infinity());
  CHECK(float_from_fp16(fp16_from_float(1.0f + 0x1p-11f)) == 1.0f);                         // halfway: to even
  CHECK(float_from_fp16(fp16_from_float(1.0f + 0x1p-11f + 0x1p-20f)) == 1.0f + 0x1p-10f);
  CHECK(float_from_fp16(fp16_from_float(0x1p-24f)) == 0x1p-24f);            // the smallest subnormal
  CHECK(float_from_fp16(fp16_from_float(0x1p-25f)) == 0.0f);                // halfway to it: to even (zero)
  CHECK(float_from_fp16(fp16_from_float(0x1.8p-25f)) == 0x1p-24f);
  CHECK(float_from_fp16(fp16_from_float(3 * 0x1p-24f)) == 3 * 0x1p-24f);
  CHECK(float_from_fp16(fp16_from_float(0x1.ff8p-15f)) == 0x1.ff8p-15f);    // the largest subnormal
  CHECK(float_from_fp16(fp16_from_float(0x1.ffcp-15f)) == 0x1p-14f);        // halfway: to even, into the normals
  CHECK(std::isnan(float_from_fp16(fp16_from_float(std::nanf("")))));
  // Every half value survives a round trip through float.
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    if (((h >> 10) & 0x1f) == 0x1f && (h & 0x3ff)) continue;  // NaNs
    REQUIRE(fp16_from_float(float_from_fp16(std::uint16_t(h))) == h);
  }
}

TEST_CASE("bulk 16-bit conversions equal the scalar rules, specials included") {
  using namespace gemm;
  std::vector<float> x;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> exponent(-30, 20), unit(-1, 1);
  for (int i = 0; i < 20000; ++i) x.push_back(unit(rng) * std::exp2(exponent(rng)));
  for (float v : {0.0f, -0.0f, 65504.0f, 65520.0f, 1e-8f, 0x1p-25f, 0x1.8p-25f, std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::max(), 1.00390625f})
    x.push_back(v);
  for (InputFormat f : {InputFormat::bf16, InputFormat::fp16}) {
    CAPTURE(input_format_name(f));
    std::vector<std::uint16_t> bits(x.size());
    std::vector<float> back(x.size()), rounded = x;
    to_bits16(f, x.data(), bits.data(), std::int64_t(x.size()));
    from_bits16(f, bits.data(), back.data(), std::int64_t(x.size()));
    round_in_place(f, rounded.data(), std::int64_t(rounded.size()));
    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      mismatches += bits[i] != to_bits16(f, x[i]);
      mismatches += float_bits(back[i]) != float_bits(from_bits16(f, bits[i]));
      mismatches += float_bits(rounded[i]) != float_bits(round_to(f, x[i]));
    }
    CHECK(mismatches == 0);
  }
  std::vector<float> nan{std::nanf("")};
  std::vector<std::uint16_t> nan_bits(1);
  to_bits16(InputFormat::fp16, nan.data(), nan_bits.data(), 1);
  CHECK(std::isnan(float_from_fp16(nan_bits[0])));
}

TEST_CASE("the bf16 rung computes the float32 product of the bf16-rounded operands") {
  // Against a float64 reference of the rounded inputs, the bound is float32's: only the
  // rounding of the inputs may differ from float32, not which values are paired.
  using namespace gemm;
  const GemmVariant& bf16 = *find_gemm_variant("bf16");
  for (const Shape& s : {Shape{1, 1, 1}, Shape{13, 33, 7}, Shape{29, 71, 65}, Shape{100, 37, 1001}, Shape{37, 300, 64}}) {
    for (int threads : {1, 3}) {
      bench::GemmProblem rounded(s, 5, /*pad=*/2);
      for (float& x : rounded.a) x = round_to(InputFormat::bf16, x);
      for (float& x : rounded.b) x = round_to(InputFormat::bf16, x);
      bench::GemmProblem original(s, 5, 2);
      bf16.run(original.operands(), RunContext{.threads = threads});
      // The product of the original operands, checked as if it had been computed from the rounded ones.
      gemm::Operands op = rounded.operands();
      std::copy(original.c.begin(), original.c.end(), rounded.c.begin());
      const bench::GemmCheck check = bench::check_gemm(op, std::numeric_limits<std::int64_t>::max());
      INFO(s.m << "x" << s.n << "x" << s.k << " on " << threads << " threads: " << check.summary());
      CHECK(check.passed());
      // And the same numbers through the fallback path (rounding while packing, float32 kernel).
      bench::GemmProblem fallback(s, 5, 2);
      const packed::MicroKernel& uk = packed::micro_kernel(best_simd_path());
      const gemm::Operands fb = fallback.operands();
      packed::gemm_parallel_for(packed::FloatPanels<InputFormat::bf16>(uk), s, fb.a, fb.lda,
                                [&](std::int64_t row, std::int64_t col0, std::int64_t cols, float* out) {
                                  std::copy_n(fb.b + row * fb.ldb + col0, cols, out);
                                },
                                fb.c, fb.ldc, packed::default_blocking(uk), threads);
      std::copy(fallback.c.begin(), fallback.c.end(), rounded.c.begin());
      CHECK(bench::check_gemm(op, std::numeric_limits<std::int64_t>::max()).passed());
    }
  }
  MESSAGE("bf16 rung here: " << bf16.detail());
}

TEST_CASE("the AMX rung computes the float32 product of the bf16-rounded operands, on the tiles' model and the tiles") {
  // The software model of the tile unit runs everywhere, so the packing (A by rows of k pairs, B
  // in pairs per column), the 2 x 2 tile loop, k tails past a multiple of 32 and the edges are
  // checked on every CPU; the instructions themselves where the CPU has AMX.
  using namespace gemm;
  std::vector<packed::TileUnit> units{packed::TileUnit::software};
  if (packed::amx_unavailable() == nullptr)
    units.push_back(packed::TileUnit::hardware);
  else
    MESSAGE("AMX instructions not run here: " << std::string(packed::amx_unavailable()));
  for (packed::TileUnit unit : units)
    for (const Shape& s : {Shape{1, 1, 1}, Shape{13, 33, 7}, Shape{32, 32, 32}, Shape{33, 65, 64}, Shape{100, 37, 1001},
                           Shape{64, 96, 545}}) {
      for (int threads : {1, 3}) {
        bench::GemmProblem rounded(s, 9, /*pad=*/3);
        for (float& x : rounded.a) x = round_to(InputFormat::bf16, x);
        for (float& x : rounded.b) x = round_to(InputFormat::bf16, x);
        bench::GemmProblem original(s, 9, 3);
        packed::gemm_amx(original.operands(), threads, unit);
        gemm::Operands op = rounded.operands();
        std::copy(original.c.begin(), original.c.end(), rounded.c.begin());
        const bench::GemmCheck check = bench::check_gemm(op, std::numeric_limits<std::int64_t>::max());
        INFO((unit == packed::TileUnit::software ? "model" : "tiles") << " " << s.m << "x" << s.n << "x" << s.k << " on "
                                                                      << threads << " threads: " << check.summary());
        CHECK(check.passed());
      }
    }
#if defined(__x86_64__)
  if (!uncapped_cpu_features().amx_bf16) {
    CHECK(std::string(packed::amx_unavailable()) == "no AMX here (Intel Xeon from Sapphire Rapids on has it)");
    CHECK_THROWS_WITH(packed::gemm_amx(bench::GemmProblem({4, 4, 4}, 1).operands(), 1, packed::TileUnit::hardware),
                      "gemm_amx: no AMX here (Intel Xeon from Sapphire Rapids on has it)");
  }
#else
  CHECK(std::string(packed::amx_unavailable()) == "AMX is Intel's x86 matrix engine; this is not an x86 CPU");
#endif
}

TEST_CASE("the micro-kernel and bf16 instruction each CPU gets") {
  using namespace gemm::packed;
  const CpuFeatures& f = cpu_features();
  const MicroKernel& best = micro_kernel(best_simd_path());
  const std::string bf16 = bf16_dot_instruction();
#if defined(__aarch64__)
  if (best_simd_path() == SimdPath::sve && f.sve_bits <= 512) {
    // Vector-length agnostic: 3 vectors of sve_bits / 32 floats (12 at 128 bits, 48 at 512).
    CHECK(best.path == SimdPath::sve);
    CHECK(best.mr == 8);
    CHECK(best.nr == 3 * f.sve_bits / 32);
  } else {
    CHECK(best.path == SimdPath::neon);
    CHECK(best.nr == 12);
  }
  CHECK(bf16 == (f.arm_bf16 && FLOPSLAB_HAVE_ARM_BF16_KERNELS ? "bfmmla" : ""));
  CHECK(describe_bf16_choice().find(!f.arm_bf16                      ? "FEAT_BF16"
                                    : FLOPSLAB_HAVE_ARM_BF16_KERNELS ? "bfmmla on 2 x 4 bf16 blocks"
                                                                     : "no BFMMLA kernel") != std::string::npos);
  // SVE's kernels exist in every GCC build; a clang 14 build runs NEON on an SVE CPU, and says so.
  CHECK((best_simd_path() == SimdPath::sve) == (f.can_sve() && FLOPSLAB_HAVE_SVE_KERNELS));
#else
  CHECK(best.path == best_simd_path());
  CHECK(bf16 == (f.avx512_bf16 && f.can_avx512() ? "vdpbf16ps" : ""));
#endif
  MESSAGE("here: " << describe_choice() << "; bf16: " << describe_bf16_choice());
}
