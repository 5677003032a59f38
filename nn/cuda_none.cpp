// The GPU halves of the layers, loss and optimizers in a build without CUDA. No tensor can be
// on the GPU there (nn/device_none.cpp refuses to allocate one), so none of these is reached;
// they say why if one ever is.
#include <stdexcept>
#include <string>

#include "nn/cuda/ops.h"
#include "nn/device_data.h"
#include "nn/graph.h"
#include "nn/layers.h"

namespace flopslab::nn {
namespace {
[[noreturn]] void no_cuda(const std::string& what) {
  throw std::runtime_error(what + ": this build has no CUDA (no nvcc was found when it was configured)");
}
}  // namespace

Tensor Linear::forward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor Linear::backward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor Activation::forward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor Activation::backward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor Conv2d::forward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor Conv2d::backward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor BatchNorm::forward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor BatchNorm::backward_cuda(const Tensor&, const Context&) { no_cuda(describe()); }
Tensor Pool2d::forward_cuda(const Tensor&, const conv::PoolShape&, const Context&) { no_cuda(describe()); }
Tensor Pool2d::backward_cuda(const Tensor&, const conv::PoolShape&) { no_cuda(describe()); }
Tensor GlobalAvgPool::forward_cuda(const Tensor&) { no_cuda(describe()); }
Tensor GlobalAvgPool::backward_cuda(const Tensor&) { no_cuda(describe()); }

Batch DeviceDataset::gather(const BatchPlan&) const { no_cuda("DeviceDataset::gather"); }

struct GraphedStep::State {};
GraphedStep::GraphedStep(Module&) { no_cuda("a CUDA graph of the training step"); }
GraphedStep::~GraphedStep() = default;
GraphedStep::Result GraphedStep::run(const Tensor&, const std::vector<std::int64_t>&, const Context&) {
  no_cuda("GraphedStep::run");
}
bool GraphedStep::captured() const { return false; }
std::int64_t GraphedStep::kernels_per_replay() const { return 0; }

namespace gpu {
void gemm(gemm::Shape, const float*, std::int64_t, const float*, std::int64_t, float*, std::int64_t, GpuBackend,
          Precision) {
  no_cuda("gpu::gemm");
}
void require_gpu_precision(const Module& layer, const Context&) { no_cuda(layer.describe()); }
void scale(float*, std::int64_t, float) { no_cuda("gpu::scale"); }
bool scale_and_check_finite(const std::vector<std::pair<float*, std::int64_t>>&, float) {
  no_cuda("gpu::scale_and_check_finite");
}
void transpose(const float*, std::int64_t, std::int64_t, float*) { no_cuda("gpu::transpose"); }
void add_row_vector(float*, const float*, std::int64_t, std::int64_t) { no_cuda("gpu::add_row_vector"); }
void column_sums(const float*, std::int64_t, std::int64_t, float*) { no_cuda("gpu::column_sums"); }
void conv_pass(conv::Pass, const conv::Operands&, GpuBackend) { no_cuda("gpu::conv_pass"); }
void add_channel_vector(float*, const float*, std::int64_t, std::int64_t, std::int64_t) {
  no_cuda("gpu::add_channel_vector");
}
void channel_sums(const float*, std::int64_t, std::int64_t, std::int64_t, float*) { no_cuda("gpu::channel_sums"); }
void multiply(const float*, const float*, float*, std::int64_t) { no_cuda("gpu::multiply"); }
void add_in_place(float*, const float*, std::int64_t) { no_cuda("gpu::add_in_place"); }
void channel_shuffle(const float*, float*, std::int64_t, std::int64_t, std::int64_t, std::int64_t) {
  no_cuda("gpu::channel_shuffle");
}
LossResult cross_entropy(const Tensor&, const std::vector<std::int64_t>&) { no_cuda("gpu::cross_entropy"); }
void adam_update(const std::vector<UpdateSlot>&, float, float, bool) { no_cuda("gpu::adam_update"); }
void sgd_update(const std::vector<UpdateSlot>&, bool) { no_cuda("gpu::sgd_update"); }
void rmsprop_update(const std::vector<UpdateSlot>&, float, float) { no_cuda("gpu::rmsprop_update"); }
}  // namespace gpu
}  // namespace flopslab::nn
