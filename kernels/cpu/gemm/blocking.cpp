// Block sizes from the cache geometry: the analytical model of Low, Igual, Smith and
// Quintana-Orti, "Analytical modeling is enough for high-performance BLIS" (TOMS 2016), with
// two corrections that measurements asked for (lesson 05 shows both).
//
// Each block is sized so that what must stay in a cache level survives the data that streams
// through it, counted in cache ways (a set-associative cache evicts by set, so the question
// is how many of each set's W lines one operand may take):
//   kc  L1: the B sliver (kc x nr) stays while A slivers (mr x kc) stream past. One way is
//       left for C and the streamed lines; the remaining W1 - 1 are shared between A and B
//       in the ratio mr : nr, so A gets C_A = floor((W1 - 1) / (1 + nr / mr)) ways and
//           kc_L1 = C_A * sets1 * line / (mr * bytes).
//   mc  L2: the packed A block (mc x kc) stays while B slivers stream: one way for them,
//       ceil(kc * nr * bytes / (sets2 * line)) ways for the current B sliver, the rest A's:
//           mc = C_A2 * sets2 * line / (kc * bytes), rounded down to a multiple of mr.
//   nc  L3: the packed B panel (kc x nc) stays while A blocks stream, likewise:
//           nc = C_B3 * sets3 * line / (kc * bytes), rounded down to a multiple of nr.
// `bytes` is what one k step of one row takes in a packed sliver: 4 for float32, and 2 for
// bf16 pairs (two k per 4-byte slot), which doubles kc.
//
// The corrections:
//   kc = kMaxKc (512), not the L1 model's kc_L1. The model keeps the B sliver in L1, but the
//       micro-kernel reads only nr floats of B per k step (128 bytes per 24 FMAs at 12 x 32),
//       which L2 feeds easily; what the model ignores is C: every micro-kernel call loads and
//       stores its mr x nr tile of C, from L2 or beyond, and kc is what amortises that. Zen 4
//       (32 KiB 8-way L1, model 80): 768^3 on 2 threads 160 -> 208 GFLOP/s, 2048^3 on one
//       93 -> 104, and the AVX2 kernel 80 -> 100 at 768^3; Zen 5 (model 256): 3-8% at 1024-4096.
//   mc <= half the L1 data TLB's entries in rows of C (rows_per_block): one B sliver meets
//       a C tile in every row of the A block, and when C's rows are a page apart each is its
//       own page. On Zen 5 (96 entries) a 4096-wide C runs 0.76x oneDNN with the model's mc
//       (888 rows, 888 pages per sliver) and 0.93-0.96x with 48.
//   The macro-kernel runs A slivers outer (packed_driver.h): the A sliver (24 KiB at 12 x 512)
//       stays in L1 in place of the B sliver, which at kc 512 does not fit. The mc cap was
//       measured with B slivers outer; with A slivers outer a sliver's C tiles lie in mr rows,
//       and on Zen 4 the cap no longer moves 2048^3 or 4096^3. It stays until Zen 5 says.
#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "kernels/cpu/gemm/packed.h"

namespace flopslab::gemm::packed {
namespace {

// Reads one of sysfs's cache attributes ("12", "48K"); 0 when missing.
std::int64_t read_cache_attribute(const std::string& dir, const char* name) {
  std::ifstream in(dir + "/" + name);
  std::string text;
  if (!(in >> text) || text.empty()) return 0;
  std::int64_t value = 0;
  try {
    value = std::stoll(text);
  } catch (...) {
    return 0;
  }
  if (text.back() == 'K') value <<= 10;
  if (text.back() == 'M') value <<= 20;
  return value;
}

constexpr std::int64_t kPageBytes = 4096;

// The L1 data TLB's 4 KiB entries: AMD's CPUID 0x80000005 EBX[23:16]; Intel's leaf 0x18
// (deterministic address translation), its level-1 data or load TLB with 4 KiB pages.
void read_dtlb_entries(CacheGeometries& out) {
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000000, &a, &b, &c, &d) && a >= 0x80000005 && __get_cpuid(0x80000005, &a, &b, &c, &d) &&
      ((b >> 16) & 0xff) != 0) {
    out.dtlb_entries = (b >> 16) & 0xff, out.dtlb_assumed = false;
    return;
  }
  if (__get_cpuid(0, &a, &b, &c, &d) && a >= 0x18) {
    unsigned subleaves = 0;
    __cpuid_count(0x18, 0, subleaves, b, c, d);
    for (unsigned i = 0; i <= subleaves && i < 16; ++i) {
      __cpuid_count(0x18, i, a, b, c, d);
      const unsigned type = d & 0x1f, level = (d >> 5) & 0x7;
      if ((type == 1 || type == 4) && level == 1 && (b & 1u) != 0) {  // data or load TLB, 4 KiB pages
        out.dtlb_entries = std::int64_t((b >> 16) & 0xffff) * c, out.dtlb_assumed = false;
        return;
      }
    }
  }
#else
  (void)out;
#endif
}

