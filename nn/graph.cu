// nn/graph.h on the CUDA runtime's stream capture.
// (No fmt in .cu files: nvcc's front end rejects fmt 9's compile-time format checks.)
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "nn/cuda/ops.h"
#include "nn/device.h"
#include "nn/graph.h"
#include "nn/loss.h"
#include "nn/memory.h"

namespace flopslab::nn {

struct GraphedStep::State {
  explicit State(Module& m) : model(m) {}
  Module& model;
  int calls = 0;
  std::int64_t classes = 0;
  std::vector<std::int64_t> shape;
  Tensor x, labels, row_loss, logits;  // the graph's inputs and outputs, at fixed addresses
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  int pool = -1;
  std::int64_t kernels = 0;

  void capture(const Context& ctx) {
    const cudaStream_t stream = static_cast<cudaStream_t>(cuda_stream());
    pool = memory::begin_device_pool();
    const std::int64_t launches_before = gpu_launches();
    // Relaxed: a cudaMalloc behind the device cache (a block the pool has not seen) is allowed
    // while capturing; it is not part of the graph.
    FLOPSLAB_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeRelaxed));
    try {
      logits = model.forward(x, ctx);
      Tensor grad;
      gpu::cross_entropy_rows(logits, labels, row_loss, grad);
      (void)model.backward(grad, ctx);
    } catch (...) {
      cudaGraph_t partial = nullptr;
      (void)cudaStreamEndCapture(stream, &partial);
      if (partial != nullptr) (void)cudaGraphDestroy(partial);
      (void)cudaGetLastError();
      memory::end_device_pool();
      throw;
    }
    FLOPSLAB_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    memory::end_device_pool();
    kernels = gpu_launches() - launches_before;
    count_gpu_launches(-kernels);  // captured, not launched: each replay counts as one below
    FLOPSLAB_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  }
};

GraphedStep::GraphedStep(Module& model) : s_(std::make_unique<State>(model)) {
  if (const std::string why = cannot_capture(model); !why.empty()) throw std::invalid_argument(why);
  require_cuda("a CUDA graph of the training step");
}

GraphedStep::~GraphedStep() {
  if (s_->exec != nullptr) (void)cudaGraphExecDestroy(s_->exec);
  if (s_->graph != nullptr) (void)cudaGraphDestroy(s_->graph);
  s_->logits = Tensor(), s_->row_loss = Tensor();
  if (s_->pool >= 0) {
    (void)cudaStreamSynchronize(static_cast<cudaStream_t>(cuda_stream()));  // no replay still reads the pool
    memory::close_device_pool(s_->pool);
  }
}

bool GraphedStep::captured() const { return s_->exec != nullptr; }
std::int64_t GraphedStep::kernels_per_replay() const { return s_->kernels; }

GraphedStep::Result GraphedStep::run(const Tensor& x, const std::vector<std::int64_t>& labels, const Context& ctx) {
  State& s = *s_;
  if (!x.on_cuda()) throw std::invalid_argument("GraphedStep: the batch must be on the GPU");
  if (s.calls++ == 0) {  // eager: allocations and workspaces settle
    s.shape = x.shape();
    const Tensor logits = s.model.forward(x, ctx);
    s.classes = logits.dim(1);
    const LossResult loss = cross_entropy(logits, labels);
    (void)s.model.backward(loss.grad, ctx);
    return {loss.loss, logits};
  }
  if (x.shape() != s.shape)
    throw std::invalid_argument("GraphedStep: a batch of shape " + x.shape_string() +
                                " after capturing " + Tensor::uninitialized(s.shape).shape_string() +
                                " (a graph replays fixed shapes; drop the last short batch)");
  const Tensor device_labels = gpu::labels_on_device(labels, s.classes);
  if (s.exec == nullptr) {
    s.x = Tensor::uninitialized_on(DeviceTag::cuda, s.shape);
    s.labels = Tensor::uninitialized_on(DeviceTag::cuda, device_labels.shape());
    s.capture(ctx);
  }
  copy_floats(CopyDirection::device_to_device, s.x.data(), x.data(), x.size());
  copy_floats(CopyDirection::device_to_device, s.labels.data(), device_labels.data(), device_labels.size());
  FLOPSLAB_CUDA_CHECK(cudaGraphLaunch(s.exec, static_cast<cudaStream_t>(cuda_stream())));
  count_gpu_launches();
  return {gpu::mean_on_host(s.row_loss), s.logits};
}

}  // namespace flopslab::nn
