// The device layer of the training stack, on any machine: the block cache's size classes,
// reuse, cap and retry (over a counting malloc, the same code that serves cudaMalloc), device
// names, and what asking for the GPU does where none is usable (a clear refusal, nothing
// moved). The GPU halves themselves are checked against the CPU in test_gpu_nn.cpp.
#include <doctest/doctest.h>

#include <cstdlib>
#include <random>
#include <set>
#include <string>

#include "bench/train_run.h"
#include "nn/device.h"
#include "nn/layers.h"
#include "nn/memory.h"
#include "nn/train.h"

using namespace flopslab;
using namespace flopslab::nn;

namespace {

// A raw allocator that counts its calls and can be told to fail.
struct CountingRaw {
  static inline int allocations = 0, releases = 0;
  static inline bool fail_next = false;
  static void* allocate(std::size_t bytes) {
    ++allocations;
    if (fail_next) {
      fail_next = false;
      return nullptr;
    }
    return std::malloc(bytes);
  }
  static void release(void* p) {
    ++releases;
    std::free(p);
  }
  static void reset() { allocations = releases = 0, fail_next = false; }
};

// A layer with no GPU half (the default of Module::runs_on_cuda).
struct CpuOnly : Module {
  std::string describe() const override { return "CpuOnly"; }
  Tensor forward(const Tensor& x, const Context&) override { return x; }
  Tensor backward(const Tensor& dy, const Context&) override { return dy; }
};

}  // namespace

TEST_CASE("the block cache rounds to quarter-power size classes and reuses freed blocks") {
  CountingRaw::reset();
  memory::BlockCache cache({CountingRaw::allocate, CountingRaw::release}, 512, 1 << 20);
  CHECK(cache.size_class(100) == 100);  // below the first class: not cached, not rounded
  CHECK(cache.size_class(512) == 512);
  CHECK(cache.size_class(513) == 640);  // 1.25 x 512
  CHECK(cache.size_class(1000) == 1024);
  CHECK(cache.size_class(1025) == 1280);
  CHECK(cache.size_class(3000) == 3072);  // 1.5 x 2048
  for (std::size_t bytes = 512; bytes < (1 << 22); bytes = bytes * 5 / 4 + 1) {
    const std::size_t c = cache.size_class(bytes);
    CHECK(c >= bytes);
    CHECK(double(c) <= 1.25 * double(bytes) + 1);  // at most a quarter lost to rounding
  }

  void* a = cache.allocate(1000);
  CHECK(CountingRaw::allocations == 1);
  cache.release(a, 1000);
  CHECK(cache.stats().parked_bytes == 1024);
  void* b = cache.allocate(900);  // the same class: the parked block, no new raw allocation
  CHECK(b == a);
  CHECK(CountingRaw::allocations == 1);
  CHECK(cache.stats().reuses == 1);
  CHECK(cache.stats().parked_bytes == 0);
  void* c = cache.allocate(2000);  // another class
  CHECK(c != a);
  CHECK(CountingRaw::allocations == 2);
  cache.release(b, 900);
  cache.release(c, 2000);
  CHECK(cache.stats().parked_bytes == 1024 + 2048);
  cache.empty();
  CHECK(cache.stats().parked_bytes == 0);
  CHECK(CountingRaw::releases == 2);
}

TEST_CASE("the block cache parks no more than its cap, and empties itself when the raw allocator fails") {
  CountingRaw::reset();
  memory::BlockCache cache({CountingRaw::allocate, CountingRaw::release}, 512, 4096);
  void* big = cache.allocate(4096);
  void* more = cache.allocate(4096);
  cache.release(big, 4096);   // parked: 4096 of 4096
  cache.release(more, 4096);  // over the cap: back to the raw allocator at once
  CHECK(cache.stats().parked_bytes == 4096);
  CHECK(CountingRaw::releases == 1);

  // A raw failure hands the parked block back and tries once more.
  CountingRaw::fail_next = true;
  void* p = cache.allocate(8192);
  CHECK(p != nullptr);
  CHECK(CountingRaw::releases == 2);
  CHECK(cache.stats().parked_bytes == 0);
  cache.release(p, 8192);
  cache.empty();
}

TEST_CASE("devices by name, and the GPU refused with the reason where none is usable") {
  CHECK(parse_device_tag("cpu") == DeviceTag::cpu);
  CHECK(parse_device_tag("cuda") == DeviceTag::cuda);
  CHECK_THROWS_WITH(parse_device_tag("gpu"), "unknown device 'gpu' (valid: cpu, cuda)");

  // Every layer of the built-in models has its GPU half; a layer written without one is named.
  std::mt19937_64 rng(1);
  for (const std::string& name : model_names()) {
    CAPTURE(name);
    CHECK(layers_without_gpu_half(*make_model(name, rng)).empty());
  }
  auto mlp = make_model("mlp", rng);
  Sequential mixed;
  mixed.add(std::make_unique<Linear>(4, 3, rng)).add(std::make_unique<CpuOnly>());
  CHECK(layers_without_gpu_half(mixed) == "CpuOnly");
  if (cuda_unusable() == nullptr) CHECK_THROWS_WITH(move_to(mixed, DeviceTag::cuda), doctest::Contains("no GPU half for CpuOnly"));

  // A CPU tensor moved to the CPU is itself: no copy.
  Tensor x({2, 3}, 1.5f);
  CHECK(x.to(DeviceTag::cpu).data() == x.data());

  if (const char* why = cuda_unusable()) {
    const float* before = mlp->parameters().front()->value.data();
    CHECK_THROWS_WITH(move_to(*mlp, DeviceTag::cuda), doctest::Contains(why));
    CHECK(mlp->parameters().front()->value.data() == before);  // nothing moved
    CHECK_FALSE(mlp->parameters().front()->value.on_cuda());
    CHECK_THROWS_WITH(Tensor::uninitialized_on(DeviceTag::cuda, {4}), doctest::Contains(why));
    bench::TrainRunOptions o{.model = "mlp", .out = "runs/never-written"};
    o.device = DeviceTag::cuda;
    CHECK(bench::train_run_problem(o) == std::string("--device cuda: ") + why);
  } else {
    MESSAGE("a GPU is usable here: the refusals were not exercised (test_gpu_nn.cpp runs the GPU paths)");
  }
}

TEST_CASE("--device cuda refuses what is not on the GPU yet: no GPU here, mixed precision there") {
  bench::TrainRunOptions o{.model = "cnn", .out = "runs/never-written"};
  o.device = DeviceTag::cuda;
  o.precision = Precision::bf16;
  const std::string problem = bench::train_run_problem(o);
  if (const char* why = cuda_unusable())
    CHECK(problem == std::string("--device cuda: ") + why);
  else
    CHECK(problem == "--device cuda: --precision bf16 is not on the GPU yet; train with --device cpu");
}
