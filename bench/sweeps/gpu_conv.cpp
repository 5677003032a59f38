// The GPU convolution sweep: the CUDA kernels and cuDNN timed with events.
#include "bench/sweeps/gpu_conv.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include <fmt/format.h>

#include "harness/check/conv_check.h"
#include "harness/files.h"
#include "bench/sweeps/gemm_sweep.h"
#include "harness/machine/gpu_runtime.h"
#include "harness/gpu_counters.h"
#include "harness/gpu_tools.h"
#include "kernels/cuda/conv/channel_shuffle_cuda.h"
#include "kernels/cuda/probes/gpu_probes.h"
#ifdef FLOPSLAB_HAVE_CUDNN
#include "kernels/cuda/conv/cudnn_conv.h"
#include "harness/format.h"
#endif

namespace flopslab::bench {
namespace {

// A problem's three tensors on the device, mirroring the host copy in ConvProblem.
struct DeviceConv {
  ConvProblem& host;
  DeviceBuffer x, w, y;
  explicit DeviceConv(ConvProblem& problem)
      : host(problem), x(problem.shape.x_size() * 4), w(problem.shape.w_size() * 4), y(problem.shape.y_size() * 4) {
    x.upload(host.x.data(), x.bytes());
    w.upload(host.w.data(), w.bytes());
    y.upload(host.y.data(), y.bytes());
  }
  conv::Operands operands() const { return {host.shape, x.as<float>(), w.as<float>(), y.as<float>()}; }
  std::vector<float>& host_output(conv::Pass pass) {
    return pass == conv::Pass::forward ? host.y : pass == conv::Pass::backward_data ? host.x : host.w;
  }
  DeviceBuffer& output(conv::Pass pass) {
    return pass == conv::Pass::forward ? y : pass == conv::Pass::backward_data ? x : w;
  }
  // The pass's output poisoned with NaN on both sides, so an element never written fails.
  void poison(conv::Pass pass) {
    host.poison(pass);
    output(pass).upload(host_output(pass).data(), output(pass).bytes());
  }
  void fetch(conv::Pass pass) { output(pass).download(host_output(pass).data(), output(pass).bytes()); }
};

double tensor_bytes(const conv::Shape& s) { return 4.0 * double(s.x_size() + s.w_size() + s.y_size()); }

}  // namespace

std::vector<const ConvVariant*> cuda_conv_variants() {
  std::vector<const ConvVariant*> v;
  for (const ConvVariant* c : conv_variants())
    if (c->device == Device::cuda) v.push_back(c);
  return v;
}

std::string gpu_conv_sweep_problem(const ConvSweepOptions& o) {
  if (!gpu_status().usable) return "no usable GPU: " + gpu_status().reason;
  for (const ConvLayer& l : o.layers)
    if (std::string p = conv::shape_problem(l.shape); !p.empty()) return "layer " + l.name + ": " + p;
  const GpuMemory memory = gpu_memory();
  for (const ConvLayer& l : o.layers)
    if (tensor_bytes(l.shape) > 0.8 * double(memory.free_bytes))
      return fmt::format("layer {} needs {} of GPU memory for its tensors but only {} is free; use a smaller batch",
                         l.name, format_bytes(tensor_bytes(l.shape)), format_bytes(double(memory.free_bytes)));
  return {};
}

ConvSweep run_gpu_conv_sweep(const ConvSweepOptions& o) {
  if (const std::string problem = gpu_conv_sweep_problem(o); !problem.empty()) throw std::runtime_error(problem);
  ConvSweep sweep;
  sweep.layers = o.layers;
  GpuStream stream;
  const std::int64_t l2 = gpu_status().devices.front().l2_bytes;
  std::map<std::pair<std::string_view, conv::Pass>, double> last_rate;  // FLOP/s seen so far
  const int total = int(o.layers.size() * o.passes.size() * o.variants.size());
  int done = 0;
  for (std::size_t li = 0; li < o.layers.size(); ++li) {
    const conv::Shape& shape = o.layers[li].shape;
    ConvProblem problem(shape, o.seed + li);
    DeviceConv device(problem);
    const conv::Operands op = device.operands();
    // Flush the L2 between timed calls when the tensors would otherwise stay in it.
    const bool flush = tensor_bytes(shape) < 2.0 * double(l2);
    for (conv::Pass pass : o.passes)
      for (const ConvVariant* v : o.variants) {
        ++done;
        ConvRow row{.variant = v, .layer = li, .pass = pass, .threads = 1};
        const ConvVariant::Pass run = v->pass(pass);
        const auto known = last_rate.find({v->name, pass});
        row.skipped = conv_skip_reason(*v, shape, pass, known == last_rate.end() ? 0 : known->second, o.max_call_seconds);
        if (!row.skipped.empty()) {
          sweep.rows.push_back(row);
          continue;
        }
        if (o.progress)
          o.progress(fmt::format("gpu conv {}/{}: {} {} {}", done, total, v->name, o.layers[li].name, conv::pass_name(pass)));
        device.poison(pass);
        run(op, RunContext{.stream = stream.get()});
        stream.synchronize();
        device.fetch(pass);
        row.check = check_conv(problem.operands(), pass, *v);
        const auto call = [&](void* s) { run(op, RunContext{.stream = s}); };
        row.timing = measure_gpu(call, stream.get(), o.timing, flush);
        // One more call under the GPU's DRAM counters, after the same flush: the measured intensity.
        if (const auto bytes = GpuCounters::instance().count(call, stream.get(), flush))
          row.counted = CounterValues{.dram_bytes = bytes->total()};
        device.fetch(pass);  // the host keeps mirroring the device (atomics may round differently per run)
        last_rate[{v->name, pass}] = conv::flop_count(shape) / row.timing->median;
        sweep.rows.push_back(row);
      }
  }
  sweep.counters = gpu_counters_description();
  return sweep;
}

#ifdef FLOPSLAB_HAVE_CUDNN
namespace {

CudnnAlgorithmRow algorithm_row(const conv::cudnn::Algorithm& a) {
  return {.name = a.name, .status = a.status, .math = a.math, .id = a.id, .milliseconds = a.milliseconds,
          .workspace_bytes = a.workspace_bytes, .deterministic = a.deterministic};
}

// Runs the algorithm `repeats` times on the same inputs; true when every output is the same
// bit for bit as the first.
bool reproducible(DeviceConv& device, conv::Pass pass, conv::cudnn::Precision precision,
                  const conv::cudnn::Algorithm& algorithm, int repeats, void* stream) {
  const conv::cudnn::Tensors tensors{device.host.shape, device.x.data(), device.w.data(), device.y.data()};
  DeviceBuffer& out = device.output(pass);
  std::vector<float> first(std::size_t(out.bytes() / 4)), again(first.size());
  bool same = true;
  for (int i = 0; i < repeats; ++i) {
    conv::cudnn::run(tensors, pass, precision, algorithm, stream);
    gpu_synchronize();
    out.download(i == 0 ? first.data() : again.data(), out.bytes());
    if (i > 0) same = same && std::memcmp(first.data(), again.data(), std::size_t(out.bytes())) == 0;
  }
  return same;
}

}  // namespace

CudnnStudy run_cudnn_study(const ConvLayer& layer, const TimingOptions& timing,
                           const std::function<void(const std::string&)>& progress) {
  using conv::cudnn::Precision;
  CudnnStudy study{.version = conv::cudnn::version(), .layer = layer};
  const conv::Shape& shape = layer.shape;
  ConvProblem problem(shape, 5);
  DeviceConv device(problem);
  GpuStream stream;
  constexpr int kRepeats = 5;
  for (conv::Pass pass : {conv::Pass::forward, conv::Pass::backward_data, conv::Pass::backward_weights}) {
    if (progress) progress(fmt::format("cuDNN study: cudnnFind for the {} pass of {}", conv::pass_name(pass), layer.name));
    CudnnPassStudy s{.pass = pass, .repeats = kRepeats};
    const std::vector<conv::cudnn::Algorithm> found = conv::cudnn::find_algorithms(shape, pass, Precision::fp32, stream.get());
    for (const conv::cudnn::Algorithm& a : found) s.found.push_back(algorithm_row(a));
    const std::vector<conv::cudnn::Algorithm> heuristic = conv::cudnn::heuristic_algorithms(shape, pass, Precision::fp32);
    if (!heuristic.empty()) s.heuristic_pick = heuristic.front().name;
    const conv::cudnn::Algorithm fastest = conv::cudnn::fastest_algorithm(shape, pass, Precision::fp32, false, stream.get());
    const conv::cudnn::Algorithm steady = conv::cudnn::fastest_algorithm(shape, pass, Precision::fp32, true, stream.get());
    s.fastest = fastest.name;
    s.fastest_deterministic = steady.name;
    s.fastest_reproducible = reproducible(device, pass, Precision::fp32, fastest, kRepeats, stream.get());
    s.deterministic_reproducible = reproducible(device, pass, Precision::fp32, steady, kRepeats, stream.get());
    study.passes.push_back(s);
  }

  // Forward at three precisions on the same inputs. FP16 runs on converted copies and its
  // output is converted back to FP32 for the check.
  DeviceBuffer x16(shape.x_size() * 2), w16(shape.w_size() * 2), y16(shape.y_size() * 2);
  // The backward runs above wrote dx and dw over x and w on the device; the host kept the inputs.
  device.x.upload(problem.x.data(), device.x.bytes());
  device.w.upload(problem.w.data(), device.w.bytes());
  probes::gpu::launch_to_fp16(device.x.as<float>(), x16.data(), shape.x_size(), stream.get());
  probes::gpu::launch_to_fp16(device.w.as<float>(), w16.data(), shape.w_size(), stream.get());
  for (Precision precision : {Precision::fp32, Precision::tf32, Precision::fp16}) {
    if (progress) progress(fmt::format("cuDNN study: {} forward", conv::cudnn::precision_name(precision)));
    const bool half = precision == Precision::fp16;
    const conv::cudnn::Tensors tensors = half ? conv::cudnn::Tensors{shape, x16.data(), w16.data(), y16.data()}
                                              : conv::cudnn::Tensors{shape, device.x.data(), device.w.data(), device.y.data()};
    const conv::cudnn::Algorithm a = conv::cudnn::fastest_algorithm(shape, conv::Pass::forward, precision, false, stream.get());
    CudnnPrecisionRow row{.precision = conv::cudnn::precision_name(precision), .algorithm = a.name + " (" + a.math + ")"};
    device.poison(conv::Pass::forward);
    conv::cudnn::run(tensors, conv::Pass::forward, precision, a, stream.get());
    if (half) probes::gpu::launch_from_fp16(y16.data(), device.y.as<float>(), shape.y_size(), stream.get());
    stream.synchronize();
    device.fetch(conv::Pass::forward);
    // TF32 and FP16 both keep 10 explicit mantissa bits: unit roundoff 2^-11 on each input.
    row.check = check_conv(problem.operands(), conv::Pass::forward, precision == Precision::fp32 ? 0 : 0x1p-11);
    row.timing = measure_gpu([&](void* s) { conv::cudnn::run(tensors, conv::Pass::forward, precision, a, s); },
                             stream.get(), timing);
    study.precisions.push_back(row);
  }
  return study;
}
#else
CudnnStudy run_cudnn_study(const ConvLayer& layer, const TimingOptions&, const std::function<void(const std::string&)>&) {
  return {.unavailable = "this build has no cuDNN (configure with -DCUDNN_ROOT=... where cudnn.h and libcudnn are)",
          .layer = layer};
}
#endif

ShuffleMeasurement measure_gpu_channel_shuffle(std::int64_t n, std::int64_t c, std::int64_t plane, std::int64_t groups,
                                               const TimingOptions& timing) {
  ShuffleMeasurement m{.n = n, .c = c, .plane = plane, .groups = groups, .threads = 0};
  const std::int64_t count = n * c * plane;
  std::vector<float> x(static_cast<std::size_t>(count)), y(static_cast<std::size_t>(count), -1.0f);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 1000003);
  DeviceBuffer dx(count * 4), dy(count * 4);
  dx.upload(x.data(), count * 4);
  GpuStream stream;
  conv::cuda::channel_shuffle(dx.as<float>(), dy.as<float>(), n, c, plane, groups, stream.get());
  stream.synchronize();
  dy.download(y.data(), count * 4);
  m.correct = is_channel_shuffle(x, y, n, c, plane, groups);
  m.shuffle = measure_gpu(
      [&](void* s) { conv::cuda::channel_shuffle(dx.as<float>(), dy.as<float>(), n, c, plane, groups, s); }, stream.get(),
      timing);
  m.copy = measure_gpu([&](void* s) { copy_async(dy.data(), dx.data(), count * 4, CopyKind::device_to_device, s); },
                       stream.get(), timing);
  return m;
}

}  // namespace flopslab::bench
