// likwid-bench (Debian package "likwid") as the established peer for FMA throughput and
// STREAM-style bandwidth: run in the same process's lifetime, on the same machine, so its
// numbers and flopslab's can be compared directly.
#pragma once

#include <string>

namespace flopslab::bench {

struct LikwidResult {
  bool ran = false;
  std::string reason;   // why not, when !ran
  std::string command;  // what was run
  double gflops = 0;    // MFlops/s / 1000 for all threads together
  double gbytes_per_s = 0;
};

// The number after the last "<key>:" line of likwid-bench's output (it prints one block per
// thread and the total last), or 0 when there is none.
double likwid_value(const std::string& output, const std::string& key);

// True when likwid-bench is on PATH.
bool likwid_available();

// `likwid-bench -t TEST -W WORKGROUP`, e.g. ("peakflops_sp_avx_fma", "N:32kB:1").
LikwidResult run_likwid(const std::string& test, const std::string& workgroup);

}  // namespace flopslab::bench
