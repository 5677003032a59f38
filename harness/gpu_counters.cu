// DRAM bytes of one GPU call through CUPTI's range profiler (see gpu_counters.h). The sequence:
// once, the host side builds a configuration image for the two metrics on this chip; then for
// each call, the profiler is enabled on the context, one user range is pushed around the call,
// replayed by us (user replay) until every pass the configuration needs has run, decoded, and
// the two metrics evaluated for that range.
#include "harness/gpu_counters.h"

#include <cuda.h>
#include <cuda_runtime.h>
#include <cupti_profiler_host.h>
#include <cupti_profiler_target.h>
#include <cupti_range_profiler.h>
#include <cupti_result.h>
#include <cupti_target.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "harness/gpu_tools.h"
#include "harness/machine/gpu_runtime.h"
#include "kernels/cuda/probes/gpu_probes.h"
#include "kernels/shared_library.h"

#ifndef FLOPSLAB_CUPTI_LIBRARY
#define FLOPSLAB_CUPTI_LIBRARY ""
#endif

namespace flopslab::bench {
namespace {

const char* const kMetrics[] = {"dram__bytes_read.sum", "dram__bytes_write.sum"};
constexpr std::size_t kMetricCount = 2;
constexpr int kMaxPasses = 16;  // two DRAM metrics take one pass; more means something is wrong

// The CUPTI functions used, looked up in the library opened at run time.
struct Cupti {
  decltype(cuptiGetResultString)* result_string = nullptr;
  decltype(cuptiProfilerInitialize)* initialize = nullptr;
  decltype(cuptiDeviceGetChipName)* chip_name = nullptr;
  decltype(cuptiProfilerGetCounterAvailability)* counter_availability = nullptr;
  decltype(cuptiProfilerHostInitialize)* host_initialize = nullptr;
  decltype(cuptiProfilerHostConfigAddMetrics)* host_add_metrics = nullptr;
  decltype(cuptiProfilerHostGetConfigImageSize)* host_config_size = nullptr;
  decltype(cuptiProfilerHostGetConfigImage)* host_config_image = nullptr;
  decltype(cuptiProfilerHostGetNumOfPasses)* host_passes = nullptr;
  decltype(cuptiProfilerHostEvaluateToGpuValues)* host_evaluate = nullptr;
  decltype(cuptiRangeProfilerEnable)* enable = nullptr;
  decltype(cuptiRangeProfilerDisable)* disable = nullptr;
  decltype(cuptiRangeProfilerGetCounterDataSize)* counter_data_size = nullptr;
  decltype(cuptiRangeProfilerCounterDataImageInitialize)* counter_data_initialize = nullptr;
  decltype(cuptiRangeProfilerSetConfig)* set_config = nullptr;
  decltype(cuptiRangeProfilerStart)* start = nullptr;
  decltype(cuptiRangeProfilerStop)* stop = nullptr;
  decltype(cuptiRangeProfilerPushRange)* push_range = nullptr;
  decltype(cuptiRangeProfilerPopRange)* pop_range = nullptr;
  decltype(cuptiRangeProfilerDecodeData)* decode = nullptr;
  decltype(cuptiRangeProfilerGetCounterDataInfo)* counter_data_info = nullptr;

  void bind(SharedLibrary& lib) {
    lib.bind(result_string, "cuptiGetResultString");
    lib.bind(initialize, "cuptiProfilerInitialize");
    lib.bind(chip_name, "cuptiDeviceGetChipName");
    lib.bind(counter_availability, "cuptiProfilerGetCounterAvailability");
    lib.bind(host_initialize, "cuptiProfilerHostInitialize");
    lib.bind(host_add_metrics, "cuptiProfilerHostConfigAddMetrics");
    lib.bind(host_config_size, "cuptiProfilerHostGetConfigImageSize");
    lib.bind(host_config_image, "cuptiProfilerHostGetConfigImage");
    lib.bind(host_passes, "cuptiProfilerHostGetNumOfPasses");
    lib.bind(host_evaluate, "cuptiProfilerHostEvaluateToGpuValues");
    lib.bind(enable, "cuptiRangeProfilerEnable");
    lib.bind(disable, "cuptiRangeProfilerDisable");
    lib.bind(counter_data_size, "cuptiRangeProfilerGetCounterDataSize");
    lib.bind(counter_data_initialize, "cuptiRangeProfilerCounterDataImageInitialize");
    lib.bind(set_config, "cuptiRangeProfilerSetConfig");
    lib.bind(start, "cuptiRangeProfilerStart");
    lib.bind(stop, "cuptiRangeProfilerStop");
    lib.bind(push_range, "cuptiRangeProfilerPushRange");
    lib.bind(pop_range, "cuptiRangeProfilerPopRange");
    lib.bind(decode, "cuptiRangeProfilerDecodeData");
    lib.bind(counter_data_info, "cuptiRangeProfilerGetCounterDataInfo");
  }

