// See fuse.h. The plan is a tree of steps mirroring the model's containers; every step can
// write its output into a channel slice of a larger tensor and take a residual to add (with
// a ReLU after it), natively where its last operation is a convolution's GEMM and by an extra
// pass where it is not.
#include "nn/fuse.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>
#include <tuple>

#include "kernels/cpu/conv/fused.h"
#include "kernels/cpu/gemm/packed.h"

namespace flopslab::nn {

FoldedConv fold_batch_norm(const Conv2d& conv, const BatchNorm* bn) {
  FoldedConv f{conv.weight.value.clone(), conv.bias.value.clone()};
  if (bn == nullptr) return f;
  const std::int64_t k = f.bias.size(), per_filter = f.weight.size() / k;
  for (std::int64_t c = 0; c < k; ++c) {
    const double g = double(bn->weight.value[c]) / std::sqrt(double(bn->running_var[c]) + double(bn->eps()));
    for (std::int64_t i = 0; i < per_filter; ++i)
      f.weight[c * per_filter + i] = float(double(conv.weight.value[c * per_filter + i]) * g);
    f.bias[c] = float((double(conv.bias.value[c]) - double(bn->running_mean[c])) * g + double(bn->bias.value[c]));
  }
  return f;
}

namespace {
using conv::cpu::OutputSlice;

Context evaluation(int threads) { return Context{.training = false, .threads = threads}; }

// What the step's consumer asks of its output.
struct RunArgs {
  int threads = 1;
  conv::cpu::FusedConvRunner conv = conv::cpu::fused_forward;  // or the oneDNN peer
  const OutputSlice* into = nullptr;  // write the output's channels here (and return nothing)
  const Tensor* residual = nullptr;   // add this (same shape as the output) ...
  bool relu_after = false;            // ... and then apply a ReLU
  // The same engine and threads, nothing else asked.
  RunArgs plain() const { return {.threads = threads, .conv = conv}; }
};

// The generic end of a step that could not do what `a` asks inside its own kernel.
Tensor deliver(Tensor y, const RunArgs& a) {
  if (a.residual != nullptr)
    for (std::int64_t i = 0; i < y.size(); ++i) y[i] += (*a.residual)[i];
  if (a.relu_after)
    for (std::int64_t i = 0; i < y.size(); ++i) y[i] = std::max(y[i], 0.0f);
  if (a.into == nullptr) return y;
  const std::int64_t n = y.dim(0), image = y.size() / n;
  for (std::int64_t i = 0; i < n; ++i) std::copy_n(y.data() + i * image, image, a.into->base + i * a.into->image_stride);
  return {};
}

bool is_relu(const Module* m) {
  const auto* a = dynamic_cast<const Activation*>(m);
  return a != nullptr && a->kind() == ActivationKind::relu;
}

}  // namespace

class FusedStep {
 public:
  virtual ~FusedStep() = default;
  virtual std::string describe() const = 0;
  // The output, or an empty tensor when a.into received it.
  virtual Tensor run(const Tensor& x, const RunArgs& a) = 0;
  // Takes a residual / a slice inside its kernel (no extra pass).
  virtual bool fuses_residual() const { return false; }
  virtual bool writes_slice() const { return false; }
  // The layers this step replaces, run unfused in evaluation mode.
  Tensor reference(const Tensor& x, int threads) {
    Tensor y = x;
    for (Module* m : originals) y = m->forward(y, evaluation(threads));
    for (Module* m : originals) m->release_cache();
    return y;
  }
  std::vector<Module*> originals;
};

namespace {

// Conv2d (+ BatchNorm folded) (+ ReLU): one GEMM with its epilogue.
class ConvStep : public FusedStep {
 public:
  ConvStep(Conv2d& conv, BatchNorm* bn, bool relu) : conv_(conv), bn_(bn), relu_(relu), folded_(fold_batch_norm(conv, bn)) {}
  std::string describe() const override {
    return conv_.describe() + (bn_ != nullptr ? " + BatchNorm folded" : "") + (relu_ ? " + ReLU" : "") + " (epilogue)";
  }
  bool fuses_residual() const override { return !relu_; }
  bool writes_slice() const override { return true; }
  const conv::Shape& shape() const { return conv_.shape(); }
  bool relu() const { return relu_; }
  const FoldedConv& folded() const { return folded_; }
  bool is_plain_1x1() const {
    const conv::Shape& s = conv_.shape();
    return s.r == 1 && s.s == 1 && s.stride_h == 1 && s.stride_w == 1 && s.pad_h == 0 && s.pad_w == 0 && s.groups == 1;
  }
  conv::Shape shape_for(const Tensor& x) const {
    if (x.rank() != 4 || x.dim(1) != conv_.shape().c)
      throw std::invalid_argument(describe() + ": input " + x.shape_string());
    conv::Shape s = conv_.shape();
    s.n = x.dim(0), s.h = x.dim(2), s.w = x.dim(3);
    return s;
  }
  Tensor run(const Tensor& x, const RunArgs& a) override {
    const conv::Shape s = shape_for(x);
    if (a.residual != nullptr && relu_) {  // ReLU before the add: not this epilogue's order
      return deliver(run(x, a.plain()), a);
    }
    Tensor y;
    conv::cpu::FusedConv layer{.shape = s, .weight = folded_.weight.data(), .shift = folded_.bias.data(),
                               .residual = a.residual != nullptr ? a.residual->data() : nullptr,
                               .residual_image_stride = s.k * s.p() * s.q(), .relu = relu_ || a.relu_after};
    if (a.into != nullptr) {
      layer.outputs.push_back(*a.into);
    } else {
      y = Tensor::uninitialized({s.n, s.k, s.p(), s.q()});  // the epilogue writes every element
      layer.outputs.push_back({s.k, y.data(), s.k * s.p() * s.q()});
    }
    a.conv(layer, x.data(), a.threads);
    return y;
  }

