// The machinery shared by steps 4 and 5: packing, the macro-kernel and the micro-kernels
// (the Goto/BLIS structure).
//
//   for jc in n, step nc:          a panel of B, kc x nc, lives in L3
//     for pc in k, step kc:
//       pack B[pc:pc+kc, jc:jc+nc] into slivers of nr columns
//       for ic in m, step mc:      a block of A, mc x kc, lives in L2
//         pack A[ic:ic+mc, pc:pc+kc] into slivers of mr rows
//         macro-kernel: for each B sliver (kept in L1), for each A sliver:
//           micro-kernel: C[mr x nr] += A sliver * B sliver, all in registers
//
// Packing copies each block once into the exact order the micro-kernel reads it, so its
// loads are contiguous, aligned and free of TLB misses, and edges are zero-padded so the
// micro-kernel never needs a bounds check.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "kernels/cpu/cpu_features.h"
#include "kernels/gemm.h"

namespace flopslab::gemm::packed {

// Computes one mr x nr tile: C = (accumulate ? C : 0) + sum over p of a[p] (x) b[p], where
// the packed A sliver holds, for each p, the mr values A[i..i+mr)[p], and the packed B sliver
// holds, for each p, the nr values B[p][j..j+nr). Both slivers are 64-byte aligned.
using MicroKernelFn = void (*)(std::int64_t kc, const float* a, const float* b, float* c,
                               std::int64_t ldc, bool accumulate);

// C[rows x cols] (+)= the same product for a partial tile (rows <= mr, cols <= nr), written
// straight into C; the slivers are packed as for a full tile.
using EdgeKernelFn = void (*)(int rows, int cols, std::int64_t kc, const float* a, const float* b, float* c,
                              std::int64_t ldc, bool accumulate);
// The same product for a tile of rows <= mr (full or partial) with A read where it lies: row r
// of the tile at a + r * lda, k contiguous. B is a packed sliver (ldb 0), or B's own rows,
// ldb floats apart, columns contiguous. See read_a_unpacked for when that pays.
using UnpackedKernelFn = void (*)(int rows, int cols, std::int64_t kc, const float* a, std::int64_t lda,
                                  const float* b, std::int64_t ldb, float* c, std::int64_t ldc, bool accumulate);
struct MicroKernel {
  SimdPath path;
  int mr, nr;
  MicroKernelFn run;
  EdgeKernelFn edge = nullptr;  // null: the full kernel into a scratch tile, then copied
  UnpackedKernelFn unpacked = nullptr;  // null: A and B are always packed
};

// Defined in microkernel_{scalar,avx2,avx512,neon}.cpp.
extern const MicroKernel kMicroKernelScalar, kMicroKernelAvx2, kMicroKernelAvx512, kMicroKernelNeon;
// microkernel_sve.cpp: its width follows the SVE vector length, known at run time (the NEON
// kernel where there is no SVE or the vector is wider than 512 bits).
const MicroKernel& micro_kernel_sve();
const MicroKernel& micro_kernel(SimdPath path);

// Whether float32 operands are packed: by default A is read where it lies when read_a_unpacked
// says so, and B too then, when it is a row-major matrix (RowMajorB) and read_b_unpacked says
// so; `always` packs both, `none` packs neither where the kernel can read them unpacked.
enum class Packing { where_it_pays, always, none };
// Block sizes: mc a multiple of mr, nc a multiple of nr.
struct Blocking {
  std::int64_t mc, kc, nc;
  // The most pages of C one block of A may span, a page per row of C (0: no limit); see rows_per_block.
  std::int64_t c_pages = 0;
  Packing packing = Packing::where_it_pays;
};
// The mc to use for a C whose rows are ldc floats apart: with B slivers outer, one B sliver met
// a tile in every row of the block, and when a row of C is a page or more apart from the next
// each of those rows is its own page. Keeping them within c_pages kept them in the L1 data TLB
// (measured on Zen 5 before the macro-kernel turned A slivers outer; see blocking.cpp).
std::int64_t rows_per_block(const Blocking& blk, std::int64_t ldc, int mr);

// One cache level's shape: bytes = ways * sets * line.
struct CacheGeometry {
  std::int64_t bytes = 0, line = 0, ways = 0, sets = 0;  // 0: not reported
};
struct CacheGeometries {
  CacheGeometry level[3];  // L1 data, L2, L3 of the first CPU
  bool assumed = false;    // the OS did not say; common values stand in
  std::int64_t dtlb_entries = 64;  // L1 data TLB entries for 4 KiB pages (CPUID; 64 if it does not say)
  bool dtlb_assumed = true;
  std::int64_t l3_shared_by = 0;  // CPUs sharing the L3 (sysfs shared_cpu_list; 0: not said)
  // Where the L3 figure comes from: empty for the OS's own, else the measurement that replaced
  // an implausible one (with_measured_last_level).
  std::string l3_source;
};
// Read from sysfs once: the caches of the fastest kind of core (see fastest_cpu_dir), with the
// last level replaced where use_measured_last_level was called.
const CacheGeometries& cache_geometries();

// More last-level cache per CPU than any CPU has (16 MiB; the most is about 12 on x86 with 3D
// V-Cache): a virtual machine that sees its host's whole chip, as a 2-vCPU VM reporting a
// 480 MiB L3 does. Blocks sized for it would not fit.
constexpr std::int64_t kMostLastLevelPerCpu = std::int64_t(16) << 20;
bool last_level_implausible(const CacheGeometries& caches);
// `caches` with the L3 of `bytes` (keeping its line and ways; sets rounded down), said to come
// from `source` ("the latency probe's last cache boundary"). Unchanged when bytes is not above
// the L2.
CacheGeometries with_measured_last_level(CacheGeometries caches, std::int64_t bytes, const std::string& source);
// Makes cache_geometries() answer with_measured_last_level(...) from now on. Call it before any
// GEMM runs (bench/sweeps/gemm_sweep.h: size_blocks_from_measured_caches); the blocks are
// modelled at each call, so GEMMs after it use the measured level.
void use_measured_last_level(std::int64_t bytes, const std::string& source);
// The CPU whose caches the blocks are sized for, under cpu_root (/sys/devices/system/cpu): the
// largest cpu_capacity, then the highest cpuinfo_max_freq, then the lowest number. On
// big.LITTLE, CPU 0 is often a little core with a quarter of the big core's L2.
std::string fastest_cpu_dir(const std::string& cpu_root);
// The geometry under cpu_root, as cache_geometries() reads this machine's (tests read
// recorded trees); levels the tree does not give are common values, with `assumed` set.
CacheGeometries read_cache_geometries(const std::string& cpu_root);

// The packing loops read a row of A at most this many k at a time.
constexpr std::int64_t kMaxKc = 512;

// Whether a micro-kernel with mr rows should read A's rows where they lie (lda floats apart)
// rather than from packed slivers, for a product that reuses each block of A across `cols`
// columns of C. Packing costs a read and a write of every value of A, which the product spreads
// over `cols` multiply-adds per value: at 64 columns (the MLP's first layer, W times a batch) it
// was a tenth of the GEMM, at 256 a fiftieth, at 1000 nothing measurable. Read in place, the mr
// rows are mr streams that step through k together; rows a multiple of 4 KiB apart (lda 1024,
// 2048) have their current lines in one L1 set, more lines than the set has ways, and each
// broadcast missed (1024^3 lost 10%, 2048^3 10-35%; lda 1000, whose rows drift 96 bytes a row,
// lost nothing). So: at most 512 columns, and no more of the rows in one set than its ways
// less two (the B sliver streams through the same sets).
bool read_a_unpacked(int mr, std::int64_t lda, std::int64_t cols, const CacheGeometry& l1);
// Whether B (kc x cols of a row-major matrix) should then be read where it lies too. At these
// widths packing B cost more than its strided rows do (256^3 and 512^3 on one Zen 4 core:
// 102-107 -> 113-115 GFLOP/s; on two, 190-209 -> 213-227, as fast as oneDNN), as long as the
// rows come from the L2: every A sliver reads all of them again, a line or two per row and k,
// which the prefetchers feed from the L2 but not from beyond. A kernel of mr rows reads B's
// block once per mr rows of C, so the block may take the whole L2 at mr 12 and half of it at
// mr 6 (the AVX2 kernel at 512^3, a 1 MiB B against a 1 MiB L2: 86-98 -> 81 GFLOP/s).
bool read_b_unpacked(int mr, std::int64_t kc, std::int64_t cols, const CacheGeometry& l2);
// The most of the mr rows (lda floats apart) whose bytes at any one k fall in the same L1 set.
int rows_sharing_a_set(int mr, std::int64_t lda, const CacheGeometry& l1);
constexpr std::int64_t kMostColsForUnpackedA = 512;
// Block sizes from BLIS's analytical model (blocking.cpp) and the cache ways each block takes.
struct ModelledBlocking {
  Blocking blocking;
  std::int64_t kc_l1 = 0;  // the L1 model's kc, before doubling
  std::int64_t a_ways_l1 = 0, a_ways_l2 = 0, b_ways_l3 = 0;
};
// bytes_per_k: what one k step of one row takes in a packed sliver (4 for float32, 2 for bf16 pairs).
ModelledBlocking analytical_blocking(int mr, int nr, int bytes_per_k, const CacheGeometries& caches);
// "blocks mc 888 kc 256 nc 28672 (BLIS model: A sliver in 3 of 12 ways of the 48 KiB L1, ...)"
std::string describe_blocking(const ModelledBlocking& m, const CacheGeometries& caches);
// The model's blocks for this micro-kernel on this machine's caches.
Blocking default_blocking(const MicroKernel& uk);

// A block size <= block, a multiple of unit, that cuts total into as few, nearly equal pieces
// as block allows: 1024 rows in blocks of at most 168 become 7 x 150 (the last 124), not
// 6 x 168 + 16, whose thin last block would run the micro-kernel on mostly padding.
std::int64_t balanced_block(std::int64_t total, std::int64_t block, int unit);

// One full 12-row sliver with AVX-512 (microkernel_avx512.cpp); pack_a uses it where it can.
void pack_a_sliver_12_avx512(const float* a, std::int64_t lda, std::int64_t kc, float* dst);
// Copies rows [0, rows) x columns [0, kc) of A into ceil(rows / mr) slivers, zero-padded.
void pack_a(const float* a, std::int64_t lda, std::int64_t rows, std::int64_t kc, int mr,
            float* dst);
// Copies rows [0, kc) x columns [0, cols) of B (cols <= nr) into one sliver, zero-padded.
void pack_b_sliver(const float* b, std::int64_t ldb, std::int64_t kc, std::int64_t cols, int nr,
                   float* dst);
// C[rows x cols] (+)= packed A block * packed B panel.
void macro_kernel(const MicroKernel& uk, std::int64_t rows, std::int64_t cols, std::int64_t kc,
                  const float* a_packed, const float* b_packed, float* c, std::int64_t ldc,
                  bool accumulate);

// What a fused layer does to its output as the GEMM finishes it (inference fusion, lesson 18):
//   out[i][j] = act(C[i][j] * row_scale[i] + row_shift[i] + col_shift[j] + residual[i][j])
// with each term left out when its pointer is null. It runs on each mr x nr tile right after
// the micro-kernel stores the tile's last k block, while the tile is still in L1, so a
// convolution + bias + batch norm + ReLU (+ residual add) makes one pass over its output
// instead of four. With out_rows set, row i of the result goes to out_rows[i] (column j at
// out_rows[i][j]) and C holds only the raw sums: stacked branches (one GEMM for several 1x1
// convolutions) and concatenations write each row straight into its place.
struct Epilogue {
  const float* row_scale = nullptr;
  const float* row_shift = nullptr;
  const float* col_shift = nullptr;
  const float* residual = nullptr;  // m x n, rows ld_residual floats apart
  std::int64_t ld_residual = 0;
  bool relu = false;
  float* const* out_rows = nullptr;
};
// Applies `e` to C's rows [row0, row0 + rows) x columns [col0, col0 + cols), stored at tile
// (ldc floats per row).
void apply_epilogue(const Epilogue& e, std::int64_t row0, std::int64_t col0, std::int64_t rows, std::int64_t cols,
                    float* tile, std::int64_t ldc);

// How step 5 lays its threads over C: rows x cols threads, each owning a rectangle.
struct ThreadGrid {
  int rows, cols;
};
ThreadGrid thread_grid(std::int64_t m, std::int64_t n, int threads, int mr, int nr);

// Step 4 (one thread) and step 5 (a grid of threads over C, sharing the packed panels). With
// 16-bit `inputs` the operands are rounded while packing (step 6, 06_bf16.cpp: bf16 runs on
// the vdpbf16ps micro-kernel where the CPU has AVX512_BF16); the products are summed in fp32.
void gemm_packed(const Operands& op, const MicroKernel& uk, const Blocking& blocking);
void gemm_packed_parallel(const Operands& op, const MicroKernel& uk, const Blocking& blocking,
                          int threads, InputFormat inputs = InputFormat::fp32);

// Step 5 with B read through a function: `read_b_row(row, col0, cols, out)` writes
// B[row][col0 .. col0 + cols) to out. The GEMM packs B a block of rows at a time, so a B
// that is never stored costs no more than one that is: a convolution passes its im2col
// matrix this way (implicit GEMM), formed from the image while packing, and the R*S-times
// larger im2col copy never goes through memory.
using BRowReader = std::function<void(std::int64_t row, std::int64_t col0, std::int64_t cols, float* out)>;
// The same for A: `read_a_row(row, k0, count, out)` writes A[row][k0 .. k0 + count) (count <= 512).
using ARowReader = std::function<void(std::int64_t row, std::int64_t k0, std::int64_t count, float* out)>;
void gemm_packed_parallel(Shape shape, const float* a, std::int64_t lda, const BRowReader& read_b_row, float* c,
                          std::int64_t ldc, const MicroKernel& uk, const Blocking& blocking, int threads,
                          InputFormat inputs = InputFormat::fp32);
// Both operands through row readers.
void gemm_packed_parallel(Shape shape, const ARowReader& read_a_row, const BRowReader& read_b_row, float* c,
                          std::int64_t ldc, const MicroKernel& uk, const Blocking& blocking, int threads,
                          InputFormat inputs = InputFormat::fp32);

// B stored transposed: B[k][j] = data[j * ld + k] (a Linear layer's batch x^T, whose rows are
// the samples). The packer transposes 16 x 16 blocks of it straight into the panels, where a
// row reader would need the whole transposed copy first.
struct TransposedB {
  const float* data;
  std::int64_t ld;
};
// B as a row-major matrix (k rows of ld floats), which the kernel may read without packing.
struct RowMajorB {
  const float* data;
  std::int64_t ld;
};

// Step 5 (float32) with an epilogue applied as the GEMM finishes each tile; B through
// read_b_row, or, with b_t set, from that transposed matrix (read_b_row unused).
void gemm_packed_fused(Shape shape, const float* a, std::int64_t lda, const BRowReader& read_b_row, float* c,
                       std::int64_t ldc, const Epilogue& epilogue, int threads, const TransposedB* b_t = nullptr);

// Step 6 (06_bf16.cpp): operands rounded to bf16 and packed in pairs of consecutive k, the
// AVX512_BF16 (x86) or FEAT_BF16 (aarch64) micro-kernel, float32 sums. Only where bf16_dot_product_available().
bool bf16_dot_product_available();
// "vdpbf16ps" (x86 AVX512_BF16), "bfdot" (aarch64 FEAT_BF16), or "" where neither runs.
const char* bf16_dot_instruction();
void gemm_bf16_dot(Shape shape, const float* a, std::int64_t lda, const BRowReader& read_b_row, float* c,
                   std::int64_t ldc, int threads, const ARowReader* read_a_row = nullptr);
// "avx512_bf16 micro-kernel 12x32 (vdpbf16ps), blocks ..." or what runs instead, and why.
std::string describe_bf16_choice();

#if defined(__x86_64__)
// 32 columns of two consecutive k rows as 32 bf16 pair slots, slot j = (row0[j], row1[j]):
// step 6's B sliver row, and AMX's B tile rows (step 7). Needs AVX512_BF16.
void pack_b_pairs(const float* row0, const float* row1, std::uint32_t* dst);
#endif
// kc values of one row as (kc + 1) / 2 bf16 pair slots in k order (a zero after an odd last
// k): vcvtne2ps2bf16 where the CPU has AVX512_BF16, else one value at a time.
void pack_row_pairs(const float* row, std::int64_t kc, std::uint32_t* dst);

// Step 7 (07_amx.cpp): bf16 operands on AMX's tile unit. Null where it runs, else why not.
const char* amx_unavailable();
// Where the GEMM runs: the tile unit itself, or a software model of its instructions (for
// checking the rung's packing and loop on CPUs without AMX).
enum class TileUnit { hardware, software };
void gemm_amx(const Operands& op, int threads, TileUnit unit);
// "AMX 32x32 tiles (tdpbf16ps), blocks ..." or why it cannot run here.
std::string describe_amx_choice();

// "avx2 micro-kernel 6x16, blocks mc ... (BLIS model: ...)": what steps 4 and 5 run here.
std::string describe_choice();

// 64-byte aligned scratch for packed blocks.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(std::int64_t floats);
  ~AlignedBuffer();
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  float* data() const { return data_; }

 private:
  float* data_;
};

// Grow-only 64-byte aligned scratch kept per calling thread and slot, for the packed panels
// of step 5: a fresh multi-megabyte allocation per call would page-fault its way in on every
// call, which shows when a convolution makes one GEMM call per image. Slots 0 and 1 are the
// driver's panels; 2 and 3 a caller's copies around one GEMM call (an operand transposed for
// it, a product to transpose back), so that a training step allocates and zeroes none.
// Contents are undefined on return.
enum ScratchSlot : int { kPanelA = 0, kPanelB = 1, kCallerCopy1 = 2, kCallerCopy2 = 3, kScratchSlots = 4 };
float* reusable_scratch(int slot, std::int64_t floats);

}  // namespace flopslab::gemm::packed
