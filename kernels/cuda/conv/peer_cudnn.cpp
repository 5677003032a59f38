// Peers: cuDNN's convolution in true FP32 (CUDNN_FMA_MATH), both its fastest algorithm as
// cudnnFind measures it ("benchmark mode") and its IMPLICIT_GEMM forward algorithm (the
// like-for-like rival of our implicit GEMM); and, for context, cuDNN with TF32 tensor cores.
// The three passes map to cuDNN's calls as
//   forward           cudnnConvolutionForward        (x, w -> y)
//   backward_data     cudnnConvolutionBackwardData   (w, dy -> dx)
//   backward_weights  cudnnConvolutionBackwardFilter (x, dy -> dw)
#include <cuda_runtime.h>
#include <cudnn.h>

#include <map>
#include <memory>
#include <stdexcept>
#include <string>

#include "kernels/cuda/conv/conv_cuda.h"
#include "kernels/cuda/conv/cudnn_conv.h"
#include "kernels/cuda/workspace.h"

namespace flopslab::conv::cudnn {
namespace {

void check(cudnnStatus_t status, const char* call) {
  if (status != CUDNN_STATUS_SUCCESS) throw std::runtime_error(std::string(call) + " failed: " + cudnnGetErrorString(status));
}
#define FLOPSLAB_CUDNN_CHECK(call) check((call), #call)

struct Handle {
  cudnnHandle_t h = nullptr;
  Handle() { FLOPSLAB_CUDNN_CHECK(cudnnCreate(&h)); }
  ~Handle() { cudnnDestroy(h); }
};
cudnnHandle_t handle(void* stream) {
  static Handle handle;
  FLOPSLAB_CUDNN_CHECK(cudnnSetStream(handle.h, static_cast<cudaStream_t>(stream)));
  return handle.h;
}

cudnnDataType_t data_type(Precision p) { return p == Precision::fp16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT; }
// FMA math rules out TF32; the default math lets FP32 data use TF32 tensor cores on Ampere
// and later; FP16 data uses tensor ops.
cudnnMathType_t math_type(Precision p) {
  return p == Precision::fp32 ? CUDNN_FMA_MATH : p == Precision::tf32 ? CUDNN_DEFAULT_MATH : CUDNN_TENSOR_OP_MATH;
}
const char* math_name(cudnnMathType_t m) {
  switch (m) {
    case CUDNN_FMA_MATH: return "FMA";
    case CUDNN_TENSOR_OP_MATH: return "tensor ops";
    case CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION: return "tensor ops with conversion";
    default: return "default";
  }
}

const char* algorithm_name(Pass pass, int id) {
  static const char* const forward[] = {"IMPLICIT_GEMM", "IMPLICIT_PRECOMP_GEMM", "GEMM", "DIRECT",
                                        "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* const data[] = {"ALGO_0", "ALGO_1", "FFT", "FFT_TILING", "WINOGRAD", "WINOGRAD_NONFUSED"};
  static const char* const filter[] = {"ALGO_0", "ALGO_1", "FFT", "ALGO_3", "WINOGRAD", "WINOGRAD_NONFUSED", "FFT_TILING"};
  if (pass == Pass::forward) return id >= 0 && id < 8 ? forward[id] : "unknown";
  if (pass == Pass::backward_data) return id >= 0 && id < 6 ? data[id] : "unknown";
  return id >= 0 && id < 7 ? filter[id] : "unknown";
}
// cuDNN's documentation: these use atomics, so their sums come out in a varying order.
bool deterministic_by_design(Pass pass, int id) {
  if (pass == Pass::backward_data) return id != CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
  if (pass == Pass::backward_weights)
    return id != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 && id != CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3;
  return true;
}
int algorithm_count(Pass pass) {
  return pass == Pass::forward ? int(CUDNN_CONVOLUTION_FWD_ALGO_COUNT)
         : pass == Pass::backward_data ? int(CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT)
                                       : int(CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT);
}

// The four descriptors of one shape and precision, made once and kept.
struct Descriptors {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;

  Descriptors(const Shape& s, Precision precision) {
    const cudnnDataType_t type = data_type(precision);
    FLOPSLAB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&x));
    FLOPSLAB_CUDNN_CHECK(cudnnCreateTensorDescriptor(&y));
    FLOPSLAB_CUDNN_CHECK(cudnnCreateFilterDescriptor(&w));
    FLOPSLAB_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&conv));
    FLOPSLAB_CUDNN_CHECK(cudnnSetTensor4dDescriptor(x, CUDNN_TENSOR_NCHW, type, int(s.n), int(s.c), int(s.h), int(s.w)));
    FLOPSLAB_CUDNN_CHECK(cudnnSetFilter4dDescriptor(w, type, CUDNN_TENSOR_NCHW, int(s.k), int(s.c_per_group()), int(s.r), int(s.s)));
    // FP32 accumulation for every precision (FP16 data with FP32 sums: cuDNN's "pseudo half").
    FLOPSLAB_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(conv, int(s.pad_h), int(s.pad_w), int(s.stride_h), int(s.stride_w),
                                                         int(s.dilation_h), int(s.dilation_w), CUDNN_CROSS_CORRELATION,
                                                         CUDNN_DATA_FLOAT));
    FLOPSLAB_CUDNN_CHECK(cudnnSetConvolutionGroupCount(conv, int(s.groups)));
    FLOPSLAB_CUDNN_CHECK(cudnnSetConvolutionMathType(conv, math_type(precision)));
    int n = 0, k = 0, p = 0, q = 0;
    FLOPSLAB_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(conv, x, w, &n, &k, &p, &q));
    if (n != s.n || k != s.k || p != s.p() || q != s.q())
      throw std::logic_error("cuDNN's output shape differs from conv::Shape's for " + describe(s));
    FLOPSLAB_CUDNN_CHECK(cudnnSetTensor4dDescriptor(y, CUDNN_TENSOR_NCHW, type, n, k, p, q));
  }
  ~Descriptors() {
    cudnnDestroyConvolutionDescriptor(conv);
    cudnnDestroyFilterDescriptor(w);
    cudnnDestroyTensorDescriptor(y);
    cudnnDestroyTensorDescriptor(x);
  }
  Descriptors(const Descriptors&) = delete;
  Descriptors& operator=(const Descriptors&) = delete;
};