  void check(CUptiResult result, const char* what) const {
    if (result == CUPTI_SUCCESS) return;
    if (result == CUPTI_ERROR_INSUFFICIENT_PRIVILEGES)
      throw std::runtime_error(std::string(what) +
                               ": the driver keeps the GPU's counters to administrators (run as root, or load the "
                               "nvidia module with NVreg_RestrictProfilingToAdminUsers=0)");
    const char* text = nullptr;
    if (result_string != nullptr) result_string(result, &text);
    throw std::runtime_error(std::string(what) + ": " + (text != nullptr ? text : "CUPTI error " + std::to_string(int(result))));
  }
};

// Where libcupti may be: the loader's path, then the toolkit this binary was built with, then the
// toolkit's usual places.
std::unique_ptr<SharedLibrary> open_cupti(std::string& why) {
  std::vector<std::string> candidates{"libcupti.so.13", "libcupti.so.12", "libcupti.so"};
  if (*FLOPSLAB_CUPTI_LIBRARY) candidates.emplace_back(FLOPSLAB_CUPTI_LIBRARY);
  for (const char* env : {"CUDA_HOME", "CUDA_PATH"})
    if (const char* root = std::getenv(env); root != nullptr && *root)
      for (const char* sub : {"/extras/CUPTI/lib64/libcupti.so", "/lib64/libcupti.so", "/lib/libcupti.so"})
        candidates.push_back(std::string(root) + sub);
  for (const char* path : {"/usr/local/cuda/extras/CUPTI/lib64/libcupti.so", "/usr/local/cuda/lib64/libcupti.so"})
    candidates.emplace_back(path);
  for (const std::string& c : candidates)
    if (auto lib = std::make_unique<SharedLibrary>(c.c_str()); lib->loaded()) return lib;
  why = "CUPTI (libcupti.so, part of the CUDA toolkit) was not found; set CUDA_HOME to the toolkit";
  return nullptr;
}

// A parameter block with its size set as CUPTI's headers define it (the last field's end, not
// sizeof) and every other field zero.
#define FLOPSLAB_CUPTI_PARAMS(type) type{type##_STRUCT_SIZE}
// A range-profiler call whose parameters are the profiler object alone.
#define FLOPSLAB_PROFILER_CALL(type, function, name)     \
  do {                                                   \
    auto params = FLOPSLAB_CUPTI_PARAMS(type);           \
    params.pRangeProfilerObject = profiler;              \
    c.check(c.function(&params), name);                  \
  } while (false)

}  // namespace

struct GpuCounters::State {
  std::unique_ptr<SharedLibrary> library;  // never closed (SharedLibrary), held for its functions
  Cupti cupti;
  CUpti_Profiler_Host_Object* host = nullptr;
  std::vector<std::uint8_t> config;
  CUcontext context = nullptr;
  std::int64_t flush_bytes = 0;
};

GpuCounters& GpuCounters::instance() {
  static GpuCounters counters;
  return counters;
}

GpuCounters::~GpuCounters() = default;

GpuCounters::GpuCounters() {
  if (!gpu_status().usable) {
    reason_ = "no usable GPU: " + gpu_status().reason;
    return;
  }
  auto s = std::make_unique<State>();
  s->library = open_cupti(reason_);
  if (!s->library) return;
  s->cupti.bind(*s->library);
  if (!s->library->first_missing().empty()) {
    reason_ = "this CUPTI has no " + s->library->first_missing() + " (the range profiler needs CUDA 12.6 or later)";
    return;
  }
  // The primary context the runtime made current; the profiler attaches to it.
  static SharedLibrary driver("libcuda.so.1");
  CUresult (*current_context)(CUcontext*) = nullptr;
  driver.bind(current_context, "cuCtxGetCurrent");
  int device = 0;
  if (current_context == nullptr || cudaGetDevice(&device) != cudaSuccess || cudaFree(nullptr) != cudaSuccess ||
      current_context(&s->context) != CUDA_SUCCESS || s->context == nullptr) {
    reason_ = "no CUDA context to attach the counters to";
    return;
  }
  const Cupti& c = s->cupti;
  try {
    auto init = FLOPSLAB_CUPTI_PARAMS(CUpti_Profiler_Initialize_Params);
    c.check(c.initialize(&init), "cuptiProfilerInitialize");
    auto chip = FLOPSLAB_CUPTI_PARAMS(CUpti_Device_GetChipName_Params);
    chip.deviceIndex = std::size_t(device);
    c.check(c.chip_name(&chip), "cuptiDeviceGetChipName");
    auto availability = FLOPSLAB_CUPTI_PARAMS(CUpti_Profiler_GetCounterAvailability_Params);
    availability.ctx = s->context;
    c.check(c.counter_availability(&availability), "cuptiProfilerGetCounterAvailability");
    std::vector<std::uint8_t> available(availability.counterAvailabilityImageSize);
    availability.pCounterAvailabilityImage = available.data();
    c.check(c.counter_availability(&availability), "cuptiProfilerGetCounterAvailability");

    auto host = FLOPSLAB_CUPTI_PARAMS(CUpti_Profiler_Host_Initialize_Params);
    host.profilerType = CUPTI_PROFILER_TYPE_RANGE_PROFILER;
    host.pChipName = chip.pChipName;
    host.pCounterAvailabilityImage = available.data();
    c.check(c.host_initialize(&host), "cuptiProfilerHostInitialize");
    s->host = host.pHostObject;
    const char* names[kMetricCount] = {kMetrics[0], kMetrics[1]};
    auto add = FLOPSLAB_CUPTI_PARAMS(CUpti_Profiler_Host_ConfigAddMetrics_Params);
    add.pHostObject = s->host;
    add.ppMetricNames = names;
    add.numMetrics = kMetricCount;
    c.check(c.host_add_metrics(&add), "cuptiProfilerHostConfigAddMetrics (dram__bytes_read.sum, dram__bytes_write.sum)");
    auto size = FLOPSLAB_CUPTI_PARAMS(CUpti_Profiler_Host_GetConfigImageSize_Params);
    size.pHostObject = s->host;
    c.check(c.host_config_size(&size), "cuptiProfilerHostGetConfigImageSize");
    s->config.resize(size.configImageSize);
    auto image = FLOPSLAB_CUPTI_PARAMS(CUpti_Profiler_Host_GetConfigImage_Params);
    image.pHostObject = s->host;
    image.configImageSize = s->config.size();
    image.pConfigImage = s->config.data();
    c.check(c.host_config_image(&image), "cuptiProfilerHostGetConfigImage");
  } catch (const std::exception& e) {
    reason_ = std::string("GPU counters unavailable (") + e.what() + ")";
    return;
  }
  s->flush_bytes = std::max<std::int64_t>(2 * gpu_status().devices.front().l2_bytes, 8 << 20);
  state_ = std::move(s);
}

std::optional<GpuDramBytes> GpuCounters::count(const std::function<void(void*)>& launch, void* stream, bool flush_l2) {
  if (!state_) return std::nullopt;
  const Cupti& c = state_->cupti;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  auto sync = [&] {
    if (cudaStreamSynchronize(s) != cudaSuccess) throw std::runtime_error("cudaStreamSynchronize failed while counting");
  };
  CUpti_RangeProfiler_Object* profiler = nullptr;
  try {
    DeviceBuffer scrub(flush_l2 ? state_->flush_bytes : 0);
    sync();
    auto enable = FLOPSLAB_CUPTI_PARAMS(CUpti_RangeProfiler_Enable_Params);
    enable.ctx = state_->context;
    c.check(c.enable(&enable), "cuptiRangeProfilerEnable");
    profiler = enable.pRangeProfilerObject;

    const char* names[kMetricCount] = {kMetrics[0], kMetrics[1]};
    auto data_size = FLOPSLAB_CUPTI_PARAMS(CUpti_RangeProfiler_GetCounterDataSize_Params);
    data_size.pRangeProfilerObject = profiler;
    data_size.pMetricNames = names;
    data_size.numMetrics = kMetricCount;
    data_size.maxNumOfRanges = 1;
    data_size.maxNumRangeTreeNodes = 1;
    c.check(c.counter_data_size(&data_size), "cuptiRangeProfilerGetCounterDataSize");
    std::vector<std::uint8_t> data(data_size.counterDataSize);
    auto data_init = FLOPSLAB_CUPTI_PARAMS(CUpti_RangeProfiler_CounterDataImage_Initialize_Params);
    data_init.pRangeProfilerObject = profiler;
    data_init.counterDataSize = data.size();
    data_init.pCounterData = data.data();
    c.check(c.counter_data_initialize(&data_init), "cuptiRangeProfilerCounterDataImageInitialize");

    auto config = FLOPSLAB_CUPTI_PARAMS(CUpti_RangeProfiler_SetConfig_Params);
    config.pRangeProfilerObject = profiler;
    config.configSize = state_->config.size();
    config.pConfig = state_->config.data();
    config.counterDataImageSize = data.size();
    config.pCounterDataImage = data.data();
    config.range = CUPTI_UserRange;        // the range is the call, however many kernels it launches
    config.replayMode = CUPTI_UserReplay;  // we run the call again for each pass
    config.maxRangesPerPass = 1;
    config.numNestingLevels = 1;
    config.minNestingLevel = 1;
    config.passIndex = 0;
    config.targetNestingLevel = 1;
    c.check(c.set_config(&config), "cuptiRangeProfilerSetConfig");

    bool all_passes = false;
    for (int pass = 0; !all_passes; ++pass) {
      if (pass == kMaxPasses) throw std::runtime_error("the two DRAM metrics needed more than 16 passes");
      if (flush_l2) probes::gpu::launch_scrub(scrub.data(), scrub.bytes(), stream);
      sync();
      FLOPSLAB_PROFILER_CALL(CUpti_RangeProfiler_Start_Params, start, "cuptiRangeProfilerStart");
      auto push = FLOPSLAB_CUPTI_PARAMS(CUpti_RangeProfiler_PushRange_Params);
      push.pRangeProfilerObject = profiler;
      push.pRangeName = "call";
      c.check(c.push_range(&push), "cuptiRangeProfilerPushRange");
      launch(stream);
      sync();
      FLOPSLAB_PROFILER_CALL(CUpti_RangeProfiler_PopRange_Params, pop_range, "cuptiRangeProfilerPopRange");
      auto stop = FLOPSLAB_CUPTI_PARAMS(CUpti_RangeProfiler_Stop_Params);
      stop.pRangeProfilerObject = profiler;
      c.check(c.stop(&stop), "cuptiRangeProfilerStop");
      all_passes = stop.isAllPassSubmitted != 0;
    }
    FLOPSLAB_PROFILER_CALL(CUpti_RangeProfiler_DecodeData_Params, decode, "cuptiRangeProfilerDecodeData");
    auto info = FLOPSLAB_CUPTI_PARAMS(CUpti_RangeProfiler_GetCounterDataInfo_Params);
    info.pCounterDataImage = data.data();
    info.counterDataImageSize = data.size();
    c.check(c.counter_data_info(&info), "cuptiRangeProfilerGetCounterDataInfo");
    if (info.numTotalRanges < 1) throw std::runtime_error("the profiler recorded no range for the call");
    double values[kMetricCount] = {};
    auto evaluate = FLOPSLAB_CUPTI_PARAMS(CUpti_Profiler_Host_EvaluateToGpuValues_Params);
    evaluate.pHostObject = state_->host;
    evaluate.pCounterDataImage = data.data();
    evaluate.counterDataImageSize = data.size();
    evaluate.rangeIndex = 0;
    evaluate.ppMetricNames = names;
    evaluate.numMetrics = kMetricCount;
    evaluate.pMetricValues = values;
    c.check(c.host_evaluate(&evaluate), "cuptiProfilerHostEvaluateToGpuValues");
    FLOPSLAB_PROFILER_CALL(CUpti_RangeProfiler_Disable_Params, disable, "cuptiRangeProfilerDisable");
    return GpuDramBytes{.read = values[0], .written = values[1]};
  } catch (const std::exception& e) {
    if (profiler != nullptr) {
      auto disable = FLOPSLAB_CUPTI_PARAMS(CUpti_RangeProfiler_Disable_Params);
      disable.pRangeProfilerObject = profiler;
      c.disable(&disable);
    }
    reason_ = std::string("GPU counters failed while counting (") + e.what() + ")";
    state_.reset();
    return std::nullopt;
  }
}

std::string gpu_counters_description() {
  const GpuCounters& counters = GpuCounters::instance();
  return counters.available() ? "CUPTI range profiler (dram__bytes_read.sum + dram__bytes_write.sum)" : counters.reason();
}

}  // namespace flopslab::bench