 private:
  Conv2d& conv_;
  BatchNorm* bn_;
  bool relu_;
  FoldedConv folded_;
};

// Linear (+ ReLU): y = x W^T with the bias (per column) and ReLU in the epilogue.
class LinearStep : public FusedStep {
 public:
  LinearStep(Linear& linear, bool relu) : linear_(linear), relu_(relu) {
    const std::int64_t out = linear.weight.value.dim(0), in = linear.weight.value.dim(1);
    w_t_ = Tensor::uninitialized({in, out});
    for (std::int64_t o = 0; o < out; ++o)
      for (std::int64_t i = 0; i < in; ++i) w_t_[i * out + o] = linear.weight.value[o * in + i];
  }
  std::string describe() const override { return linear_.describe() + (relu_ ? " + ReLU" : "") + " (epilogue)"; }
  Tensor run(const Tensor& x, const RunArgs& a) override {
    const std::int64_t n = x.dim(0), in = w_t_.dim(0), out = w_t_.dim(1);
    if (x.rank() != 2 || x.dim(1) != in) throw std::invalid_argument(describe() + ": input " + x.shape_string());
    Tensor y = Tensor::uninitialized({n, out});
    const gemm::packed::BRowReader rows = [&](std::int64_t row, std::int64_t col0, std::int64_t cols, float* dst) {
      std::copy_n(w_t_.data() + row * out + col0, cols, dst);
    };
    gemm::packed::gemm_packed_fused({n, out, in}, x.data(), in, rows, y.data(), out,
                                    {.col_shift = linear_.bias.value.data(), .relu = relu_}, a.threads);
    return deliver(std::move(y), a);
  }

 private:
  Linear& linear_;
  bool relu_;
  Tensor w_t_;  // in x out
};

// A layer that runs as it is (pooling, flatten, ...).
class LayerStep : public FusedStep {
 public:
  explicit LayerStep(Module& m) : m_(m) {}
  std::string describe() const override { return m_.describe(); }
  Tensor run(const Tensor& x, const RunArgs& a) override {
    Tensor y = m_.forward(x, evaluation(a.threads));
    m_.release_cache();
    return deliver(std::move(y), a);
  }

 private:
  Module& m_;
};

class SequenceStep : public FusedStep {
 public:
  std::string describe() const override {
    std::string out;
    for (const auto& s : steps) out += (out.empty() ? "" : ", ") + s->describe();
    return "[" + out + "]";
  }
  bool fuses_residual() const override { return !steps.empty() && steps.back()->fuses_residual(); }
  bool writes_slice() const override { return !steps.empty() && steps.back()->writes_slice(); }
  Tensor run(const Tensor& x, const RunArgs& a) override {
    if (steps.empty()) return deliver(x.clone(), a);
    Tensor y = x;
    for (std::size_t i = 0; i + 1 < steps.size(); ++i) y = steps[i]->run(y, a.plain());
    return steps.back()->run(y, a);
  }
  std::vector<std::unique_ptr<FusedStep>> steps;
};

// x + body(x) (+ ReLU): the add and the ReLU in the body's last epilogue.
class ResidualStep : public FusedStep {
 public:
  ResidualStep(std::unique_ptr<SequenceStep> body, bool relu_after) : body_(std::move(body)), relu_after_(relu_after) {}
  std::string describe() const override {
    return std::string("Residual") + (body_->fuses_residual() ? " (add" + std::string(relu_after_ ? " + ReLU" : "") +
                                                                     " in the last epilogue)"
                                                               : "") +
           " " + body_->describe();
  }
  bool writes_slice() const override { return body_->writes_slice(); }
  Tensor run(const Tensor& x, const RunArgs& a) override {
    if (a.residual != nullptr || a.relu_after) {  // a residual of a residual: finish by hand
      return deliver(run(x, a.plain()), a);
    }
    return body_->run(x, {.threads = a.threads, .conv = a.conv, .into = a.into, .residual = &x, .relu_after = relu_after_});
  }

