// How much of the CPUs this process could use while it measured something. A scaling claim
// ("two cores run twice as fast as one") can only be tested when the cores were there: on a
// virtual machine the hypervisor may run another guest on one of our vCPUs (the kernel counts
// that as *steal*), and on any machine another process may hold a core. The meter reads the
// kernel's per-CPU counters (/proc/stat) and this process's own CPU time (/proc/self/stat)
// before and after, over the CPUs this process may run on (bench::cpu_order()).
#pragma once

#include <string>

#include "harness/json.h"
#include "harness/timing.h"

namespace flopslab::bench {

struct CpuShare {
  bool known = false;        // false where /proc could not be read (then nothing below is set)
  double wall_s = 0;         // length of the measured interval
  int cpus = 0;              // CPUs this process may use
  double steal_cpus = 0;     // CPUs' worth of time the hypervisor gave to others
  double other_cpus = 0;     // CPUs' worth of time other processes (and the kernel for them) used
  double own_cpus = 0;       // CPUs' worth of time this process used
  // CPUs left for this process: cpus - steal - other. On an idle machine equal to cpus.
  double free_cpus() const { return cpus - steal_cpus - other_cpus; }
  // "1.02 of 2 CPUs free (steal 0.95, other processes 0.03), 1.01 used by flopslab".
  std::string describe() const;
  Json to_json() const;
  static CpuShare from_json(const Json& j);  // unknown when j lacks the fields
};

// Start it, run the measurement, call stop(). The counters tick at the kernel's USER_HZ
// (100 per second), so intervals shorter than about 0.2 s give coarse figures.
class CpuShareMeter {
 public:
  CpuShareMeter();
  CpuShare stop() const;

 private:
  struct Counters {
    bool ok = false;
    long long busy = 0, steal = 0, own = 0;  // clock ticks
    double wall = 0;                          // seconds, steady clock
    int cpus = 0;
  };
  static Counters read();
  Counters start_;
};

// Timing options for a measurement the meter watches: at least 0.3 s of samples, so that the
// 10 ms ticks resolve a lost CPU.
TimingOptions share_timing(TimingOptions options);

// Whether a measurement on `threads` busy threads had its CPUs: true when the share is unknown,
// or when at least 90% of min(threads, CPUs in the mask) were free over it and this process
// used at least 75% of them.
bool had_cpus_for(const CpuShare& share, int threads);

}  // namespace flopslab::bench
