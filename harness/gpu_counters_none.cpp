// The GPU's counters in a build without CUDA, or with a toolkit lacking CUPTI
// (harness/gpu_counters.cu otherwise): never available.
#include "harness/gpu_counters.h"

#ifndef FLOPSLAB_NO_GPU_COUNTERS
#define FLOPSLAB_NO_GPU_COUNTERS "this build has no CUDA"
#endif

namespace flopslab::bench {

struct GpuCounters::State {};

GpuCounters& GpuCounters::instance() {
  static GpuCounters counters;
  return counters;
}

GpuCounters::GpuCounters() : reason_(FLOPSLAB_NO_GPU_COUNTERS) {}
GpuCounters::~GpuCounters() = default;

std::optional<GpuDramBytes> GpuCounters::count(const std::function<void(void*)>&, void*, bool) { return std::nullopt; }

std::string gpu_counters_description() { return GpuCounters::instance().reason(); }

}  // namespace flopslab::bench
