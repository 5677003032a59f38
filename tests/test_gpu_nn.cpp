// The training stack's GPU halves against their CPU halves on identical inputs: Linear
// (forward, dx, dW, db; own GEMM and cuBLAS), every activation, cross-entropy, the fused
// multi-tensor optimizer steps, a few MLP training steps end to end, device-independent
// checkpoints, and the caching allocator reusing its blocks. Float32 on both sides; the
// bound is stated per check (the GPU sums in another order, and its expf differs by an ulp).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nn/checkpoint.h"
#include "nn/data.h"
#include "nn/device_data.h"
#include "nn/grad_scaler.h"
#include "nn/graph.h"
#include "nn/device.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/memory.h"
#include "nn/optim.h"
#include "nn/train.h"
#include "tests/random_tensor.h"

using namespace flopslab;
using namespace flopslab::nn;
using flopslab::tests::random_tensor;

namespace {

// max |a - b| / max(max |b|, 1e-30): a GPU result against the CPU's.
double relative_difference(const Tensor& gpu, const Tensor& cpu) {
  const Tensor a = gpu.to(DeviceTag::cpu), b = cpu.to(DeviceTag::cpu);
  REQUIRE(a.shape() == b.shape());
  double worst = 0, scale = 1e-30;
  for (std::int64_t i = 0; i < a.size(); ++i) {
    if (std::isnan(a[i]) != std::isnan(b[i])) return std::numeric_limits<double>::infinity();  // max() would skip it
    worst = std::max(worst, std::fabs(double(a[i]) - double(b[i])));
    scale = std::max(scale, std::fabs(double(b[i])));
  }
  return worst / scale;
}

// One training-mode forward and backward of the same layer on both devices (gpu a copy of
// cpu moved to the GPU), then output, dx and every parameter gradient compared.
void check_layer_on_both(Module& cpu, Module& gpu, const Tensor& x, std::uint64_t seed, double bound,
                         GpuBackend backend = GpuBackend::own, bool training = true) {
  std::mt19937_64 rng_cpu(seed), rng_gpu(seed);  // dropout draws the same mask from the same generator
  Context cpu_ctx{.training = training, .rng = &rng_cpu};
  Context gpu_ctx{.training = training, .rng = &rng_gpu};
  gpu_ctx.gpu_backend = backend;
  const Tensor y_cpu = cpu.forward(x, cpu_ctx), y_gpu = gpu.forward(x.to(DeviceTag::cuda), gpu_ctx);
  REQUIRE(y_gpu.on_cuda());
  // A bound of 0 means equality (dropout's mask, a shuffle, a reshape): hence <=.
  CHECK(relative_difference(y_gpu, y_cpu) <= bound);
  std::mt19937_64 grads(seed + 1);
  const Tensor dy = random_tensor(y_cpu.shape(), grads);
  const Tensor dx_cpu = cpu.backward(dy, cpu_ctx), dx_gpu = gpu.backward(dy.to(DeviceTag::cuda), gpu_ctx);
  CHECK(relative_difference(dx_gpu, dx_cpu) <= bound);
  const auto cpu_params = cpu.parameters(), gpu_params = gpu.parameters();
  REQUIRE(cpu_params.size() == gpu_params.size());
  for (std::size_t i = 0; i < cpu_params.size(); ++i) {
    CAPTURE(cpu_params[i]->name);
    CHECK(relative_difference(gpu_params[i]->grad, cpu_params[i]->grad) <= bound);
  }
}

}  // namespace