std::string key(const Shape& s, Precision precision) {
  std::string out = precision_name(precision);
  for (std::int64_t v : {s.n, s.c, s.h, s.w, s.k, s.r, s.s, s.stride_h, s.stride_w, s.pad_h, s.pad_w, s.dilation_h,
                         s.dilation_w, s.groups})
    out.append(",").append(std::to_string(v));
  return out;
}

Descriptors& descriptors(const Shape& s, Precision precision) {
  static std::map<std::string, std::unique_ptr<Descriptors>> cache;
  std::unique_ptr<Descriptors>& d = cache[key(s, precision)];
  if (!d) d = std::make_unique<Descriptors>(s, precision);
  return *d;
}

template <class Perf>
Algorithm to_algorithm(const Perf& perf, Pass pass) {
  Algorithm a;
  a.id = int(perf.algo);
  a.name = algorithm_name(pass, a.id);
  a.status = perf.status == CUDNN_STATUS_SUCCESS ? "ok" : cudnnGetErrorString(perf.status);
  a.milliseconds = perf.time;
  a.workspace_bytes = std::int64_t(perf.memory);
  a.deterministic = perf.determinism == CUDNN_DETERMINISTIC;
  a.math = math_name(perf.mathType);
  return a;
}

// One call per pass to a find or heuristic function of cuDNN with the pass's perf struct.
template <class Forward, class Data, class Filter>
std::vector<Algorithm> list_algorithms(const Shape& shape, Pass pass, Precision precision, void* stream,
                                       Forward forward, Data data, Filter filter) {
  Descriptors& d = descriptors(shape, precision);
  cudnnHandle_t h = handle(stream);
  std::vector<Algorithm> out;
  int returned = 0;
  auto collect = [&](const auto& perfs) {
    for (int i = 0; i < returned; ++i) out.push_back(to_algorithm(perfs[i], pass));
  };
  if (pass == Pass::forward) {
    cudnnConvolutionFwdAlgoPerf_t perfs[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    check(forward(h, d.x, d.w, d.conv, d.y, algorithm_count(pass), &returned, perfs), "cuDNN forward algorithm search");
    collect(perfs);
  } else if (pass == Pass::backward_data) {
    cudnnConvolutionBwdDataAlgoPerf_t perfs[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    check(data(h, d.w, d.y, d.conv, d.x, algorithm_count(pass), &returned, perfs), "cuDNN backward-data algorithm search");
    collect(perfs);
  } else {
    cudnnConvolutionBwdFilterAlgoPerf_t perfs[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    check(filter(h, d.x, d.y, d.conv, d.w, algorithm_count(pass), &returned, perfs),
          "cuDNN backward-filter algorithm search");
    collect(perfs);
  }
  return out;
}

// The workspace, kept between calls and grown when an algorithm needs more (kernels/cuda/workspace.h).
void* workspace(std::int64_t bytes, const Algorithm& algorithm, Pass pass) {
  static flopslab::cuda::Workspace space("cuDNN");
  return space.reserve(std::size_t(bytes), "its " + algorithm.name + " algorithm for the " + pass_name(pass) + " pass");
}

}  // namespace

const char* precision_name(Precision p) { return p == Precision::fp32 ? "fp32" : p == Precision::tf32 ? "tf32" : "fp16"; }

std::vector<Algorithm> find_algorithms(const Shape& shape, Pass pass, Precision precision, void* stream) {
  return list_algorithms(shape, pass, precision, stream, cudnnFindConvolutionForwardAlgorithm,
                         cudnnFindConvolutionBackwardDataAlgorithm, cudnnFindConvolutionBackwardFilterAlgorithm);
}

std::vector<Algorithm> heuristic_algorithms(const Shape& shape, Pass pass, Precision precision) {
  std::vector<Algorithm> out =
      list_algorithms(shape, pass, precision, nullptr, cudnnGetConvolutionForwardAlgorithm_v7,
                      cudnnGetConvolutionBackwardDataAlgorithm_v7, cudnnGetConvolutionBackwardFilterAlgorithm_v7);
  for (Algorithm& a : out) a.milliseconds = 0;  // the heuristic runs nothing
  return out;
}

Algorithm algorithm_by_id(const Shape& shape, Pass pass, Precision precision, int id) {
  Descriptors& d = descriptors(shape, precision);
  cudnnHandle_t h = handle(nullptr);
  std::size_t bytes = 0;
  cudnnStatus_t status;
  if (pass == Pass::forward)
    status = cudnnGetConvolutionForwardWorkspaceSize(h, d.x, d.w, d.conv, d.y, cudnnConvolutionFwdAlgo_t(id), &bytes);
  else if (pass == Pass::backward_data)
    status = cudnnGetConvolutionBackwardDataWorkspaceSize(h, d.w, d.y, d.conv, d.x, cudnnConvolutionBwdDataAlgo_t(id), &bytes);
  else
    status = cudnnGetConvolutionBackwardFilterWorkspaceSize(h, d.x, d.y, d.conv, d.w, cudnnConvolutionBwdFilterAlgo_t(id),
                                                            &bytes);
  Algorithm a;
  a.id = id;
  a.name = algorithm_name(pass, id);
  a.status = status == CUDNN_STATUS_SUCCESS ? "ok" : cudnnGetErrorString(status);
  a.workspace_bytes = std::int64_t(bytes);
  a.deterministic = deterministic_by_design(pass, id);
  a.math = math_name(math_type(precision));
  return a;
}

void run(const Tensors& t, Pass pass, Precision precision, const Algorithm& algorithm, void* stream) {
  if (!algorithm.ok())
    throw std::runtime_error("cuDNN's " + algorithm.name + " algorithm cannot run " + describe(t.shape) + ": " +
                             algorithm.status);
  Descriptors& d = descriptors(t.shape, precision);
  void* space = workspace(algorithm.workspace_bytes, algorithm, pass);
  cudnnHandle_t h = handle(stream);
  const float one = 1, zero = 0;
  const std::size_t bytes = std::size_t(algorithm.workspace_bytes);
  if (pass == Pass::forward)
    FLOPSLAB_CUDNN_CHECK(cudnnConvolutionForward(h, &one, d.x, t.x, d.w, t.w, d.conv,
                                                 cudnnConvolutionFwdAlgo_t(algorithm.id), space, bytes, &zero, d.y, t.y));
  else if (pass == Pass::backward_data)
    FLOPSLAB_CUDNN_CHECK(cudnnConvolutionBackwardData(h, &one, d.w, t.w, d.y, t.y, d.conv,
                                                      cudnnConvolutionBwdDataAlgo_t(algorithm.id), space, bytes, &zero,
                                                      d.x, t.x));
  else
    FLOPSLAB_CUDNN_CHECK(cudnnConvolutionBackwardFilter(h, &one, d.x, t.x, d.y, t.y, d.conv,
                                                        cudnnConvolutionBwdFilterAlgo_t(algorithm.id), space, bytes,
                                                        &zero, d.w, t.w));
}

Algorithm fastest_algorithm(const Shape& shape, Pass pass, Precision precision, bool deterministic_only, void* stream) {
  static std::map<std::string, Algorithm> cache;
  const std::string k = key(shape, precision) + "," + pass_name(pass) + (deterministic_only ? ",deterministic" : "");
  if (auto it = cache.find(k); it != cache.end()) return it->second;
  for (const Algorithm& a : find_algorithms(shape, pass, precision, stream))
    if (a.ok() && (!deterministic_only || a.deterministic)) return cache[k] = a;
  throw std::runtime_error(std::string("cuDNN found no working ") + (deterministic_only ? "deterministic " : "") +
                           pass_name(pass) + " algorithm for " + describe(shape));
}

std::string version() {
  const std::size_t v = cudnnGetVersion();  // major * 10000 + minor * 100 + patch since cuDNN 9
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

}  // namespace flopslab::conv::cudnn

namespace flopslab::conv::cuda {
namespace {

using cudnn::Precision;

cudnn::Tensors tensors(const Operands& op) { return {op.shape, op.x, op.w, op.y}; }

template <Pass kPass, Precision kPrecision>
void fastest(const Operands& op, const RunContext& ctx) {
  cudnn::run(tensors(op), kPass, kPrecision, cudnn::fastest_algorithm(op.shape, kPass, kPrecision, false, ctx.stream),
             ctx.stream);
}

void implicit_gemm_forward(const Operands& op, const RunContext& ctx) {
  const cudnn::Algorithm a =
      cudnn::algorithm_by_id(op.shape, Pass::forward, Precision::fp32, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM);
  cudnn::run(tensors(op), Pass::forward, Precision::fp32, a, ctx.stream);
}

std::string version_detail() { return "cuDNN " + cudnn::version(); }

}  // namespace

extern const ConvVariant kCudnn{
    .name = "cudnn",
    .device = Device::cuda,
    .role = Role::peer,
    .idea = "cuDNN, FP32 with FMA math, the fastest algorithm cudnnFind measures for each shape and pass",
    .forward = fastest<Pass::forward, Precision::fp32>,
    .backward_data = fastest<Pass::backward_data, Precision::fp32>,
    .backward_weights = fastest<Pass::backward_weights, Precision::fp32>,
    .detail = version_detail,
};

extern const ConvVariant kCudnnImplicitGemm{
    .name = "cudnn-implicit-gemm",
    .device = Device::cuda,
    .role = Role::peer,
    .idea = "cuDNN's IMPLICIT_GEMM forward algorithm with FMA math: the like-for-like rival of our step 2",
    .forward = implicit_gemm_forward,
    .detail = version_detail,
};

extern const ConvVariant kCudnnTf32{
    .name = "cudnn-tf32",
    .device = Device::cuda,
    .role = Role::context,
    .idea = "cuDNN with TF32 tensor cores allowed (10-bit mantissas): context, not a peer",
    .forward = fastest<Pass::forward, Precision::tf32>,
    .backward_data = fastest<Pass::backward_data, Precision::tf32>,
    .backward_weights = fastest<Pass::backward_weights, Precision::tf32>,
    .detail = version_detail,
    .input_roundoff = 0x1p-11,
};

}  // namespace flopslab::conv::cuda
