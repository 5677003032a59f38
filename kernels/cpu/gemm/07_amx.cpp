// Step 7: the CPU's matrix engine. Intel's Advanced Matrix Extensions (Sapphire Rapids and
// later Xeons) add eight tile registers of 16 rows x 64 bytes and an instruction that multiplies
// whole tiles: TDPBF16PS adds a 16 x 32 bf16 block of A times a 32 x 16 bf16 block of B into a
// 16 x 16 float32 block of C, 16 x 16 x 32 = 8192 multiply-adds (amx_tiles.h). Step 6's
// vdpbf16ps does 32. One tile unit per core starts a TDPBF16PS every 16 cycles, 512
// multiply-adds per cycle, eight times what two AVX-512 FMA ports do in float32.
//
// What changes from step 6:
// - The micro-kernel is 32 x 32: C as 2 x 2 tiles (tmm0-3) that stay in the unit over the whole
//   k block, two tiles of A (tmm4-5, 32 rows x 32 k) and two of B (tmm6-7, 32 k x 32 columns)
//   per 32 k: four tile loads feed four TDPBF16PS, 32768 multiply-adds.
// - B is packed as in step 6: each 32-bit slot holds B[2q][j] and B[2q+1][j], a sliver row is 32
//   such slots, so 16 sliver rows are one tile of B as it lies (Intel calls this VNNI layout).
// - A is packed the other way round: a tile row is one row of A over 32 consecutive k, so each
//   row of a sliver holds its k pairs contiguously (step 6 interleaves the rows per k pair, for
//   broadcasts).
// - The tile configuration (LDTILECFG) is per thread: every micro-kernel call loads it, since a
//   library running on the same thread between two calls (oneDNN's AMX kernels) may set another.
//   Each thread releases the unit when the GEMM ends (TILERELEASE).
// - Linux allocates the tiles' 8 KiB of register state only for a process that asks
//   (arch_prctl ARCH_REQ_XCOMP_PERM, Linux 5.16+); without it the first tile instruction
//   faults. cpu_features.cpp asks once.
// Threads, the blocks and the edges are step 5's (packed_driver.h); k is blocked in multiples of
// 32, and a block's last k (fewer than 32) go through zero-padded tiles.
#include <algorithm>
#include <stdexcept>
#include <string>

#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/gemm/amx_tiles.h"
#include "kernels/cpu/gemm/packed_driver.h"
#include "kernels/registry.h"