TEST_CASE("tensors go to the GPU and back unchanged, and fill and clone work there") {
  std::mt19937_64 rng(1);
  const Tensor x = random_tensor({3, 1000}, rng);
  const Tensor on_gpu = x.to(DeviceTag::cuda);
  CHECK(on_gpu.on_cuda());
  CHECK(on_gpu.to(DeviceTag::cuda).data() == on_gpu.data());  // already there: no copy
  const Tensor copy = on_gpu.clone();
  CHECK(copy.on_cuda());
  CHECK(copy.data() != on_gpu.data());
  CHECK(relative_difference(copy, x) == 0.0);
  Tensor filled = Tensor::uninitialized_on(DeviceTag::cuda, {7, 9});
  filled.fill(2.5f);
  const Tensor back = filled.to(DeviceTag::cpu);
  for (std::int64_t i = 0; i < back.size(); ++i) REQUIRE(back[i] == 2.5f);
  CHECK(Tensor::zeros_on(DeviceTag::cuda, {5}).to(DeviceTag::cpu)[4] == 0.0f);

  // Uploads through one pinned buffer, back to back, a larger one last: each arrives whole.
  PinnedUploader uploader;
  const Tensor a = random_tensor({1000}, rng), b = random_tensor({1000}, rng), c = random_tensor({5000}, rng);
  const Tensor ua = uploader.upload(a), ub = uploader.upload(b), uc = uploader.upload(c);
  CHECK(relative_difference(ua, a) == 0.0);
  CHECK(relative_difference(ub, b) == 0.0);
  CHECK(relative_difference(uc, c) == 0.0);
}

TEST_CASE("the GPU's caching allocator reuses freed blocks and counts live bytes") {
  const std::int64_t live_before = memory::usage(DeviceTag::cuda).live;
  { Tensor warm = Tensor::uninitialized_on(DeviceTag::cuda, {1 << 20}); }
  const auto before = memory::device_cache_stats();
  for (int i = 0; i < 10; ++i) {
    Tensor t = Tensor::uninitialized_on(DeviceTag::cuda, {1 << 20});  // 4 MiB, the same class every time
    CHECK(memory::usage(DeviceTag::cuda).live == live_before + (4 << 20));
  }
  const auto after = memory::device_cache_stats();
  CHECK(after.raw_allocations == before.raw_allocations);  // no cudaMalloc in the loop
  CHECK(after.reuses == before.reuses + 10);
  CHECK(memory::usage(DeviceTag::cuda).live == live_before);
}

TEST_CASE("Linear on the GPU matches the CPU: forward, dx, dW and db, with both backends") {
  for (GpuBackend backend : {GpuBackend::own, GpuBackend::vendor}) {
    for (auto [n, in, out] : {std::tuple{64, 784, 256}, std::tuple{37, 129, 10}, std::tuple{1, 5, 3}}) {
      const int backend_index = int(backend);
      CAPTURE(n);
      CAPTURE(in);
      CAPTURE(out);
      CAPTURE(backend_index);
      std::mt19937_64 rng(2);
      Linear cpu(in, out, rng);
      std::mt19937_64 same(2);
      Linear gpu(in, out, same);
      move_to(gpu, DeviceTag::cuda);
      const Tensor x = random_tensor({n, in}, rng), dy = random_tensor({n, out}, rng);
      Context ctx;
      ctx.gpu_backend = backend;
      const Tensor y_cpu = cpu.forward(x, ctx), y_gpu = gpu.forward(x.to(DeviceTag::cuda), ctx);
      CHECK(y_gpu.on_cuda());
      CHECK(relative_difference(y_gpu, y_cpu) < 1e-5);
      const Tensor dx_cpu = cpu.backward(dy, ctx), dx_gpu = gpu.backward(dy.to(DeviceTag::cuda), ctx);
      CHECK(relative_difference(dx_gpu, dx_cpu) < 1e-5);
      CHECK(relative_difference(gpu.weight.grad, cpu.weight.grad) < 1e-5);
      CHECK(relative_difference(gpu.bias.grad, cpu.bias.grad) < 1e-5);
    }
  }
}

