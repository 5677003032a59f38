// AMX's tile unit as step 7 (07_amx.cpp) uses it, twice: the hardware (the instructions) and a
// software model of the same operations, written from Intel's pseudo-code for LDTILECFG,
// TILELOADD, TILESTORED, TILEZERO and TDPBF16PS. The rung's kernel is one template over the two,
// so its packing, loop and edge handling are checked on every CPU (the model), and the
// instructions on CPUs that have them.
//
// The unit holds eight tile registers, tmm0-tmm7, of up to 16 rows of 64 bytes; LDTILECFG sets
// each one's rows and bytes per row. TDPBF16PS tmm_c, tmm_a, tmm_b treats
//   tmm_a as M rows of K bf16 pairs  (16 x 32 bf16: a 16 x 32 block of A),
//   tmm_b as K rows of N bf16 pairs  (16 rows, each 16 columns x 2 consecutive k of B),
//   tmm_c as M rows of N floats      (16 x 16),
// and adds, for every (m, n), the K pair products: C[m][n] += A[m][2k] B[2k][n] + A[m][2k+1]
// B[2k+1][n]. With 16 x 16 x 32 that is 8192 multiply-adds in one instruction, against 32 for
// AVX-512's vdpbf16ps (step 6) and 16 for an FP32 FMA.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/cpu/gemm/low_precision.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace flopslab::gemm::packed::amx {

constexpr int kTileRows = 16, kTileBytes = 64;

// LDTILECFG's 64-byte operand (palette 1): per tile, bytes per row and rows.
struct alignas(64) TileConfig {
  std::uint8_t palette = 1, start_row = 0;
  std::uint8_t reserved[14] = {};
  std::uint16_t bytes_per_row[16] = {};
  std::uint8_t rows[16] = {};
};
static_assert(sizeof(TileConfig) == 64);

// All eight tiles at their largest: 16 rows of 64 bytes.
inline const TileConfig& full_tiles() {
  static const TileConfig config = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) c.bytes_per_row[t] = kTileBytes, c.rows[t] = kTileRows;
    return c;
  }();
  return config;
}

#if defined(__x86_64__)
#define FLOPSLAB_TARGET_AMX __attribute__((target("amx-tile,amx-bf16")))

// The instructions. GCC's intrinsics name the tile in the mnemonic, so each takes a literal
// register number; the templates below pick the literal.
struct HardwareTiles {
  static FLOPSLAB_TARGET_AMX void configure() { _tile_loadconfig(&full_tiles()); }
  static FLOPSLAB_TARGET_AMX void release() { _tile_release(); }
  template <int T>
  static FLOPSLAB_TARGET_AMX void load(const void* base, std::int64_t stride) {
    // GCC's tileloadd asm names no memory operand: without this barrier, stores the compiler
    // sees as unread (a zero-padded buffer filled just before) could be moved past it or dropped.
    asm volatile("" ::: "memory");
    if constexpr (T == 0) _tile_loadd(0, base, stride);
    if constexpr (T == 1) _tile_loadd(1, base, stride);
    if constexpr (T == 2) _tile_loadd(2, base, stride);
    if constexpr (T == 3) _tile_loadd(3, base, stride);
    if constexpr (T == 4) _tile_loadd(4, base, stride);
    if constexpr (T == 5) _tile_loadd(5, base, stride);
    if constexpr (T == 6) _tile_loadd(6, base, stride);
    if constexpr (T == 7) _tile_loadd(7, base, stride);
  }
  template <int T>
  static FLOPSLAB_TARGET_AMX void store(void* base, std::int64_t stride) {
    if constexpr (T == 0) _tile_stored(0, base, stride);
    if constexpr (T == 1) _tile_stored(1, base, stride);
    if constexpr (T == 2) _tile_stored(2, base, stride);
    if constexpr (T == 3) _tile_stored(3, base, stride);
  }
  template <int T>
  static FLOPSLAB_TARGET_AMX void zero() {
    if constexpr (T == 0) _tile_zero(0);
    if constexpr (T == 1) _tile_zero(1);
    if constexpr (T == 2) _tile_zero(2);
    if constexpr (T == 3) _tile_zero(3);
  }
  // The four products of step 7's 2 x 2 arrangement: C tiles 0-3, A tiles 4-5, B tiles 6-7.
  template <int C, int A, int B>
  static FLOPSLAB_TARGET_AMX void dot() {
    static_assert((C == 0 && A == 4 && B == 6) || (C == 1 && A == 4 && B == 7) || (C == 2 && A == 5 && B == 6) ||
                  (C == 3 && A == 5 && B == 7));
    if constexpr (C == 0) _tile_dpbf16ps(0, 4, 6);
    if constexpr (C == 1) _tile_dpbf16ps(1, 4, 7);
    if constexpr (C == 2) _tile_dpbf16ps(2, 5, 6);
    if constexpr (C == 3) _tile_dpbf16ps(3, 5, 7);
  }
};
#else
#define FLOPSLAB_TARGET_AMX
#endif

// The model: the same operations on eight 1 KiB arrays of this thread. Products of bf16 values
// are exact in float32; the sums are float32 in Intel's order (pair by pair along k).
struct SoftwareTiles {
  struct Registers {
    TileConfig config;
    alignas(64) std::uint8_t tile[8][kTileRows * kTileBytes];
  };
  static Registers& registers() {
    thread_local Registers r{};
    return r;
  }
  static void configure() { registers().config = full_tiles(); }
  static void release() { registers() = Registers{}; }
  template <int T>
  static void load(const void* base, std::int64_t stride) {
    Registers& r = registers();
    for (int row = 0; row < r.config.rows[T]; ++row)
      std::memcpy(r.tile[T] + row * kTileBytes, static_cast<const std::uint8_t*>(base) + row * stride,
                  r.config.bytes_per_row[T]);
  }
  template <int T>
  static void store(void* base, std::int64_t stride) {
    Registers& r = registers();
    for (int row = 0; row < r.config.rows[T]; ++row)
      std::memcpy(static_cast<std::uint8_t*>(base) + row * stride, r.tile[T] + row * kTileBytes,
                  r.config.bytes_per_row[T]);
  }
  template <int T>
  static void zero() {
    std::memset(registers().tile[T], 0, sizeof registers().tile[T]);
  }
  template <int C, int A, int B>
  static void dot() {
    Registers& r = registers();
    const int m_rows = r.config.rows[C], n_cols = r.config.bytes_per_row[C] / 4, k_pairs = r.config.bytes_per_row[A] / 4;
    for (int m = 0; m < m_rows; ++m)
      for (int k = 0; k < k_pairs; ++k)
        for (int n = 0; n < n_cols; ++n) {
          float c, a[2], b[2];
          std::uint16_t a16[2], b16[2];
          std::memcpy(&c, r.tile[C] + m * kTileBytes + 4 * n, 4);
          std::memcpy(a16, r.tile[A] + m * kTileBytes + 4 * k, 4);
          std::memcpy(b16, r.tile[B] + k * kTileBytes + 4 * n, 4);
          for (int i = 0; i < 2; ++i) a[i] = float_from_bf16(a16[i]), b[i] = float_from_bf16(b16[i]);
          c += a[0] * b[0];
          c += a[1] * b[1];
          std::memcpy(r.tile[C] + m * kTileBytes + 4 * n, &c, 4);
        }
  }
};

}  // namespace flopslab::gemm::packed::amx
