// While an EveryCpu lives, the calling thread may run on every CPU the process may use (the
// kernel keeps the mask within its cpuset); the thread's own mask comes back after. For peer
// libraries with pthread pools of their own (OpenBLAS): their workers inherit the mask of the
// thread that starts them and follow the caller's placement, and flopslab pins its measuring
// thread to one core. With every worker on that core, a 2-thread call ran up to 50 times slower
// than a 1-thread one (time slices of spinning threads). The same for programs started from a
// pinned thread (likwid-bench inherits the mask).
#pragma once

#include <sched.h>

namespace flopslab::cpu {

class EveryCpu {
 public:
  EveryCpu() {
    saved_ok_ = sched_getaffinity(0, sizeof saved_, &saved_) == 0;
    cpu_set_t all;
    CPU_ZERO(&all);
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) CPU_SET(cpu, &all);
    if (saved_ok_) sched_setaffinity(0, sizeof all, &all);
  }
  ~EveryCpu() {
    if (saved_ok_) sched_setaffinity(0, sizeof saved_, &saved_);
  }
  EveryCpu(const EveryCpu&) = delete;
  EveryCpu& operator=(const EveryCpu&) = delete;

 private:
  cpu_set_t saved_;
  bool saved_ok_ = false;
};

}  // namespace flopslab::cpu