TEST_CASE("every activation on the GPU matches the CPU, forward and backward") {
  for (ActivationKind kind : {ActivationKind::relu, ActivationKind::leaky_relu, ActivationKind::relu6,
                              ActivationKind::sigmoid, ActivationKind::tanh, ActivationKind::softplus}) {
    CAPTURE(activation_name(kind));
    std::mt19937_64 rng(3);
    const Tensor x = random_tensor({17, 301}, rng, -8, 8), dy = random_tensor({17, 301}, rng);
    Activation cpu(kind), gpu(kind);
    const Context ctx;
    CHECK(relative_difference(gpu.forward(x.to(DeviceTag::cuda), ctx), cpu.forward(x, ctx)) < 1e-6);
    CHECK(relative_difference(gpu.backward(dy.to(DeviceTag::cuda), ctx), cpu.backward(dy, ctx)) < 1e-6);
  }
}

TEST_CASE("cross-entropy on the GPU matches the CPU: loss and gradient, refusing bad labels") {
  std::mt19937_64 rng(4);
  const Tensor logits = random_tensor({200, 10}, rng, -20, 20);
  std::vector<std::int64_t> labels(200);
  for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = std::int64_t(rng() % 10);
  const LossResult cpu = cross_entropy(logits, labels), gpu = cross_entropy(logits.to(DeviceTag::cuda), labels);
  CHECK(gpu.grad.on_cuda());
  CHECK(gpu.loss == doctest::Approx(cpu.loss).epsilon(1e-5));
  CHECK(relative_difference(gpu.grad, cpu.grad) < 1e-5);
  labels[3] = 10;
  CHECK_THROWS_WITH(cross_entropy(logits.to(DeviceTag::cuda), labels), doctest::Contains("label 10"));
}

TEST_CASE("the multi-tensor optimizer steps on the GPU match the CPU's for every optimizer") {
  // The MLP (6 tensors), and 30 Linear layers: 60 tensors, more than one launch's 48 slots, so
  // the second table of the multi-tensor launch runs too.
  auto make = [](bool many, std::mt19937_64& rng) {
    if (!many) return make_model("mlp", rng);
    auto model = std::make_unique<Sequential>();
    for (int i = 0; i < 30; ++i) model->add(std::make_unique<Linear>(8 + i % 3, 8 + (i + 1) % 3, rng));
    return model;
  };
  for (const bool many : {false, true})
    for (const std::string& name : optimizer_names()) {
      CAPTURE(name);
      CAPTURE(many);
      std::mt19937_64 rng(5), same(5);
      auto cpu_model = make(many, rng), gpu_model = make(many, same);
      if (many) REQUIRE(gpu_model->parameters().size() > 48);
      move_to(*gpu_model, DeviceTag::cuda);
      auto cpu_opt = make_optimizer(name, cpu_model->parameters(), 1e-2, 1e-3);
      auto gpu_opt = make_optimizer(name, gpu_model->parameters(), 1e-2, 1e-3);
      for (int step = 0; step < 3; ++step) {
        std::mt19937_64 grads(10 + step);
        for (std::size_t i = 0; i < cpu_model->parameters().size(); ++i) {
          const Tensor g = random_tensor(cpu_model->parameters()[i]->value.shape(), grads);
          cpu_model->parameters()[i]->grad = g;
          gpu_model->parameters()[i]->grad = g.to(DeviceTag::cuda);
        }
        cpu_opt->step();
        gpu_opt->step();
      }
      for (std::size_t i = 0; i < cpu_model->parameters().size(); ++i)
        CHECK(relative_difference(gpu_model->parameters()[i]->value, cpu_model->parameters()[i]->value) < 1e-5);
    }
}