namespace flopslab::gemm::packed {
namespace {

constexpr int kMr = 32, kNr = 32;
constexpr int kSlotsPerTile = amx::kTileBytes / 4;  // 16 pairs: 32 k

// C[32 x 32] (+)= A sliver x B sliver over `depth` pair rows. The A sliver is 32 rows of `depth`
// slots; the B sliver `depth` rows of 32 slots.
template <class Unit>
FLOPSLAB_TARGET_AMX void micro_tiles_32x32(std::int64_t depth, const std::uint32_t* a, const std::uint32_t* b, float* c,
                                           std::int64_t ldc, bool accumulate) {
  Unit::configure();
  const std::int64_t a_stride = depth * 4, b_stride = kNr * 4, c_stride = ldc * 4;
  if (accumulate) {
    Unit::template load<0>(c, c_stride);
    Unit::template load<1>(c + 16, c_stride);
    Unit::template load<2>(c + 16 * ldc, c_stride);
    Unit::template load<3>(c + 16 * ldc + 16, c_stride);
  } else {
    Unit::template zero<0>();
    Unit::template zero<1>();
    Unit::template zero<2>();
    Unit::template zero<3>();
  }
  const auto four_products = [] {
    Unit::template dot<0, 4, 6>();
    Unit::template dot<1, 4, 7>();
    Unit::template dot<2, 5, 6>();
    Unit::template dot<3, 5, 7>();
  };
  const std::int64_t whole = depth / kSlotsPerTile * kSlotsPerTile;
  for (std::int64_t q = 0; q < whole; q += kSlotsPerTile) {
    Unit::template load<4>(a + q, a_stride);
    Unit::template load<5>(a + 16 * depth + q, a_stride);
    Unit::template load<6>(b + q * kNr, b_stride);
    Unit::template load<7>(b + q * kNr + 16, b_stride);
    four_products();
  }
  if (whole < depth) {  // the block's last pair rows, fewer than a tile's 16: zero-padded copies
    const std::int64_t tail = depth - whole;
    alignas(64) std::uint32_t a_tail[kMr][kSlotsPerTile] = {};
    alignas(64) std::uint32_t b_tail[kSlotsPerTile][kNr] = {};
    for (int r = 0; r < kMr; ++r) std::copy_n(a + r * depth + whole, tail, a_tail[r]);
    std::copy_n(b + whole * kNr, tail * kNr, &b_tail[0][0]);
    Unit::template load<4>(a_tail[0], amx::kTileBytes);
    Unit::template load<5>(a_tail[16], amx::kTileBytes);
    Unit::template load<6>(b_tail[0], kNr * 4);
    Unit::template load<7>(b_tail[0] + 16, kNr * 4);
    four_products();
  }
  Unit::template store<0>(c, c_stride);
  Unit::template store<1>(c + 16, c_stride);
  Unit::template store<2>(c + 16 * ldc, c_stride);
  Unit::template store<3>(c + 16 * ldc + 16, c_stride);
}

// The panels the tile kernel reads (packed_driver.h's Format): 32-bit slots of two k.
template <class Unit>
struct AmxPanels : NoEdgeKernel {
  using Slot = std::uint32_t;
  static constexpr int k_per_slot = 2;
  int mr = kMr, nr = kNr;
  void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, std::uint32_t* dst) const {
    const std::int64_t depth = (kc + 1) / 2;
    for (std::int64_t r = 0; r < kMr; ++r) {
      if (r < rows)
        pack_row_pairs(a + r * lda, kc, dst + r * depth);
      else
        std::fill_n(dst + r * depth, depth, 0u);  // below the last row
    }
  }
  void pack_b(const float* const* rows, std::uint32_t* dst) const {
#if defined(__x86_64__)
    if (cpu_features().avx512_bf16 && cpu_features().can_avx512()) return pack_b_pairs(rows[0], rows[1], dst);
#endif
    for (int j = 0; j < kNr; ++j) dst[j] = bf16_pair(rows[0][j], rows[1][j]);
  }
  void micro(std::int64_t depth, const std::uint32_t* a, const std::uint32_t* b, float* c, std::int64_t ldc,
             bool accumulate) const {
    micro_tiles_32x32<Unit>(depth, a, b, c, ldc, accumulate);
  }
};

// The BLIS model's blocks for a 32 x 32 kernel on 2-byte k, with kc a whole number of tiles.
ModelledBlocking amx_blocking() {
  ModelledBlocking m = analytical_blocking(kMr, kNr, 2, cache_geometries());
  m.blocking.kc = std::max<std::int64_t>(2 * kSlotsPerTile, m.blocking.kc / (2 * kSlotsPerTile) * (2 * kSlotsPerTile));
  return m;
}

template <class Unit>
void run_on(const Operands& op, int threads) {
  const BRowReader read_b_row = [&](std::int64_t row, std::int64_t col0, std::int64_t cols, float* out) {
    std::copy_n(op.b + row * op.ldb + col0, cols, out);
  };
  threads = std::max(threads, 1);
  gemm_parallel_for(AmxPanels<Unit>{}, op.shape, op.a, op.lda, read_b_row, op.c, op.ldc, amx_blocking().blocking,
                    threads);
#pragma omp parallel num_threads(threads)
  Unit::release();  // each thread hands back its tile state
}

void amx_gemm(const Operands& op, const RunContext& ctx) { gemm_amx(op, ctx.threads, TileUnit::hardware); }

}  // namespace

const char* amx_unavailable() {
#if defined(__x86_64__)
  if (!uncapped_cpu_features().amx_bf16) return "no AMX here (Intel Xeon from Sapphire Rapids on has it)";
  if (!cpu_features().amx_bf16) return "AMX hidden by FLOPSLAB_SIMD";
  if (!request_amx_permission())
    return "Linux refused the AMX tile state (arch_prctl ARCH_REQ_XCOMP_PERM needs Linux 5.16 or later)";
  return nullptr;
#else
  return "AMX is Intel's x86 matrix engine; this is not an x86 CPU";
#endif
}

void gemm_amx(const Operands& op, int threads, TileUnit unit) {
  if (unit == TileUnit::software) return run_on<amx::SoftwareTiles>(op, threads);
#if defined(__x86_64__)
  if (const char* why = amx_unavailable()) throw std::logic_error(std::string("gemm_amx: ") + why);
  run_on<amx::HardwareTiles>(op, threads);
#else
  throw std::logic_error(std::string("gemm_amx: ") + amx_unavailable());
#endif
}

std::string describe_amx_choice() {
  if (const char* why = amx_unavailable()) return why;
  return "AMX tiles, micro-kernel 32x32 as 2 x 2 tiles of 16 x 16 (tdpbf16ps, 8192 multiply-adds each), " +
         describe_blocking(amx_blocking(), cache_geometries());
}

}  // namespace flopslab::gemm::packed

namespace flopslab::gemm {
extern const GemmVariant kCpuAmxBf16{
    .name = "amx-bf16",
    .step = 7,
    .multithreaded = true,
    .idea = "step 6's bf16 pairs on the CPU's matrix engine: AMX tiles, one tdpbf16ps = 16x16x32 multiply-adds (8192, against vdpbf16ps's 32)",
    .run = packed::amx_gemm,
    .unavailable = packed::amx_unavailable,
    .detail = packed::describe_amx_choice,
    .input_roundoff = 1.0 / 256,  // bf16 inputs, as step 6
};
}  // namespace flopslab::gemm
