// Large buffers for the memory probes: 2 MiB aligned, with transparent huge pages requested
// (madvise), touched up front so page faults stay out of the timings, and able to say how
// much of them the kernel really backed with huge pages.
#pragma once

#include <cstddef>
#include <cstdint>

namespace flopslab::bench {

class HugeBuffer {
 public:
  // touch = false leaves first touch to the caller (to place pages near the threads using them).
  explicit HugeBuffer(std::int64_t bytes, bool touch = true);
  ~HugeBuffer();
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;

  char* data() const { return data_; }
  std::int64_t bytes() const { return bytes_; }
  // Bytes of this buffer backed by huge pages (AnonHugePages in /proc/self/smaps), or -1 when
  // the kernel does not say.
  std::int64_t huge_page_bytes() const;

 private:
  char* base_ = nullptr;
  char* data_ = nullptr;
  std::int64_t bytes_ = 0, mapped_ = 0;
};

// Memory for operands that kernels stream through (GEMM and convolution problems): 64-byte
// aligned, and from 1 MiB on 2 MiB aligned with huge pages requested. On 4 KiB pages at
// malloc's 16-byte offset, a 768 x 768 C had every 128-byte row piece of a tile across three
// cache lines, and which L2 sets its pages fell in changed from one process to the next: the
// same GEMM ran at 155 or 185 GFLOP/s on alternate runs.
void* allocate_operand_bytes(std::size_t bytes);
void free_operand_bytes(void* p) noexcept;

template <class T>
struct OperandAllocator {
  using value_type = T;
  OperandAllocator() = default;
  template <class U>
  OperandAllocator(const OperandAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(allocate_operand_bytes(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { free_operand_bytes(p); }
  template <class U>
  bool operator==(const OperandAllocator<U>&) const noexcept { return true; }
};

// The kernel's transparent huge page mode: "always", "madvise" or "never" ("unknown" if unreadable).
const char* transparent_huge_page_mode();

}  // namespace flopslab::bench