 private:
  std::unique_ptr<SequenceStep> body_;
  bool relu_after_;
};

// Branches over the same input, concatenated along channels: the opening 1x1 convolutions
// stacked into one GEMM, every branch writing into its slice.
class ConcatStep : public FusedStep {
 public:
  ConcatStep(Concat& concat, std::vector<std::unique_ptr<SequenceStep>> branches, FusionCounts& counts)
      : concat_(concat), branches_(std::move(branches)) {
    std::vector<ConvStep*> heads;
    for (auto& b : branches_) {
      auto* head = b->steps.empty() ? nullptr : dynamic_cast<ConvStep*>(b->steps.front().get());
      heads.push_back(head != nullptr && head->is_plain_1x1() && head->relu() ? head : nullptr);
    }
    if (std::count_if(heads.begin(), heads.end(), [](ConvStep* h) { return h != nullptr; }) >= 2) {
      stacked_ = heads;
      std::int64_t k = 0, c = 0;
      for (ConvStep* h : heads)
        if (h != nullptr) k += h->shape().k, c = h->shape().c;
      weight_ = Tensor::uninitialized({k, c, 1, 1}), bias_ = Tensor::uninitialized({k});
      std::int64_t row = 0;
      for (ConvStep* h : heads) {
        if (h == nullptr) continue;
        std::copy_n(h->folded().weight.data(), h->folded().weight.size(), weight_.data() + row * c);
        std::copy_n(h->folded().bias.data(), h->shape().k, bias_.data() + row);
        row += h->shape().k;
      }
      stacked_shape_ = (*std::find_if(heads.begin(), heads.end(), [](ConvStep* h) { return h != nullptr; }))->shape();
      stacked_shape_.k = k;
      ++counts.stacked_gemms;
      counts.stacked_convolutions += int(std::count_if(heads.begin(), heads.end(), [](ConvStep* h) { return h != nullptr; }));
    }
    for (std::size_t i = 0; i < branches_.size(); ++i) {
      const bool head_only = !stacked_.empty() && stacked_[i] != nullptr && branches_[i]->steps.size() == 1;
      if (head_only || branches_[i]->writes_slice()) ++counts.concat_copies_removed;
      else ++counts.concat_copies_left;
    }
  }
  std::string describe() const override {
    std::string out = "Concat of " + std::to_string(branches_.size()) + " branches";
    if (!stacked_.empty()) out += ", opening 1x1s stacked into one GEMM (" + std::to_string(stacked_shape_.k) + " filters)";
    out += ", written into their slices:";
    for (const auto& b : branches_) out += " " + b->describe();
    return out;
  }
  bool writes_slice() const override { return true; }
  Tensor run(const Tensor& x, const RunArgs& a) override {
    if (a.residual != nullptr || a.relu_after) return deliver(run(x, a.plain()), a);
    const auto& [channels, p, q] = branch_shapes(x, a.threads);
    std::int64_t total = 0;
    for (std::int64_t c : channels) total += c;
    const std::int64_t n = x.dim(0), plane = p * q;
    Tensor y;
    OutputSlice whole = a.into != nullptr ? *a.into : OutputSlice{total, nullptr, total * plane};
    if (a.into == nullptr) {
      y = Tensor::uninitialized({n, total, p, q});  // the branches write every channel
      whole.base = y.data();
    }
    std::vector<OutputSlice> slices;
    for (std::int64_t offset = 0, i = 0; i < std::int64_t(channels.size()); offset += channels[std::size_t(i)], ++i)
      slices.push_back({channels[std::size_t(i)], whole.base + offset * plane, whole.image_stride});
    // The stacked GEMM: a head that is its branch's whole body writes into the slice, the
    // others into a tensor of their own for the rest of their branch.
    std::vector<Tensor> head_out(branches_.size());
    if (!stacked_.empty()) {
      conv::cpu::FusedConv layer{.shape = stacked_shape_, .weight = weight_.data(), .shift = bias_.data(), .relu = true};
      layer.shape.n = n, layer.shape.h = x.dim(2), layer.shape.w = x.dim(3);
      if (x.dim(1) != layer.shape.c) throw std::invalid_argument(describe() + ": input " + x.shape_string());
      for (std::size_t i = 0; i < branches_.size(); ++i) {
        if (stacked_[i] == nullptr) continue;
        const std::int64_t k = stacked_[i]->shape().k;
        if (branches_[i]->steps.size() == 1) {
          layer.outputs.push_back(slices[i]);
        } else {
          head_out[i] = Tensor::uninitialized({n, k, x.dim(2), x.dim(3)});
          layer.outputs.push_back({k, head_out[i].data(), k * x.dim(2) * x.dim(3)});
        }
      }
      a.conv(layer, x.data(), a.threads);
    }
    for (std::size_t i = 0; i < branches_.size(); ++i) {
      SequenceStep& b = *branches_[i];
      if (!stacked_.empty() && stacked_[i] != nullptr) {
        if (b.steps.size() == 1) continue;  // done by the stacked GEMM
        Tensor h = head_out[i];
        for (std::size_t s = 1; s + 1 < b.steps.size(); ++s) h = b.steps[s]->run(h, a.plain());
        b.steps.back()->run(h, {.threads = a.threads, .conv = a.conv, .into = &slices[i]});
      } else {
        b.run(x, {.threads = a.threads, .conv = a.conv, .into = &slices[i]});
      }
    }
    return y;
  }

