// Hardware performance counters through perf_event_open: cycles, instructions, L1 data-cache
// read misses and last-level-cache misses of the calling thread. Many virtual machines do not
// expose them; then available() is false, reason() says why once, and the probes carry on
// without the extra columns.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

namespace flopslab::bench {

struct CounterValues {
  double cycles = 0, instructions = 0, l1d_misses = 0, llc_misses = 0;
  // Bytes read from DRAM: last-level misses x 64 on the CPU; on the GPU, bytes read and written
  // as its own DRAM counters report them (harness/gpu_counters.h), the other fields then zero.
  double dram_bytes = 0;
};

class Counters {
 public:
  // Opens the group (once per process; later calls reuse the answer).
  static Counters& instance();
  bool available() const { return available_; }
  const std::string& reason() const { return reason_; }

  // Counts what `work` does on this thread. When counters are unavailable it returns nothing
  // and does not run `work` at all (callers time it separately).
  std::optional<CounterValues> count(const std::function<void()>& work);

 private:
  Counters();
  int fds_[4] = {-1, -1, -1, -1};
  bool available_ = false;
  std::string reason_;
};

}  // namespace flopslab::bench