std::int64_t read_number(const std::string& path) {
  std::ifstream in(path);
  long long value = 0;
  return (in >> value) ? value : 0;
}

// CPUs in a sysfs list such as "0-1" or "0,2,4-7"; 0 when missing or unreadable.
std::int64_t count_cpu_list(const std::string& path) {
  std::ifstream in(path);
  std::string list;
  if (!(in >> list)) return 0;
  std::int64_t count = 0;
  std::size_t at = 0;
  while (at < list.size()) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    const std::string range = list.substr(at, comma - at);
    const std::size_t dash = range.find('-');
    try {
      count += dash == std::string::npos ? 1 : std::stoll(range.substr(dash + 1)) - std::stoll(range.substr(0, dash)) + 1;
    } catch (...) {
      return 0;
    }
    at = comma + 1;
  }
  return count;
}

}  // namespace

std::string fastest_cpu_dir(const std::string& cpu_root) {
  std::string best = cpu_root + "/cpu0";
  std::int64_t best_capacity = -1, best_khz = -1;
  for (int cpu = 0; cpu < 4096; ++cpu) {
    const std::string dir = cpu_root + "/cpu" + std::to_string(cpu);
    if (!std::filesystem::exists(dir)) break;
    const std::int64_t capacity = read_number(dir + "/cpu_capacity");
    const std::int64_t khz = read_number(dir + "/cpufreq/cpuinfo_max_freq");
    if (capacity > best_capacity || (capacity == best_capacity && khz > best_khz))
      best = dir, best_capacity = capacity, best_khz = khz;
  }
  return best;
}

CacheGeometries read_cache_geometries(const std::string& cpu_root) {
  CacheGeometries found;
  const std::string cpu_dir = fastest_cpu_dir(cpu_root);
  for (int index = 0; index < 8; ++index) {
    const std::string dir = cpu_dir + "/cache/index" + std::to_string(index);
    std::ifstream type_file(dir + "/type");
    std::string type;
    if (!(type_file >> type)) break;
    if (type == "Instruction") continue;
    const std::int64_t level = read_cache_attribute(dir, "level");
    if (level < 1 || level > 3) continue;
    CacheGeometry g{.bytes = read_cache_attribute(dir, "size"),
                    .line = read_cache_attribute(dir, "coherency_line_size"),
                    .ways = read_cache_attribute(dir, "ways_of_associativity"),
                    .sets = read_cache_attribute(dir, "number_of_sets")};
    if (g.line > 0 && g.ways > 0 && g.sets == 0) g.sets = g.bytes / (g.line * g.ways);
    if (g.bytes > 0 && g.line > 0 && g.ways > 0 && g.sets > 0 && g.ways * g.sets * g.line == g.bytes) {
      found.level[level - 1] = g;
      if (level == 3) found.l3_shared_by = count_cpu_list(dir + "/shared_cpu_list");
    }
  }
  read_dtlb_entries(found);
  // Where the OS does not say (some VMs and containers), a common shape stands in, and the
  // description says so.
  const CacheGeometry assumed[3] = {{32 << 10, 64, 8, 64}, {1 << 20, 64, 16, 1024}, {8 << 20, 64, 16, 8192}};
  for (int l = 0; l < 3; ++l)
    if (found.level[l].bytes == 0) found.level[l] = assumed[l], found.assumed = true;
  return found;
}

namespace {

std::int64_t round_down(std::int64_t x, std::int64_t to) { return std::max(to, x / to * to); }
std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

}  // namespace

namespace {
CacheGeometries& this_machine() {
  static CacheGeometries caches = read_cache_geometries("/sys/devices/system/cpu");
  return caches;
}
}  // namespace

const CacheGeometries& cache_geometries() { return this_machine(); }

bool last_level_implausible(const CacheGeometries& caches) {
  const CacheGeometry& l3 = caches.level[2];
  return !caches.assumed && caches.l3_source.empty() && caches.l3_shared_by > 0 &&
         l3.bytes / caches.l3_shared_by > kMostLastLevelPerCpu;
}

CacheGeometries with_measured_last_level(CacheGeometries caches, std::int64_t bytes, const std::string& source) {
  CacheGeometry& l3 = caches.level[2];
  if (bytes <= caches.level[1].bytes || l3.ways <= 0 || l3.line <= 0) return caches;
  l3.sets = std::max<std::int64_t>(1, bytes / (l3.ways * l3.line));
  l3.bytes = l3.ways * l3.sets * l3.line;
  caches.l3_source = source;
  return caches;
}

void use_measured_last_level(std::int64_t bytes, const std::string& source) {
  this_machine() = with_measured_last_level(this_machine(), bytes, source);
}

