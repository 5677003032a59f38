// Sequential (with gradient checkpointing), Concat and Residual.
#include <algorithm>
#include <chrono>

#include "nn/device.h"
#include "nn/layers/common.h"

namespace flopslab::nn {
using namespace detail;

std::string Sequential::describe() const {
  std::string out = "Sequential(";
  for (std::size_t i = 0; i < layers.size(); ++i) out += (i ? ", " : "") + layers[i]->describe();
  return out + ")";
}

namespace {
double now_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
void record(MemoryTrace* trace, const char* event, std::size_t layer) {
  if (trace != nullptr)
    trace->points.push_back({now_seconds() - trace->started, memory::usage().live, std::string(event) + " " + std::to_string(layer)});
}
}  // namespace

void Sequential::set_checkpoint_segments(int segments) {
  if (segments < 0 || std::size_t(segments) > layers.size())
    throw std::invalid_argument("checkpoint segments: " + std::to_string(segments) + " for " +
                                std::to_string(layers.size()) + " layers (valid: 0 to " + std::to_string(layers.size()) +
                                ")");
  segments_ = segments;
}

// The top-level Sequential times and traces its own layers; the layers' insides are theirs.
Tensor Sequential::layer_forward(std::size_t i, const Tensor& x, const Context& ctx, const Context& inner,
                                 const char* event) {
  const double started = ctx.profile ? now_seconds() : 0;
  Tensor y = layers[i]->forward(x, inner);
  if (ctx.profile && y.on_cuda()) cuda_synchronize();  // GPU kernels run asynchronously
  if (ctx.profile) {
    auto& bucket = std::string(event) == "recompute" ? ctx.profile->recompute : ctx.profile->forward;
    bucket[i] += now_seconds() - started;
    ctx.profile->input_shapes[i] = x.shape();
    ctx.profile->output_shapes[i] = y.shape();
  }
  record(ctx.trace, event, i);
  return y;
}

Tensor Sequential::layer_backward(std::size_t i, const Tensor& dy, const Context& ctx, const Context& inner) {
  const double started = ctx.profile ? now_seconds() : 0;
  Tensor dx = layers[i]->backward(dy, inner);
  if (ctx.profile && dy.on_cuda()) cuda_synchronize();
  layers[i]->release_cache();  // its saved activations have done their work
  if (ctx.after_layer_backward != nullptr) (*ctx.after_layer_backward)(*layers[i]);
  if (ctx.profile) ctx.profile->backward[i] += now_seconds() - started;
  record(ctx.trace, "backward", i);
  return dx;
}

Tensor Sequential::forward(const Tensor& x, const Context& ctx) {
  Context inner = ctx;
  inner.profile = nullptr, inner.trace = nullptr;
  if (ctx.profile && (ctx.profile->names.size() != layers.size() || ctx.profile->input_shapes.size() != layers.size())) {
    ctx.profile->names.clear();
    for (const ModulePtr& l : layers) ctx.profile->names.push_back(l->describe());
    ctx.profile->forward.assign(layers.size(), 0);
    ctx.profile->backward.assign(layers.size(), 0);
    ctx.profile->recompute.assign(layers.size(), 0);
    ctx.profile->input_shapes.assign(layers.size(), {});
    ctx.profile->output_shapes.assign(layers.size(), {});
  }
  runs_.clear();
  Tensor h = x;
  if (!ctx.training || segments_ <= 1) {
    for (std::size_t i = 0; i < layers.size(); ++i) h = layer_forward(i, h, ctx, inner, "forward");
    return h;
  }
  const std::size_t count = layers.size(), k = std::size_t(segments_);
  for (std::size_t s = 0; s < k; ++s) {
    Run run{count * s / k, count * (s + 1) / k, h, ctx.rng ? *ctx.rng : std::mt19937_64()};
    for (std::size_t i = run.begin; i < run.end; ++i) h = layer_forward(i, h, ctx, inner, "forward");
    if (s + 1 < k)  // keep only the run's input; the last run's backward comes at once
      for (std::size_t i = run.begin; i < run.end; ++i) layers[i]->release_cache();
    runs_.push_back(std::move(run));
  }
  return h;
}

std::vector<LayerCost> Sequential::layer_costs(const LayerTimes& times, bool input_gradient) {
  std::size_t stop = 0;  // as backward() below: the first layer whose backward runs
  if (!input_gradient)
    while (stop < layers.size() && !layers[stop]->trainable()) ++stop;
  std::vector<LayerCost> costs(layers.size());
  for (std::size_t i = 0; i < layers.size() && i < times.input_shapes.size(); ++i) {
    if (times.input_shapes[i].empty()) continue;
    costs[i] = layers[i]->cost(times.input_shapes[i], times.output_shapes[i], input_gradient || i != stop);
    if (i < stop) costs[i].backward_flops = costs[i].backward_bytes = 0;  // no backward runs
  }
  return costs;
}

Tensor Sequential::backward(const Tensor& dy, const Context& ctx) {
  // Without an input gradient, the first layer with trainable parameters is the last one to
  // run, and it need not compute its own dx.
  std::size_t stop = 0;
  if (!ctx.input_gradient)
    while (stop < layers.size() && !layers[stop]->trainable()) ++stop;
  Context inner = ctx;
  inner.input_gradient = true;
  inner.profile = nullptr, inner.trace = nullptr;
  inner.dy_disposable = true;  // each g below is dropped for the layer's result
  auto backward_through = [&](std::size_t begin, std::size_t end, Tensor g) {
    for (std::size_t i = end; i-- > begin;) {
      const bool last = !ctx.input_gradient && i == stop;
      if (last) inner.input_gradient = false;
      g = layer_backward(i, g, ctx, inner);
      if (last) return Tensor();
    }
    return g;
  };
  Tensor g = dy;
  if (runs_.empty()) {
    g = backward_through(0, layers.size(), g);
  } else {
    for (std::size_t r = runs_.size(); r-- > 0;) {
      Run& run = runs_[r];
      if (run.end <= stop) break;  // nothing before `stop` takes a gradient
      if (r + 1 < runs_.size()) {  // run the forward again, with the same random numbers
        Context again = inner;
        again.update_statistics = false;
        again.rng = ctx.rng ? &run.rng : nullptr;
        Tensor h = run.input;
        for (std::size_t i = run.begin; i < run.end; ++i) h = layer_forward(i, h, ctx, again, "recompute");
      }
      run.input = Tensor();
      g = backward_through(run.begin, run.end, g);
      if (!ctx.input_gradient && run.begin <= stop) break;
    }
    runs_.clear();
  }
  return ctx.input_gradient ? g : Tensor();
}

bool Sequential::runs_on_cuda() const {
  for (const ModulePtr& layer : layers)
    if (!layer->runs_on_cuda()) return false;
  return true;
}

void Sequential::release_cache() {
  runs_.clear();
  for (ModulePtr& layer : layers) layer->release_cache();
}

void Sequential::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  for (std::size_t i = 0; i < layers.size(); ++i) layers[i]->collect_parameters(prefix + std::to_string(i) + ".", out);
}
void Sequential::collect_buffers(const std::string& prefix, std::vector<Buffer>& out) {
  for (std::size_t i = 0; i < layers.size(); ++i) layers[i]->collect_buffers(prefix + std::to_string(i) + ".", out);
}

