// perf_event_open groups for cycles, instructions and cache misses, and why they may be unreadable.
#include "harness/counters.h"

#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace flopslab::bench {
namespace {

int open_counter(std::uint32_t type, std::uint64_t config) {
  perf_event_attr attr{};
  attr.size = sizeof attr;
  attr.type = type;
  attr.config = config;
  attr.disabled = 1;
  attr.exclude_kernel = 1;  // allowed at perf_event_paranoid 2, and the kernel is not what we measure
  attr.exclude_hv = 1;
  return static_cast<int>(syscall(SYS_perf_event_open, &attr, 0 /* this thread */, -1 /* any CPU */, -1, 0));
}

constexpr std::uint64_t cache_event(std::uint64_t cache, std::uint64_t op, std::uint64_t result) {
  return cache | (op << 8) | (result << 16);
}

}  // namespace

Counters& Counters::instance() {
  static Counters counters;
  return counters;
}

Counters::Counters() {
  const std::pair<std::uint32_t, std::uint64_t> events[4] = {
      {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CPU_CYCLES},
      {PERF_TYPE_HARDWARE, PERF_COUNT_HW_INSTRUCTIONS},
      {PERF_TYPE_HW_CACHE, cache_event(PERF_COUNT_HW_CACHE_L1D, PERF_COUNT_HW_CACHE_OP_READ, PERF_COUNT_HW_CACHE_RESULT_MISS)},
      {PERF_TYPE_HARDWARE, PERF_COUNT_HW_CACHE_MISSES},
  };
  for (int i = 0; i < 4; ++i) {
    fds_[i] = open_counter(events[i].first, events[i].second);
    if (fds_[i] < 0) {
      const int err = errno;
      reason_ = std::string("hardware counters unavailable here (perf_event_open: ") + std::strerror(err) +
                (err == ENOENT || err == EOPNOTSUPP ? "; common in virtual machines" : "") + ")";
      for (int j = 0; j < i; ++j) close(fds_[j]), fds_[j] = -1;
      fds_[i] = -1;
      return;
    }
  }
  available_ = true;
}

std::optional<CounterValues> Counters::count(const std::function<void()>& work) {
  if (!available_) return std::nullopt;
  for (int fd : fds_) ioctl(fd, PERF_EVENT_IOC_RESET, 0), ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
  work();
  for (int fd : fds_) ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
  std::uint64_t v[4] = {};
  for (int i = 0; i < 4; ++i)
    if (read(fds_[i], &v[i], sizeof v[i]) != sizeof v[i]) return std::nullopt;
  return CounterValues{double(v[0]), double(v[1]), double(v[2]), double(v[3]), 64.0 * double(v[3])};
}

}  // namespace flopslab::bench
