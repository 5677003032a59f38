// The layers of the training stack, one per file under nn/layers/ (containers together in
// containers.cpp). Each calls the kernels in kernels/ for its heavy work (GEMM, convolution
// passes, pooling, channel shuffle) and holds only the glue. Under mixed precision
// (Context::precision) Linear and Conv2d multiply 16-bit operands with float32 sums and round
// their outputs to the 16-bit format, and every layer keeps its saved activations in it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "kernels/cpu/conv/pooling.h"
#include "nn/memory.h"
#include "nn/module.h"
#include "nn/precision.h"

namespace flopslab::nn {

class Communicator;  // nn/distributed.h

// y = x W^T + b.  x: N x in, W: out x in (PyTorch's layout), y: N x out.
class Linear : public Module {
 public:
  Linear(std::int64_t in, std::int64_t out, std::mt19937_64& rng);
  std::string describe() const override;
  LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                 bool input_gradient) const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void release_cache() override { x_.clear(); }
  bool runs_on_cuda() const override { return true; }
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  Parameter weight, bias;

 private:
  Tensor forward_cuda(const Tensor& x, const Context& ctx);  // linear.cu
  Tensor backward_cuda(const Tensor& dy, const Context& ctx);
  SavedTensor x_;  // the input
};

enum class ActivationKind { relu, leaky_relu, relu6, sigmoid, tanh, softplus };
const char* activation_name(ActivationKind kind);

// Elementwise; backward needs only the input (sigmoid and tanh reuse their output).
class Activation : public Module {
 public:
  explicit Activation(ActivationKind kind, float negative_slope = 0.01f) : kind_(kind), slope_(negative_slope) {}
  std::string describe() const override;
  LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                 bool input_gradient) const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void release_cache() override { saved_.clear(); }
  bool runs_on_cuda() const override { return true; }
  ActivationKind kind() const { return kind_; }

 private:
  Tensor forward_cuda(const Tensor& x, const Context& ctx);  // activation.cu
  Tensor backward_cuda(const Tensor& dy, const Context& ctx);
  bool saves_output() const { return kind_ == ActivationKind::sigmoid || kind_ == ActivationKind::tanh; }
  void backward_range(const float* g, const float* v, float* out, std::int64_t n, int threads) const;
  ActivationKind kind_;
  float slope_;
  SavedTensor saved_;  // the output for sigmoid and tanh, the input for the others
};

// NCHW convolution with bias through the CPU implicit-GEMM kernel (forward, backward data)
// and im2col + GEMM (backward weights). W: K x C/groups x R x S.
class Conv2d : public Module {
 public:
  // shape.n, h and w are taken from each input; the rest fixes the layer.
  Conv2d(const conv::Shape& layer, std::mt19937_64& rng);
  std::string describe() const override;
  LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                 bool input_gradient) const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void release_cache() override { x_.clear(); }
  bool runs_on_cuda() const override { return true; }
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  const conv::Shape& shape() const { return shape_; }
  Parameter weight, bias;

 private:
  Tensor forward_cuda(const Tensor& x, const Context& ctx);  // conv2d.cu
  Tensor backward_cuda(const Tensor& dy, const Context& ctx);
  conv::Shape shape_;
  SavedTensor x_;
};

// Per-channel normalisation over N (and H x W for 4-D inputs): batch statistics in training,
// running statistics (updated with momentum, unbiased variance) in evaluation.
class BatchNorm : public Module {
 public:
  explicit BatchNorm(std::int64_t channels, float eps = 1e-5f, float momentum = 0.1f);
  std::string describe() const override;
  LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                 bool input_gradient) const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) override;
  void release_cache() override { x_hat_.clear(), inv_std_ = Tensor(), x_ = Tensor(), mean_ = Tensor(); }
  bool runs_on_cuda() const override { return true; }
  float eps() const { return eps_; }
  Parameter weight, bias;
  Tensor running_mean, running_var;
  // SyncBatchNorm (seed 001): with a communicator of more than one rank, training uses the
  // statistics of the whole global batch, one all-reduce of each channel's (count, sum, sum of
  // squares) in forward and one of its two gradient sums in backward. CPU only.
  Communicator* sync = nullptr;

 private:
  Tensor forward_cuda(const Tensor& x, const Context& ctx);  // batch_norm.cu
  Tensor backward_cuda(const Tensor& dy, const Context& ctx);
  std::int64_t channels_;
  float eps_, momentum_;
  SavedTensor x_hat_;  // the GPU's and 16-bit precision's x_hat
  Tensor inv_std_;
  // Float32 on the CPU: the input itself (shared, not copied) and each channel's mean, from
  // which backward recomputes x_hat: storing x_hat was a third of the forward's memory traffic.
  Tensor x_, mean_;
  bool trained_pass_ = true;
  std::int64_t synced_count_ = 0;  // the global count of the last synchronised forward; 0: local
};

