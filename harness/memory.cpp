// 2 MiB-aligned buffers with transparent huge pages requested, first touched by their own threads.
#include "harness/memory.h"

#include <sys/mman.h>

#include <algorithm>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>
#include <string>

namespace flopslab::bench {
namespace {
constexpr std::int64_t kHugePage = 2 << 20;
}

HugeBuffer::HugeBuffer(std::int64_t bytes, bool touch) : bytes_(bytes) {
  mapped_ = bytes + kHugePage;
  void* p = mmap(nullptr, static_cast<std::size_t>(mapped_), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  base_ = static_cast<char*>(p);
  const auto addr = reinterpret_cast<std::uintptr_t>(base_);
  data_ = base_ + ((kHugePage - addr % kHugePage) % kHugePage);
#ifdef MADV_HUGEPAGE
  madvise(data_, static_cast<std::size_t>(bytes_), MADV_HUGEPAGE);
#endif
  if (touch) std::memset(data_, 0, static_cast<std::size_t>(bytes_));  // fault every page in now
}

HugeBuffer::~HugeBuffer() {
  if (base_ != nullptr) munmap(base_, static_cast<std::size_t>(mapped_));
}

std::int64_t HugeBuffer::huge_page_bytes() const {
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) return -1;
  const auto begin = reinterpret_cast<std::uintptr_t>(data_), end = begin + static_cast<std::uintptr_t>(bytes_);
  std::string line;
  bool inside = false;
  std::int64_t total = 0;
  bool seen = false;
  while (std::getline(smaps, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find('-')) {
      inside = lo < end && hi > begin;  // a mapping line: does it overlap the buffer?
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0) {
      std::istringstream in(line.substr(14));
      std::int64_t kb = 0;
      in >> kb;
      total += kb * 1024;
      seen = true;
    }
  }
  return seen ? total : -1;
}

const char* transparent_huge_page_mode() {
  static std::string mode = [] {
    std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
    std::string all;
    std::getline(in, all);
    const auto l = all.find('['), r = all.find(']');
    return l != std::string::npos && r != std::string::npos ? all.substr(l + 1, r - l - 1) : std::string("unknown");
  }();
  return mode.c_str();
}

void* allocate_operand_bytes(std::size_t bytes) {
  constexpr std::size_t kHuge = std::size_t(2) << 20;
  const std::size_t align = bytes >= kHuge / 2 ? kHuge : 64;
  const std::size_t rounded = (std::max<std::size_t>(bytes, 1) + align - 1) / align * align;
  void* p = std::aligned_alloc(align, rounded);
  if (p == nullptr) throw std::bad_alloc();
  if (align == kHuge) madvise(p, rounded, MADV_HUGEPAGE);
  return p;
}

void free_operand_bytes(void* p) noexcept { std::free(p); }

}  // namespace flopslab::bench