 private:
  // Each branch's output channels and the common plane, found once per input shape by
  // running the unfused branches on one image.
  const std::tuple<std::vector<std::int64_t>, std::int64_t, std::int64_t>& branch_shapes(const Tensor& x, int threads) {
    const auto key = std::make_tuple(x.dim(1), x.dim(2), x.dim(3));
    auto it = shapes_.find(key);
    if (it != shapes_.end()) return it->second;
    const Tensor one({1, x.dim(1), x.dim(2), x.dim(3)});
    std::vector<std::int64_t> channels;
    std::int64_t p = -1, q = -1;
    for (ModulePtr& b : concat_.branches) {
      const Tensor y = b->forward(one, evaluation(threads));
      b->release_cache();
      if (y.rank() != 4 || (p >= 0 && (y.dim(2) != p || y.dim(3) != q)))
        throw std::invalid_argument("Concat: branch outputs differ in size");
      channels.push_back(y.dim(1)), p = y.dim(2), q = y.dim(3);
    }
    return shapes_.emplace(key, std::make_tuple(channels, p, q)).first->second;
  }
  Concat& concat_;
  std::vector<std::unique_ptr<SequenceStep>> branches_;
  std::vector<ConvStep*> stacked_;  // per branch: its head when stacked, else null
  Tensor weight_, bias_;            // the stacked heads' folded weights and biases
  conv::Shape stacked_shape_;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t>, std::tuple<std::vector<std::int64_t>, std::int64_t, std::int64_t>> shapes_;
};

std::unique_ptr<SequenceStep> compile(std::vector<ModulePtr>& layers, FusionCounts& counts);

std::unique_ptr<SequenceStep> compile_module(Module& m, FusionCounts& counts) {
  if (auto* seq = dynamic_cast<Sequential*>(&m)) return compile(seq->layers, counts);
  auto out = std::make_unique<SequenceStep>();
  // A single layer as a body: wrap it without taking ownership.
  if (auto* conv = dynamic_cast<Conv2d*>(&m)) {
    out->steps.push_back(std::make_unique<ConvStep>(*conv, nullptr, false));
    ++counts.fused_epilogues, ++counts.passes_removed;
  } else {
    out->steps.push_back(std::make_unique<LayerStep>(m));
  }
  out->steps.back()->originals = {&m};
  return out;
}

std::unique_ptr<SequenceStep> compile(std::vector<ModulePtr>& layers, FusionCounts& counts) {
  auto out = std::make_unique<SequenceStep>();
  for (std::size_t i = 0; i < layers.size(); ++i) {
    Module* m = layers[i].get();
    Module* next = i + 1 < layers.size() ? layers[i + 1].get() : nullptr;
    std::unique_ptr<FusedStep> step;
    std::vector<Module*> originals = {m};
    if (auto* conv = dynamic_cast<Conv2d*>(m)) {
      auto* bn = dynamic_cast<BatchNorm*>(next);
      if (bn != nullptr) originals.push_back(bn), ++i;
      Module* after = i + 1 < layers.size() ? layers[i + 1].get() : nullptr;
      const bool relu = is_relu(after);
      if (relu) originals.push_back(after), ++i;
      step = std::make_unique<ConvStep>(*conv, bn, relu);
      counts.folded_batch_norms += bn != nullptr;
      ++counts.fused_epilogues;
      counts.passes_removed += 1 + (bn != nullptr) + relu;  // the bias, BN and ReLU passes
    } else if (auto* linear = dynamic_cast<Linear*>(m)) {
      const bool relu = is_relu(next);
      if (relu) originals.push_back(next), ++i;
      step = std::make_unique<LinearStep>(*linear, relu);
      ++counts.fused_epilogues;
      counts.passes_removed += 1 + relu;
    } else if (auto* residual = dynamic_cast<Residual*>(m)) {
      const bool relu = is_relu(next);
      if (relu) originals.push_back(next), ++i;
      auto body = compile_module(residual->body(), counts);
      if (body->fuses_residual()) counts.passes_removed += 1 + relu;
      step = std::make_unique<ResidualStep>(std::move(body), relu);
    } else if (auto* concat = dynamic_cast<Concat*>(m)) {
      std::vector<std::unique_ptr<SequenceStep>> branches;
      for (ModulePtr& b : concat->branches) branches.push_back(compile_module(*b, counts));
      step = std::make_unique<ConcatStep>(*concat, std::move(branches), counts);
    } else if (auto* seq = dynamic_cast<Sequential*>(m)) {
      step = compile(seq->layers, counts);
    } else {
      step = std::make_unique<LayerStep>(*m);
    }
    step->originals = originals;
    out->steps.push_back(std::move(step));
  }
  return out;
}

}  // namespace

OutputDifference output_difference(const Tensor& got, const Tensor& want) {
  if (!got.same_shape(want)) throw std::logic_error("output_difference: " + got.shape_string() + " against " + want.shape_string());
  double diff = 0, scale = 0;
  for (std::int64_t i = 0; i < got.size(); ++i) {
    diff = std::max(diff, double(std::abs(got[i] - want[i])));
    scale = std::max(scale, double(std::abs(want[i])));
  }
  return {diff, scale > 0 ? diff / scale : diff};
}

InferencePlan::InferencePlan(Sequential& model) {
  auto top = compile(model.layers, counts_);
  steps_ = std::move(top->steps);
}
InferencePlan::~InferencePlan() = default;
InferencePlan::InferencePlan(InferencePlan&&) noexcept = default;

namespace {
RunArgs args_for(int threads, ConvEngine engine) {
  return {.threads = threads,
          .conv = engine == ConvEngine::onednn ? conv::cpu::onednn_fused_forward : conv::cpu::fused_forward};
}
}  // namespace

Tensor InferencePlan::run_step(std::size_t i, const Tensor& x, int threads, ConvEngine engine) {
  return steps_.at(i)->run(x, args_for(threads, engine));
}
Tensor InferencePlan::run_step_unfused(std::size_t i, const Tensor& x, int threads) {
  return steps_.at(i)->reference(x, threads);
}

Tensor InferencePlan::forward(const Tensor& x, int threads, ConvEngine engine) {
  const RunArgs args = args_for(threads, engine);
  Tensor y = x;
  for (auto& step : steps_) y = step->run(y, args);
  return y;
}

std::vector<std::string> InferencePlan::describe() const {
  std::vector<std::string> out;
  for (const auto& step : steps_) out.push_back(step->describe());
  return out;
}

std::vector<InferencePlan::StepError> InferencePlan::compare_steps(const Tensor& x, int threads) {
  std::vector<StepError> out;
  Tensor y = x;
  for (auto& step : steps_) {
    Tensor fused = step->run(y, {.threads = threads});
    const Tensor unfused = step->reference(y, threads);
    const OutputDifference d = output_difference(fused, unfused);
    out.push_back({step->describe(), d.max_abs, d.relative});
    y = std::move(fused);
  }
  return out;
}

Tensor FusedModel::forward(const Tensor& x, const Context& ctx) {
  if (ctx.training) throw std::logic_error("a fused model runs in evaluation mode only");
  return plan_.forward(x, ctx.threads);
}
Tensor FusedModel::backward(const Tensor&, const Context&) {
  throw std::logic_error("a fused model has no backward: train the model it was compiled from");
}

}  // namespace flopslab::nn
