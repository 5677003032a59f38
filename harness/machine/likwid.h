// likwid-bench (Debian package "likwid") as the established peer for FMA throughput and
// STREAM-style bandwidth: run in the same process's lifetime, on the same machine, so its
// numbers and flopslab's can be compared directly.
#pragma once

#include <string>
#include <vector>

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

// The hardware thread each of likwid-bench's threads ran on, in order, from its "Group: G
// Thread T ... running on hwthread H" lines.
std::vector<int> likwid_hwthreads(const std::string& output);

// True when likwid-bench is on PATH.
bool likwid_available();
// Why there is no likwid-bench here, in a form a user can act on: Debian packages it for
// x86-64 only, so on aarch64 the answer is a build from source, not apt.
std::string likwid_missing_reason();

// `likwid-bench -t TEST -W WORKGROUP`, e.g. ("peakflops_sp_avx_fma", "N:32kB:1"), whose
// workgroup asks for `threads` threads. A run whose threads did not land on that many distinct
// hardware threads (likwid's own reading of a VM's topology can differ from hwloc's) does not
// count: ran is false and the reason says where they ran, so no row sets flopslab on N threads
// against likwid on fewer.
LikwidResult run_likwid(const std::string& test, const std::string& workgroup, int threads);

}  // namespace flopslab::bench