TEST_CASE("Conv2d on the GPU matches the CPU in all three passes, with both backends") {
  const conv::Shape layers[] = {
      {.c = 1, .k = 16, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1},
      {.c = 16, .k = 32, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1},
      {.c = 8, .k = 12, .r = 5, .s = 3, .stride_h = 2, .stride_w = 2, .pad_h = 2, .pad_w = 1},
      {.c = 8, .k = 8, .r = 1, .s = 7, .pad_h = 0, .pad_w = 3},
      {.c = 16, .k = 16, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1, .groups = 4},
  };
  for (GpuBackend backend : {GpuBackend::own, GpuBackend::vendor})
    for (const conv::Shape& layer : layers) {
      std::mt19937_64 rng(11), same(11);
      Conv2d cpu(layer, rng), gpu(layer, same);
      const std::string layer_name = cpu.describe();
      CAPTURE(layer_name);
      move_to(gpu, DeviceTag::cuda);
      // cuDNN may pick an FFT or Winograd algorithm, whose rounding is coarser than a direct sum's.
      const double bound = backend == GpuBackend::own ? 1e-5 : 1e-4;
      check_layer_on_both(cpu, gpu, random_tensor({4, layer.c, 14, 14}, rng), 12, bound, backend);
    }
}

TEST_CASE("BatchNorm on the GPU matches the CPU: batch statistics, running statistics, evaluation") {
  for (std::vector<std::int64_t> shape : {std::vector<std::int64_t>{8, 6, 7, 7}, std::vector<std::int64_t>{32, 10}}) {
    std::mt19937_64 rng(13);
    BatchNorm cpu(shape[1]), gpu(shape[1]);
    move_to(gpu, DeviceTag::cuda);
    const Tensor x = random_tensor(shape, rng, -3, 5);
    check_layer_on_both(cpu, gpu, x, 14, 1e-5);
    CHECK(relative_difference(gpu.running_mean, cpu.running_mean) < 1e-6);
    CHECK(relative_difference(gpu.running_var, cpu.running_var) < 1e-6);
    check_layer_on_both(cpu, gpu, x, 15, 1e-5, GpuBackend::own, /*training=*/false);
  }
}

TEST_CASE("pooling, dropout, shuffle, flatten and the containers on the GPU match the CPU") {
  std::mt19937_64 rng(16);
  const Tensor x = random_tensor({4, 8, 9, 9}, rng);
  for (auto [kind, kernel, stride, pad] : {std::tuple{PoolKind::max, 2, 2, 0}, std::tuple{PoolKind::max, 3, 1, 1},
                                           std::tuple{PoolKind::average, 3, 2, 1}, std::tuple{PoolKind::average, 2, 2, 0}}) {
    Pool2d cpu(kind, kernel, stride, pad), gpu(kind, kernel, stride, pad);
    CAPTURE(cpu.describe());
    check_layer_on_both(cpu, gpu, x, 17, 1e-6);
  }
  GlobalAvgPool cpu_gap, gpu_gap;
  check_layer_on_both(cpu_gap, gpu_gap, x, 18, 1e-6);
  Dropout cpu_drop(0.3f), gpu_drop(0.3f);
  check_layer_on_both(cpu_drop, gpu_drop, x, 19, 0.0);
  ChannelShuffle cpu_shuffle(4), gpu_shuffle(4);
  check_layer_on_both(cpu_shuffle, gpu_shuffle, x, 20, 0.0);
  Flatten cpu_flat, gpu_flat;
  check_layer_on_both(cpu_flat, gpu_flat, x, 21, 0.0);
}

