// The layer contract (as in Caffe and llm.c): forward computes the output and keeps what its
// backward will need; backward takes dL/dy, writes the gradients of the layer's parameters
// (overwriting them: no parameter is shared in these models) and returns dL/dx. No tape:
// every layer's backward is written by hand beside its forward.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace flopslab::nn {

struct Parameter {
  std::string name;  // "0.weight", as PyTorch's state_dict would call it
  Tensor value, grad;
};

// A named tensor of state that is not trained (BatchNorm's running statistics).
struct Buffer {
  std::string name;
  Tensor* value = nullptr;
};

struct Context {
  bool training = true;
  int threads = 1;
  std::mt19937_64* rng = nullptr;  // dropout's masks; null only when nothing random runs
  // False when nobody wants dL/d(input) (the images of a training batch): Sequential then stops
  // at its first layer with parameters, and Linear and Conv2d skip computing dx there. Such a
  // backward returns an empty tensor.
  bool input_gradient = true;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual std::string describe() const = 0;  // "Linear(784 -> 256)"
  virtual Tensor forward(const Tensor& x, const Context& ctx) = 0;
  virtual Tensor backward(const Tensor& dy, const Context& ctx) = 0;
  // Parameters and buffers with their full names under `prefix` ("3." for the fourth layer).
  virtual void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) { (void)prefix, (void)out; }
  virtual void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) { (void)prefix, (void)out; }

  std::vector<Parameter*> parameters() {
    std::vector<Parameter*> out;
    collect_parameters("", out);
    return out;
  }
  std::vector<Buffer> buffers() {
    std::vector<Buffer> out;
    collect_buffers("", out);
    return out;
  }
};

using ModulePtr = std::unique_ptr<Module>;

}  // namespace flopslab::nn
