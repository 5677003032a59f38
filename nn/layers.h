// The layers of the training stack. Each calls the kernels in kernels/ for its heavy work
// (GEMM, convolution passes, pooling, channel shuffle) and holds only the glue.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv.h"
#include "nn/module.h"

namespace flopslab::nn {

// y = x W^T + b.  x: N x in, W: out x in (PyTorch's layout), y: N x out.
class Linear : public Module {
 public:
  Linear(std::int64_t in, std::int64_t out, std::mt19937_64& rng);
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  Parameter weight, bias;

 private:
  Tensor x_;  // cached input
};

enum class ActivationKind { relu, leaky_relu, relu6, sigmoid, tanh, softplus };
const char* activation_name(ActivationKind kind);

// Elementwise; backward needs only the input (sigmoid and tanh reuse their output).
class Activation : public Module {
 public:
  explicit Activation(ActivationKind kind, float negative_slope = 0.01f) : kind_(kind), slope_(negative_slope) {}
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  ActivationKind kind() const { return kind_; }

 private:
  ActivationKind kind_;
  float slope_;
  Tensor x_, y_;
};

// NCHW convolution with bias through the CPU implicit-GEMM kernel (all three passes).
// W: K x C/groups x R x S.
class Conv2d : public Module {
 public:
  // shape.n, h and w are taken from each input; the rest fixes the layer.
  Conv2d(const conv::Shape& layer, std::mt19937_64& rng);
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  Parameter weight, bias;

 private:
  conv::Shape shape_;
  Tensor x_;
};

// Per-channel normalisation over N (and H x W for 4-D inputs): batch statistics in training,
// running statistics (updated with momentum, unbiased variance) in evaluation.
class BatchNorm : public Module {
 public:
  explicit BatchNorm(std::int64_t channels, float eps = 1e-5f, float momentum = 0.1f);
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) override;
  Parameter weight, bias;
  Tensor running_mean, running_var;

 private:
  std::int64_t channels_;
  float eps_, momentum_;
  Tensor x_hat_, inv_std_;
  bool trained_pass_ = true;
};

enum class PoolKind { max, average };
class Pool2d : public Module {
 public:
  Pool2d(PoolKind kind, std::int64_t kernel, std::int64_t stride, std::int64_t pad = 0);
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;

 private:
  PoolKind kind_;
  std::int64_t kernel_, stride_, pad_;
  std::vector<std::int64_t> x_shape_;
  std::vector<std::int32_t> argmax_;
};

// N x C x H x W -> N x C, the mean of each plane.
class GlobalAvgPool : public Module {
 public:
  std::string describe() const override { return "GlobalAvgPool"; }
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;

 private:
  std::vector<std::int64_t> x_shape_;
};

// Zeroes each input with probability p in training and scales the rest by 1/(1-p); the
// identity in evaluation.
class Dropout : public Module {
 public:
  explicit Dropout(float p);
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;

 private:
  float p_;
  Tensor mask_;  // 0 or 1/(1-p) per element
};

class Flatten : public Module {
 public:
  std::string describe() const override { return "Flatten"; }
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;

 private:
  std::vector<std::int64_t> x_shape_;
};

class ChannelShuffle : public Module {
 public:
  explicit ChannelShuffle(std::int64_t groups) : groups_(groups) {}
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;

 private:
  std::int64_t groups_;
};

class Sequential : public Module {
 public:
  Sequential& add(ModulePtr layer) {
    layers.push_back(std::move(layer));
    return *this;
  }
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) override;
  std::vector<ModulePtr> layers;
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
  std::string describe() const override;
  Tensor forward(const Tensor& x, const Context& ctx) override;
  Tensor backward(const Tensor& dy, const Context& ctx) override;
  void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) override;
  void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) override;

 private:
  ModulePtr body_;
};

}  // namespace flopslab::nn