TEST_CASE("every model trained for a few steps on the GPU follows the CPU, and its checkpoint loads on the CPU") {
  for (const std::string& name : model_names()) {
    CAPTURE(name);
    std::mt19937_64 rng(6), same(6);
    auto cpu_model = make_model(name, rng);
    auto gpu_model = make_model(name, same);
    move_to(*gpu_model, DeviceTag::cuda);
    // SGD with momentum: its update is linear in the gradient, so the GPU's other order of
    // summation stays a rounding difference (Adam's first step is the gradient's sign, which
    // a rounding can flip where a gradient nearly cancels).
    auto cpu_opt = make_optimizer("sgd", cpu_model->parameters(), 0.02, 0.0);
    auto gpu_opt = make_optimizer("sgd", gpu_model->parameters(), 0.02, 0.0);
    std::mt19937_64 data(7), drop_cpu(8), drop_gpu(8);
    for (int step = 0; step < 5; ++step) {
      const Tensor x = random_tensor({32, 1, 28, 28}, data, 0, 1);
      std::vector<std::int64_t> y(32);
      for (auto& label : y) label = std::int64_t(data() % 10);
      const Context cpu_ctx{.rng = &drop_cpu, .input_gradient = false};
      Context gpu_ctx{.rng = &drop_gpu, .input_gradient = false};
      const LossResult cpu_loss = cross_entropy(cpu_model->forward(x, cpu_ctx), y);
      const LossResult gpu_loss = cross_entropy(gpu_model->forward(x.to(DeviceTag::cuda), gpu_ctx), y);
      CHECK(gpu_loss.loss == doctest::Approx(cpu_loss.loss).epsilon(1e-4));
      cpu_model->backward(cpu_loss.grad, cpu_ctx);
      gpu_model->backward(gpu_loss.grad, gpu_ctx);
      cpu_opt->step();
      gpu_opt->step();
    }
    const auto cpu_params = cpu_model->parameters(), gpu_params = gpu_model->parameters();
    for (std::size_t i = 0; i < cpu_params.size(); ++i) {
      CAPTURE(cpu_params[i]->name);
      CHECK(relative_difference(gpu_params[i]->value, cpu_params[i]->value) < 1e-4);
    }
    // Written from the GPU, read on the CPU: the same values.
    const std::string bytes = serialize_checkpoint(*gpu_model, *gpu_opt, {name, 1});
    std::mt19937_64 other(9);
    auto restored = make_model(name, other);
    auto restored_opt = make_optimizer("sgd", restored->parameters(), 0.02, 0.0);
    restore_checkpoint(bytes, "gpu checkpoint", name, *restored, *restored_opt);
    const auto restored_params = restored->parameters();
    for (std::size_t i = 0; i < restored_params.size(); ++i)
      CHECK(relative_difference(gpu_params[i]->value, restored_params[i]->value) == 0.0);
    // And into a model on the GPU, the optimizer state with it.
    auto again = make_model(name, other);
    move_to(*again, DeviceTag::cuda);
    auto again_opt = make_optimizer("sgd", again->parameters(), 0.02, 0.0);
    restore_checkpoint(bytes, "gpu checkpoint", name, *again, *again_opt);
    CHECK(again->parameters().back()->value.on_cuda());
    CHECK(relative_difference(again->parameters().back()->value, restored_params.back()->value) == 0.0);
  }
}

TEST_CASE("a CUDA graph of the step trains exactly as the eager step, with fewer launches") {
  for (const std::string& name : {std::string("mlp"), std::string("cnn")}) {
    CAPTURE(name);
    std::mt19937_64 rng(21), same(21);
    auto eager = make_model(name, rng);
    auto graphed_model = make_model(name, same);
    move_to(*eager, DeviceTag::cuda);
    move_to(*graphed_model, DeviceTag::cuda);
    // SGD, not Adam: the CNN's weight gradients come from split-K atomics whose last bits vary
    // between runs, and Adam's first step moves a weight by about lr x sign(g), so a near-zero
    // gradient whose sign flips would move it by 2 lr. SGD moves it by lr x g: an ulp of g.
    auto eager_opt = make_optimizer("sgd", eager->parameters(), 0.02, 0.0);
    auto graph_opt = make_optimizer("sgd", graphed_model->parameters(), 0.02, 0.0);
    GraphedStep graph(*graphed_model);
    std::mt19937_64 data(22);
    const Context ctx{.input_gradient = false};
    std::int64_t eager_launches = 0, graph_launches = 0;
    for (int step = 0; step < 6; ++step) {
      const Tensor x = random_tensor({16, 1, 28, 28}, data, 0, 1);
      std::vector<std::int64_t> y(16);
      for (auto& label : y) label = std::int64_t(data() % 10);
      const std::int64_t before = gpu_launches();
      const LossResult loss = cross_entropy(eager->forward(x.to(DeviceTag::cuda), ctx), y);
      eager->backward(loss.grad, ctx);
      eager_launches = gpu_launches() - before;
      const std::int64_t graph_before = gpu_launches();
      const GraphedStep::Result r = graph.run(x.to(DeviceTag::cuda), y, ctx);
      graph_launches = gpu_launches() - graph_before;
      CHECK(r.loss == doctest::Approx(loss.loss).epsilon(1e-6));  // the same kernels on the same data
      eager_opt->step();
      graph_opt->step();
    }
    CHECK(graph.captured());
    CHECK(graph.kernels_per_replay() > 1);
    CHECK(graph_launches == 1);  // the replay; the batch, labels and loss cross as copies, not kernels
    CHECK(eager_launches > graph_launches);
    const auto a = eager->parameters(), b = graphed_model->parameters();
    // The same kernels in the same order; a library's atomics could differ by an ulp.
    for (std::size_t i = 0; i < a.size(); ++i) CHECK(relative_difference(b[i]->value, a[i]->value) < 1e-5);
    CHECK_THROWS_WITH(graph.run(Tensor({8, 1, 28, 28}).to(DeviceTag::cuda), std::vector<std::int64_t>(8, 0), ctx),
                      doctest::Contains("a graph replays fixed shapes"));
  }
  std::mt19937_64 rng(1);
  auto with_dropout = make_model("mlp-dropout", rng);
  CHECK_THROWS_WITH(GraphedStep{*with_dropout}, doctest::Contains("cannot capture Dropout(0.20)"));
}