std::string Concat::describe() const {
  std::string out = "Concat(";
  for (std::size_t i = 0; i < branches.size(); ++i) out += (i ? " | " : "") + branches[i]->describe();
  return out + ")";
}

Tensor Concat::forward(const Tensor& x, const Context& ctx) {
  std::vector<Tensor> outs;
  widths_.clear();
  for (ModulePtr& b : branches) {
    outs.push_back(b->forward(x, ctx));
    require_rank(outs.back(), 4, "Concat branch output");
    widths_.push_back(outs.back().dim(1));
  }
  std::vector<std::int64_t> shape = outs.front().shape();
  shape[1] = 0;
  for (const Tensor& o : outs) {
    if (o.dim(0) != shape[0] || o.dim(2) != shape[2] || o.dim(3) != shape[3])
      throw std::invalid_argument("Concat: branch outputs differ in size (" + outs.front().shape_string() + " and " +
                                  o.shape_string() + ")");
    shape[1] += o.dim(1);
  }
  Tensor y = Tensor::uninitialized_on(x.device(), shape);  // every channel is written below
  const std::int64_t plane = shape[2] * shape[3];
  std::int64_t offset = 0;
  for (const Tensor& o : outs) {  // each image's block of o's channels into its slice of y
    copy_rows(x.device(), y.data() + offset * plane, shape[1] * plane, o.data(), o.dim(1) * plane, o.dim(1) * plane,
              shape[0]);
    offset += o.dim(1);
  }
  return y;
}

bool Concat::runs_on_cuda() const {
  for (const ModulePtr& b : branches)
    if (!b->runs_on_cuda()) return false;
  return true;
}

void Concat::release_cache() {
  for (ModulePtr& b : branches) b->release_cache();
}

Tensor Concat::backward(const Tensor& dy, const Context& ctx) {
  const std::int64_t n = dy.dim(0), channels = dy.dim(1), plane = dy.dim(2) * dy.dim(3);
  Tensor dx;
  std::int64_t offset = 0;
  for (std::size_t b = 0; b < branches.size(); ++b) {
    Tensor part = Tensor::uninitialized_on(dy.device(), {n, widths_[b], dy.dim(2), dy.dim(3)});
    copy_rows(dy.device(), part.data(), widths_[b] * plane, dy.data() + offset * plane, channels * plane,
              widths_[b] * plane, n);
    offset += widths_[b];
    Tensor g = branches[b]->backward(part, ctx);
    if (dx.empty())
      dx = g;
    else
      add_into(dx, g);
  }
  return dx;
}

void Concat::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) {
  for (std::size_t i = 0; i < branches.size(); ++i) branches[i]->collect_parameters(prefix + std::to_string(i) + ".", out);
}
void Concat::collect_buffers(const std::string& prefix, std::vector<Buffer>& out) {
  for (std::size_t i = 0; i < branches.size(); ++i) branches[i]->collect_buffers(prefix + std::to_string(i) + ".", out);
}

std::string Residual::describe() const { return "Residual(" + body_->describe() + ")"; }

Tensor Residual::forward(const Tensor& x, const Context& ctx) {
  Tensor y = body_->forward(x, ctx);
  if (!y.same_shape(x))
    throw std::invalid_argument("Residual: body maps " + x.shape_string() + " to " + y.shape_string());
  Tensor out = y.clone();
  add_into(out, x);
  return out;
}

Tensor Residual::backward(const Tensor& dy, const Context& ctx) {
  Context body = ctx;
  body.dy_disposable = false;  // dy is added below
  Tensor dx = body_->backward(dy, body).clone();
  add_into(dx, dy);
  return dx;
}

void Residual::collect_parameters(const std::string& prefix, std::vector<Parameter*>& out) { body_->collect_parameters(prefix + "body.", out); }
void Residual::collect_buffers(const std::string& prefix, std::vector<Buffer>& out) { body_->collect_buffers(prefix + "body.", out); }

}  // namespace flopslab::nn
