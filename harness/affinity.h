// Which CPU each measuring thread runs on. Peak and scaling measurements pin thread i to the
// i-th CPU of cpu_order(): one hardware thread of every core first, then the SMT siblings, so
// "2 threads" means two cores, never two hyperthreads of one core.
#pragma once

#include <vector>

namespace flopslab::bench {

// OS CPU numbers this process may use, ordered: first PU of each core, then second PUs, ...
// Falls back to the allowed CPUs in numeric order when hwloc cannot tell cores apart.
const std::vector<int>& cpu_order();

// Lets the calling thread run on every CPU this process may use again. Threads it starts and
// programs it runs inherit its mask: a pinned main thread would put a child process's threads
// (the PyTorch twin's) or a data-loader worker all on one CPU.
void unpin_current_thread();

// The calling thread and every thread of OpenMP's pool may run on every CPU again: the state
// a fresh process starts in (the course runs each lesson from it).
void unpin_all();

// Starts a team of `threads` and pins each; OpenMP reuses the same pinned threads for the next
// parallel regions of that size, so the timed regions pay nothing for it.
void pin_team(int threads);

}  // namespace flopslab::bench