TEST_CASE("the GPU-resident dataset gathers and augments the loader's batches on the GPU") {
  const Dataset part = take(load_mnist_format(kFashionMnistDir, "train"), 500);
  const Transforms augment{.flip = true, .crop_padding = 2, .jitter_low = 0.7f, .jitter_high = 1.3f, .mean = 0.28f,
                           .stddev = 0.35f};
  DataLoader loader(part, 64, true, true, 3, augment);
  loader.start_epoch(2);
  const DeviceDataset resident(part);
  CHECK(resident.bytes() == 500 * 784);
  for (std::int64_t index = 0; index < loader.batches(); ++index) {
    const Batch cpu = loader.batch(index), gpu = resident.gather(loader.plan(index));
    CHECK(gpu.x.on_cuda());
    CHECK(gpu.y == cpu.y);
    // The jittered mean is summed in another order: a few float32 ulps.
    CHECK(relative_difference(gpu.x, cpu.x) < 1e-5);
  }
  DataLoader mixing(part, 64, true, true, 3, Transforms{.mixup_alpha = 0.2f});
  CHECK_THROWS_WITH(resident.gather(mixing.plan(0)), doctest::Contains("mixup is not done on the GPU"));
}

TEST_CASE("pinned uploads started ahead arrive intact, in order, while kernels run between them") {
  PinnedUploader uploader;
  std::mt19937_64 rng(5);
  std::vector<Tensor> hosts;
  for (int i = 0; i < 5; ++i) hosts.push_back(random_tensor({64, 784}, rng));
  uploader.start(hosts[0]);
  for (int i = 0; i < 5; ++i) {
    Tensor device = uploader.take();
    if (i + 1 < 5) uploader.start(hosts[std::size_t(i + 1)]);
    Tensor doubled = device.clone();
    add_into(doubled, device);  // a kernel reading the batch just taken
    const Tensor back = doubled.to(DeviceTag::cpu);
    for (std::int64_t e = 0; e < back.size(); e += 97) CHECK(back[e] == 2 * hosts[std::size_t(i)][e]);
  }
  CHECK_THROWS_WITH(uploader.take(), "PinnedUploader: take() without a started copy");
  uploader.start(hosts[0]);
  uploader.start(hosts[1]);
  CHECK_THROWS_WITH(uploader.start(hosts[2]), doctest::Contains("two copies are in flight already"));
}

