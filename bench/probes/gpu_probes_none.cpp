// The GPU probes and the bus in a build without CUDA (bench/probes/gpu_probes.cpp and pcie.cpp
// otherwise): the probe list leaves them out, and a call says why.
#include "bench/probes/probe.h"
#include "harness/machine/gpu_runtime.h"

namespace flopslab::bench {

ProbeReport run_gpu_flops_probe(const ProbeContext&) { no_gpu(); }
ProbeReport run_gpu_bandwidth_probe(const ProbeContext&) { no_gpu(); }
ProbeReport run_gpu_threads_probe(const ProbeContext&) { no_gpu(); }
ProbeReport run_gpu_divergence_probe(const ProbeContext&) { no_gpu(); }
ProbeReport run_gpu_launch_probe(const ProbeContext&) { no_gpu(); }
ProbeReport run_pcie_probe(const ProbeContext&) { no_gpu(); }

}  // namespace flopslab::bench
