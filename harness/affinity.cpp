// Pinning measuring threads to CPUs, one per physical core first, through sched_setaffinity.
#include "harness/affinity.h"

#include <hwloc.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>

#include <algorithm>

namespace flopslab::bench {
namespace {

std::vector<int> allowed_cpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0)
    for (int c = 0; c < CPU_SETSIZE; ++c)
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
  return cpus;
}

std::vector<int> compute_order() {
  const std::vector<int> allowed = allowed_cpus();
  std::vector<int> order;
  hwloc_topology_t topo = nullptr;
  if (hwloc_topology_init(&topo) == 0 && hwloc_topology_load(topo) == 0) {
    const int cores = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    // Round r takes the r-th PU of every core; within a round the most performant kind of core
    // comes first (hwloc numbers its CPU kinds from the most efficient to the most performant),
    // so on big.LITTLE (a Rockchip board, an Apple M1, a phone SoC, Intel's P and E cores) one
    // thread runs on a big core, not on CPU 0, which is often a little one.
    struct Place {
      int round, kind, os;
    };
    std::vector<Place> places;
    for (int round = 0; cores > 0; ++round) {
      bool any = false;
      for (int c = 0; c < cores; ++c) {
        hwloc_obj_t core = hwloc_get_obj_by_type(topo, HWLOC_OBJ_CORE, c);
        hwloc_obj_t pu = hwloc_get_obj_inside_cpuset_by_type(topo, core->cpuset, HWLOC_OBJ_PU, round);
        if (pu == nullptr) continue;
        any = true;
        const int os = static_cast<int>(pu->os_index);
        if (std::find(allowed.begin(), allowed.end(), os) != allowed.end())
          places.push_back({round, std::max(0, hwloc_cpukinds_get_by_cpuset(topo, pu->cpuset, 0)), os});
      }
      if (!any) break;
    }
    std::stable_sort(places.begin(), places.end(), [](const Place& a, const Place& b) {
      return a.round != b.round ? a.round < b.round : a.kind > b.kind;
    });
    for (const Place& p : places) order.push_back(p.os);
  }
  if (topo != nullptr) hwloc_topology_destroy(topo);
  if (order.empty()) order = allowed;
  if (order.empty()) order.push_back(0);
  return order;
}

}  // namespace

const std::vector<int>& cpu_order() {
  static const std::vector<int> order = compute_order();
  return order;
}

// Pins the calling thread to one CPU; returns false (and leaves it unpinned) on failure.
static bool pin_current_thread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

void unpin_current_thread() {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpu_order()) CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

// Pins thread `thread_index` of an OpenMP team to cpu_order()[thread_index], wrapping around
// when there are more threads than CPUs. Called inside the parallel region.
static void pin_omp_thread(int thread_index) {
  const std::vector<int>& order = cpu_order();
  pin_current_thread(order[static_cast<std::size_t>(thread_index) % order.size()]);
}

}  // namespace flopslab::bench

namespace flopslab::bench {

void pin_team(int threads) {
#pragma omp parallel num_threads(threads)
  pin_omp_thread(omp_get_thread_num());
}

void unpin_all() {
  unpin_current_thread();
  // OpenMP keeps its pool: threads pinned by an earlier pin_team (or all onto one CPU, by a
  // probe that shares a core on purpose) would keep their CPUs in every later region.
#pragma omp parallel num_threads(std::max(omp_get_max_threads(), int(cpu_order().size())))
  unpin_current_thread();
}

}  // namespace flopslab::bench