TEST_CASE("bf16 on the GPU: Linear's tensor-core GEMMs stay within bf16 rounding of the CPU's fp32") {
  std::mt19937_64 rng(31), same(31), data(32);
  Linear cpu(96, 40, rng), gpu(96, 40, same);
  move_to(gpu, DeviceTag::cuda);
  const Tensor x = random_tensor({33, 96}, data);
  for (GpuBackend backend : {GpuBackend::own, GpuBackend::vendor}) {
    Context cpu_ctx, gpu_ctx;
    gpu_ctx.precision = Precision::bf16, gpu_ctx.gpu_backend = backend;
    const Tensor y_cpu = cpu.forward(x, cpu_ctx), y_gpu = gpu.forward(x.to(DeviceTag::cuda), gpu_ctx);
    // bf16 keeps 8 bits: each product's inputs carry 2^-8, and the sums of 96 of them stay
    // well within 2% of the largest output.
    const double diff = relative_difference(y_gpu, y_cpu);
    CHECK(diff < 2e-2);
    CHECK(diff > 0);  // it did round: this is not the fp32 path
    const Tensor dy = random_tensor(y_cpu.shape(), data);
    CHECK(relative_difference(gpu.backward(dy.to(DeviceTag::cuda), gpu_ctx), cpu.backward(dy, cpu_ctx)) < 2e-2);
    CHECK(relative_difference(gpu.weight.grad, cpu.weight.grad) < 2e-2);
  }
  Context fp16;
  fp16.precision = Precision::fp16;
  CHECK_THROWS_WITH(gpu.forward(x.to(DeviceTag::cuda), fp16), doctest::Contains("fp16 is not on the GPU; use bf16"));
}

TEST_CASE("the loss scaler unscales GPU gradients and finds an overflow there") {
  Parameter a{"a", Tensor({1000}, 4.0f).to(DeviceTag::cuda), Tensor({1000}, 8.0f).to(DeviceTag::cuda)};
  Parameter b{"b", Tensor({10}, 1.0f).to(DeviceTag::cuda), Tensor({10}, 2.0f).to(DeviceTag::cuda)};
  GradScaler scaler(GradScaler::Settings{.init_scale = 4});
  CHECK(scaler.unscale({&a, &b}, 1));
  CHECK(a.grad.to(DeviceTag::cpu)[999] == 2.0f);
  CHECK(b.grad.to(DeviceTag::cpu)[0] == 0.5f);
  Tensor bad({10}, 2.0f);
  bad[3] = std::numeric_limits<float>::infinity();
  b.grad = bad.to(DeviceTag::cuda);
  CHECK_FALSE(scaler.unscale({&a, &b}, 1));
}

TEST_CASE("training on the GPU with a graph and the resident dataset matches the eager, copied run") {
  const Dataset part = take(load_mnist_format(kFashionMnistDir, "train"), 1024);
  const Dataset test = take(load_mnist_format(kFashionMnistDir, "t10k"), 256);
  std::vector<EpochInfo> runs[2];
  for (int graphed = 0; graphed < 2; ++graphed) {
    std::mt19937_64 rng(40);
    auto model = make_model("cnn", rng);
    TrainOptions o{.batch = 64, .seed = 5, .transforms = {.flip = true, .crop_padding = 2}};
    o.device = DeviceTag::cuda, o.graph = graphed == 1, o.data_on_device = graphed == 1;
    runs[graphed] = train(*model, "sgd", 0.05, 2, part, test, o);
  }
  REQUIRE(runs[0].size() == 2);
  REQUIRE(runs[1].size() == 2);
  for (int e = 0; e < 2; ++e) {
    CHECK(runs[1][std::size_t(e)].train_loss == doctest::Approx(runs[0][std::size_t(e)].train_loss).epsilon(1e-4));
    CHECK(std::fabs(runs[1][std::size_t(e)].test.accuracy - runs[0][std::size_t(e)].test.accuracy) <= 0.01);
  }
  CHECK(runs[1].back().launches_per_step < runs[0].back().launches_per_step);
}