ModelledBlocking analytical_blocking(int mr, int nr, int bytes_per_k, const CacheGeometries& caches) {
  const CacheGeometry &l1 = caches.level[0], &l2 = caches.level[1], &l3 = caches.level[2];
  ModelledBlocking out;
  // L1: A's share of the ways left after one for C.
  out.a_ways_l1 = std::max<std::int64_t>(1, (l1.ways - 1) * mr / (mr + nr));
  out.kc_l1 = round_down(out.a_ways_l1 * l1.sets * l1.line / (std::int64_t(mr) * bytes_per_k), 8);
  // Raised to the packing loops' cap to amortise C's tile (see above).
  out.blocking.kc = kMaxKc;
  const std::int64_t kc_bytes = out.blocking.kc * bytes_per_k;
  // L2: the A block, next to one B sliver and one way for what streams.
  const std::int64_t b_sliver_ways = ceil_div(kc_bytes * nr, l2.sets * l2.line);
  out.a_ways_l2 = std::max<std::int64_t>(1, l2.ways - 1 - b_sliver_ways);
  out.blocking.mc = round_down(out.a_ways_l2 * l2.sets * l2.line / kc_bytes, mr);
  // L3: the B panel, next to one A block.
  const std::int64_t a_block_ways = ceil_div(kc_bytes * out.blocking.mc, l3.sets * l3.line);
  out.b_ways_l3 = std::max<std::int64_t>(1, l3.ways - 1 - a_block_ways);
  out.blocking.nc = round_down(out.b_ways_l3 * l3.sets * l3.line / kc_bytes, nr);
  out.blocking.c_pages = std::max<std::int64_t>(1, caches.dtlb_entries / 2);
  return out;
}

std::int64_t rows_per_block(const Blocking& blk, std::int64_t ldc, int mr) {
  if (blk.c_pages <= 0) return blk.mc;
  const std::int64_t rows_per_page = std::max<std::int64_t>(1, kPageBytes / (std::max<std::int64_t>(ldc, 1) * 4));
  return std::min(blk.mc, std::max<std::int64_t>(mr, blk.c_pages * rows_per_page / mr * mr));
}

int rows_sharing_a_set(int mr, std::int64_t lda, const CacheGeometry& l1) {
  const std::int64_t line = l1.line > 0 ? l1.line : 64, way = line * (l1.sets > 0 ? l1.sets : 64);
  int most = 0;
  for (int i = 0; i < mr; ++i) {
    int near = 0;  // rows whose bytes at the same k lie within a line of row i's, modulo a way
    for (int j = 0; j < mr; ++j) {
      const std::int64_t apart = ((std::int64_t(j - i) * lda * 4) % way + way) % way;
      near += apart < line || way - apart < line;
    }
    most = std::max(most, near);
  }
  return most;
}

bool read_a_unpacked(int mr, std::int64_t lda, std::int64_t cols, const CacheGeometry& l1) {
  const std::int64_t ways = l1.ways > 0 ? l1.ways : 8;
  return cols <= kMostColsForUnpackedA && rows_sharing_a_set(mr, lda, l1) <= std::max<std::int64_t>(1, ways - 2);
}

bool read_b_unpacked(int mr, std::int64_t kc, std::int64_t cols, const CacheGeometry& l2) {
  const std::int64_t l2_bytes = l2.bytes > 0 ? l2.bytes : std::int64_t(512) << 10;
  return kc * cols * 4 * 12 <= l2_bytes * mr;
}

std::string describe_blocking(const ModelledBlocking& m, const CacheGeometries& caches) {
  auto kib = [](std::int64_t bytes) {
    return bytes >= (1 << 20) ? std::to_string(bytes >> 20) + " MiB" : std::to_string(bytes >> 10) + " KiB";
  };
  const CacheGeometry &l1 = caches.level[0], &l2 = caches.level[1], &l3 = caches.level[2];
  std::string s = "blocks mc " + std::to_string(m.blocking.mc) + " kc " + std::to_string(m.blocking.kc) + " nc " +
                  std::to_string(m.blocking.nc) + " (BLIS model: A sliver in " + std::to_string(m.a_ways_l1) + " of " +
                  std::to_string(l1.ways) + " ways of the " + kib(l1.bytes) + " L1, A block in " +
                  std::to_string(m.a_ways_l2) + " of " + std::to_string(l2.ways) + " of the " + kib(l2.bytes) +
                  " L2, B panel in " + std::to_string(m.b_ways_l3) + " of " + std::to_string(l3.ways) + " of the " +
                  kib(l3.bytes) + " L3" + (caches.l3_source.empty() ? "" : " (" + caches.l3_source + ")") + "; kc " + std::to_string(kMaxKc) +
                  (m.kc_l1 < kMaxKc   ? ", not the L1 model's " + std::to_string(m.kc_l1) + ", for C's sake"
                   : m.kc_l1 > kMaxKc ? ", the packing loops' cap (the L1 model allows " + std::to_string(m.kc_l1) + ")"
                                      : ", as the L1 model gives") +
                  "; mc at most " + std::to_string(m.blocking.c_pages) + " page-apart rows of C, half the " +
                  std::to_string(caches.dtlb_entries) + "-entry L1 DTLB" + (caches.dtlb_assumed ? " (assumed)" : "");
  if (caches.assumed) s += "; the OS gave no cache geometry, a common one was assumed";
  return s + ")";
}

}  // namespace flopslab::gemm::packed
