// The layer contract (as in Caffe and llm.c): forward computes the output and keeps what its
// backward will need; backward takes dL/dy, writes the gradients of the layer's parameters
// (overwriting them: no parameter is shared in these models) and returns dL/dx. No tape:
// every layer's backward is written by hand beside its forward. What a forward kept is
// released after the backward that used it (release_cache), as PyTorch frees saved tensors,
// so that the memory a training step holds is what the step needs.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "nn/tensor.h"

namespace flopslab::nn {

struct Parameter {
  std::string name;  // "0.weight", as PyTorch's state_dict would call it
  Tensor value, grad;
  // A frozen parameter gets no gradient computed and no update (fine-tuning's frozen body).
  bool frozen = false;
};

// A named tensor of state that is not trained (BatchNorm's running statistics).
struct Buffer {
  std::string name;
  Tensor* value = nullptr;
};

// Mixed precision: the format the GEMM-based layers round their operands and outputs to, and
// the layers keep their saved activations in (fp32: none). Sums, the loss, BatchNorm's
// statistics and the master weights stay float32.
using Precision = gemm::InputFormat;
inline const char* precision_name(Precision p) { return gemm::input_format_name(p); }

// Seconds spent in each top-level layer's forward and backward (flopslab train --profile).
struct LayerTimes {
  std::vector<std::string> names;
  std::vector<double> forward, backward, recompute;  // recompute: checkpointed forwards run again
  std::int64_t steps = 0;
  // Each layer's input and output shapes in the last profiled forward (what its cost needs).
  std::vector<std::vector<std::int64_t>> input_shapes, output_shapes;
};

// What one forward and one backward of a layer must do, for the roofline (bench/roofline/): the
// FLOPs of its arithmetic (0: a layer that only moves data) and its compulsory traffic, each
// input read once and each output written once, in float32. Layers that do not count theirs
// (containers and the rarer layers) leave `counted` false and are not placed.
struct LayerCost {
  bool counted = false;
  double forward_flops = 0, forward_bytes = 0, backward_flops = 0, backward_bytes = 0;
};
// Elements of a tensor of this shape.
inline double element_count(const std::vector<std::int64_t>& shape) {
  double n = 1;
  for (std::int64_t d : shape) n *= double(d);
  return n;
}

// Live bytes after each layer's forward, backward or recomputation during one step, with the
// time since the step began: the memory-against-time curve of lesson 17.
struct MemoryTrace {
  struct Point {
    double seconds;
    std::int64_t bytes;
    std::string event;  // "forward 3", "backward 3", "recompute 3"
  };
  std::vector<Point> points;
  double started = 0;  // steady-clock seconds at the start of the step
};

// Which GEMMs the GPU layers call: the CUDA ladder's (own) or cuBLAS (vendor).
enum class GpuBackend { own, vendor };

class Module;

struct Context {
  bool training = true;
  int threads = 1;
  std::mt19937_64* rng = nullptr;  // dropout's masks; null only when nothing random runs
  // False when nobody wants dL/d(input) (the images of a training batch): Sequential then stops
  // at its first layer with trainable parameters, and Linear and Conv2d skip computing dx
  // there. Such a backward returns an empty tensor.
  bool input_gradient = true;
  Precision precision = Precision::fp32;
  // False while a checkpointed segment's forward runs a second time: BatchNorm must not count
  // the same batch twice in its running statistics.
  bool update_statistics = true;
  // True when the caller drops dy once backward returns (Sequential, between its layers): a
  // layer may then write its dx over dy if nothing else shares it (Tensor::sole_owner).
  bool dy_disposable = false;
  LayerTimes* profile = nullptr;  // filled by Sequential when set
  MemoryTrace* trace = nullptr;   // likewise
  GpuBackend gpu_backend = GpuBackend::own;  // for the layers' GPU halves
  // Called by Sequential after each layer's backward (data-parallel training starts the
  // all-reduce of a bucket whose gradients are all final: nn/ddp.h).
  const std::function<void(Module& layer)>* after_layer_backward = nullptr;
};

class Module {
 public:
  virtual ~Module() = default;
  virtual std::string describe() const = 0;  // "Linear(784 -> 256)"
  virtual Tensor forward(const Tensor& x, const Context& ctx) = 0;
  virtual Tensor backward(const Tensor& dy, const Context& ctx) = 0;
  // The work of one forward from `input` to `output` shape and of its backward; input_gradient
  // false: the backward skips dL/dx (the first layer with parameters in a training step).
  virtual LayerCost cost(const std::vector<std::int64_t>& input, const std::vector<std::int64_t>& output,
                         bool input_gradient) const {
    (void)input, (void)output, (void)input_gradient;
    return {};
  }
  // Drops what forward kept for backward (called after backward, and by checkpointing).
  virtual void release_cache() {}
  // Whether forward and backward take CUDA tensors (the layer has its GPU half; a container
  // when all its layers do). nn::move_to refuses a model with a layer that has none.
  virtual bool runs_on_cuda() const { return false; }
  // Parameters and buffers with their full names under `prefix` ("3." for the fourth layer).
  virtual void collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) { (void)prefix, (void)out; }
  virtual void collect_buffers(const std::string& prefix, std::vector<Buffer>& out) { (void)prefix, (void)out; }

  // Every parameter, named by its path in this module ("3.weight").
  std::vector<Parameter*> parameters() {
    std::vector<Parameter*> out;
    collect_parameters("", out);
    return out;
  }
  // The same pointers without renaming them: for asking a layer inside a model what it holds
  // (its parameters keep the model's names).
  std::vector<Parameter*> parameter_list() {
    std::vector<Parameter*> out;
    collect_parameters(kKeepNames, out);
    return out;
  }
  static constexpr const char* kKeepNames = "\x01";  // a prefix no name starts with
  std::vector<Buffer> buffers() {
    std::vector<Buffer> out;
    collect_buffers("", out);
    return out;
  }
  // Whether any parameter would receive a gradient.
  bool trainable() {
    for (Parameter* p : parameter_list())
      if (!p->frozen) return true;
    return false;
  }
};

using ModulePtr = std::unique_ptr<Module>;

}  // namespace flopslab::nn