enum class PoolKind { max, average };
class Pool2d : public Module {
 public:
  Pool2d(PoolKind kind, std::int64_t kernel, std::int64_t stride, std::int64_t pad = 0);
  std::string describe() const override;
  LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                 bool input_gradient) const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void release_cache() override { argmax_ = {}, argmax_device_ = Tensor(); }
  bool runs_on_cuda() const override { return true; }

 private:
  Tensor forward_cuda(const Tensor& x, const conv::PoolShape& s, const Context& ctx);  // pooling.cu
  Tensor backward_cuda(const Tensor& dy, const conv::PoolShape& s);
  PoolKind kind_;
  std::int64_t kernel_, stride_, pad_;
  std::vector<std::int64_t> x_shape_;
  std::vector<std::int32_t, memory::CountingAllocator<std::int32_t>> argmax_;
  Tensor argmax_device_;  // on the GPU: the same int32 indices in a tensor's storage
};

// N x C x H x W -> N x C, the mean of each plane.
class GlobalAvgPool : public Module {
 public:
  std::string describe() const override { return "GlobalAvgPool"; }
  LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                 bool input_gradient) const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  bool runs_on_cuda() const override { return true; }

 private:
  Tensor forward_cuda(const Tensor& x);  // pooling.cu
  Tensor backward_cuda(const Tensor& dy);
  std::vector<std::int64_t> x_shape_;
};

// Zeroes each input with probability p in training and scales the rest by 1/(1-p); the
// identity in evaluation.
class Dropout : public Module {
 public:
  explicit Dropout(float p);
  std::string describe() const override;
  LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                 bool input_gradient) const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void release_cache() override { mask_ = Tensor(); }
  bool runs_on_cuda() const override { return true; }  // the mask is drawn on the host either way

 private:
  float p_;
  Tensor mask_;  // 0 or 1/(1-p) per element
};

class Flatten : public Module {
 public:
  std::string describe() const override { return "Flatten"; }
  LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                 bool input_gradient) const override;
  bool runs_on_cuda() const override { return true; }  // a view on either device
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;

 private:
  std::vector<std::int64_t> x_shape_;
};

class ChannelShuffle : public Module {
 public:
  explicit ChannelShuffle(std::int64_t groups) : groups_(groups) {}
  std::string describe() const override;
  LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                 bool input_gradient) const override;
  bool runs_on_cuda() const override { return true; }
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;

 private:
  std::int64_t groups_;
};

// Layers in order. With checkpoint segments K > 1 (gradient checkpointing, Chen et al. 2016),
// a training forward splits the layers into K runs of nearly equal length and keeps only each
// run's input, dropping what the run's layers saved; the backward runs each run's forward
// again (with the same random numbers, without counting BatchNorm's statistics twice) just
// before its backward. The last run is not dropped: its backward comes at once.
class Sequential : public Module {
 public:
  Sequential& add(ModulePtr layer) {
    layers.push_back(std::move(layer));
    return *this;
  }
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void release_cache() override;
  bool runs_on_cuda() const override;
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) override;
  // Each layer's cost at the shapes of the last profiled forward in `times` (uncounted where a
  // layer has none or no shapes were recorded). A training step without an input gradient runs
  // no backward before the first trainable layer, and that layer's skips dL/dx.
  std::vector<LayerCost> layer_costs(const LayerTimes& times, bool input_gradient);
  // 0 or 1: no checkpointing; at most layers.size() (every layer a run of its own).
  void set_checkpoint_segments(int segments);
  int checkpoint_segments() const { return segments_; }
  std::vector<ModulePtr> layers;

 private:
  struct Run {
    std::size_t begin, end;  // layers [begin, end)
    Tensor input;
    std::mt19937_64 rng;  // the generator as the run's forward found it
  };
  Tensor layer_forward(std::size_t i, const Tensor& x, const Context& ctx, const Context& inner, const char* event);
  Tensor layer_backward(std::size_t i, const Tensor& dy, const Context& ctx, const Context& inner);
  int segments_ = 0;
  std::vector<Run> runs_;  // of the last checkpointed training forward
};

// Inception-style block: every branch sees the same input; outputs are concatenated along
// channels (dimension 1). Backward splits dL/dy and sums the branches' dL/dx.
class Concat : public Module {
 public:
  Concat& add(ModulePtr branch) {
    branches.push_back(std::move(branch));
    return *this;
  }
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void release_cache() override;
  bool runs_on_cuda() const override;
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) override;
  std::vector<ModulePtr> branches;

 private:
  std::vector<std::int64_t> widths_;  // channels of each branch's output
};

// y = x + body(x).
class Residual : public Module {
 public:
  explicit Residual(ModulePtr body) : body_(std::move(body)) {}
  Module& body() { return *body_; }
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void release_cache() override { body_->release_cache(); }
  bool runs_on_cuda() const override { return body_->runs_on_cuda(); }
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) override;

 private:
  ModulePtr body_;
};

}  // namespace flopslab::nn
