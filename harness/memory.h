// Large buffers for the memory probes: 2 MiB aligned, with transparent huge pages requested
// (madvise), touched up front so page faults stay out of the timings, and able to say how
// much of them the kernel really backed with huge pages.
#pragma once

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

// The kernel's transparent huge page mode: "always", "madvise" or "never" ("unknown" if unreadable).
const char* transparent_huge_page_mode();

}  // namespace flopslab::bench
