// Measuring the FMA ceiling per instruction set on one thread and on all cores.
#include "harness/machine/cpu_peak.h"

#include "harness/affinity.h"

#include <omp.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace flopslab::bench {

PeakMeasurement measure_fma_peak(const probes::FmaLoop& loop, int threads,
                                 const TimingOptions& options) {
  if (!loop.supported()) throw std::runtime_error(std::string("this CPU cannot run ") + loop.name);
  constexpr std::int64_t kIterations = 1 << 20;  // a few milliseconds per call
  std::vector<double> sink(static_cast<std::size_t>(threads) * 8);  // one cache line per thread

  PeakMeasurement m;
  m.loop = &loop;
  m.threads = threads;
  m.flops_per_call = loop.flops_per_iteration() * double(kIterations) * threads;
  int team_size = threads;
  pin_team(threads);  // once, outside the timed calls (see affinity.h)
  m.timing = measure(
      [&] {
#pragma omp parallel num_threads(threads)
        {
          if (omp_get_thread_num() == 0) team_size = omp_get_num_threads();
          sink[static_cast<std::size_t>(omp_get_thread_num()) * 8] += loop.run(kIterations);
        }
      },
      options);
  if (team_size != threads)  // e.g. OMP_THREAD_LIMIT: the FLOP count would be wrong
    throw std::runtime_error("OpenMP ran " + std::to_string(team_size) + " threads instead of " +
                             std::to_string(threads) + " (check OMP_THREAD_LIMIT / OMP_DYNAMIC)");
  return m;
}

}  // namespace flopslab::bench
