// The CPU-only build (no CUDA toolkit at configure time). gpu_status() reports why there is no
// GPU, and every caller checks it before reaching these; if one does not, it gets the reason.
#include <stdexcept>

#include "bench/demo_bus.h"
#include "bench/gpu/gpu_conv.h"
#include "bench/gpu/gpu_gemm.h"
#include "bench/gpu/gpu_runtime.h"
#include "bench/gpu/gpu_tools.h"
#include "bench/probe.h"

namespace flopslab::bench {
namespace {
[[noreturn]] void no_cuda() { throw std::runtime_error(gpu_status().reason); }
}  // namespace

ProbeReport run_gpu_flops_probe(const ProbeContext&) { no_cuda(); }
ProbeReport run_gpu_bandwidth_probe(const ProbeContext&) { no_cuda(); }
ProbeReport run_gpu_threads_probe(const ProbeContext&) { no_cuda(); }
ProbeReport run_gpu_divergence_probe(const ProbeContext&) { no_cuda(); }
ProbeReport run_gpu_launch_probe(const ProbeContext&) { no_cuda(); }
ProbeReport run_pcie_probe(const ProbeContext&) { no_cuda(); }

std::vector<Contestant> bus_contestants(std::int64_t) { no_cuda(); }
GpuMemory gpu_memory() { return {}; }

std::vector<const GemmVariant*> cuda_gemm_variants() { return {}; }
GemmSweepOptions default_gpu_gemm_sweep(bool) { return {}; }
std::string gpu_gemm_sweep_problem(const GemmSweepOptions&) { return "no usable GPU: " + gpu_status().reason; }
GemmSweep run_gpu_gemm_sweep(const GemmSweepOptions&) { no_cuda(); }

std::vector<const ConvVariant*> cuda_conv_variants() { return {}; }
std::string gpu_conv_sweep_problem(const ConvSweepOptions&) { return "no usable GPU: " + gpu_status().reason; }
ConvSweep run_gpu_conv_sweep(const ConvSweepOptions&) { no_cuda(); }
CudnnStudy run_cudnn_study(const ConvLayer&, const TimingOptions&, const std::function<void(const std::string&)>&) {
  no_cuda();
}
ShuffleMeasurement measure_gpu_channel_shuffle(std::int64_t, std::int64_t, std::int64_t, std::int64_t,
                                               const TimingOptions&) {
  no_cuda();
}

}  // namespace flopslab::bench
