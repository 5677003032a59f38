// The device layer of the training stack, on any machine: the block cache's size classes,
// reuse, cap and retry (over a counting malloc, the same code that serves cudaMalloc), device
// names, and what asking for the GPU does where none is usable (a clear refusal, nothing
// moved). The GPU halves themselves are checked against the CPU in test_gpu_nn.cpp.
#include <doctest/doctest.h>

#include <cstdlib>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <string>

#include "bench/training/train_run.h"
#include "nn/data.h"
#include "nn/device.h"
#include "nn/distributed.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/memory.h"
#include "nn/train.h"
#include "tests/random_tensor.h"

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

TEST_CASE("the GPU's cache keeps small blocks too: a 4-byte request is a cached 512-byte block") {
  CountingRaw::reset();
  std::unique_ptr<memory::BlockCache> cache(memory::make_device_cache({CountingRaw::allocate, CountingRaw::release}));
  CHECK(cache->size_class(4) == 512);
  CHECK(cache->size_class(511) == 512);
  CHECK(cache->size_class(513) == 640);
  void* flag = cache->allocate(4);  // the loss scaler's flag, a batch of labels
  cache->release(flag, 4);
  CHECK(cache->stats().parked_bytes == 512);
  void* again = cache->allocate(256);  // the next step's: the same block, no cudaMalloc
  CHECK(again == flag);
  CHECK(CountingRaw::allocations == 1);
  CHECK(CountingRaw::releases == 0);
  cache->release(again, 256);
  cache->empty();
  CHECK(CountingRaw::releases == 1);
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
    o.trainer.device = DeviceTag::cuda;
    CHECK(bench::train_run_problem(o) == std::string("--device cuda: ") + why);
  } else {
    MESSAGE("a GPU is usable here: the refusals were not exercised (test_gpu_nn.cpp runs the GPU paths)");
  }
}

TEST_CASE("--device cuda refuses what is not on the GPU yet: no GPU here, fp16 and dropout graphs there") {
  bench::TrainRunOptions o{.model = "cnn", .out = "runs/never-written"};
  o.trainer.device = DeviceTag::cuda;
  o.trainer.precision = Precision::fp16;
  const std::string problem = bench::train_run_problem(o);
  if (const char* why = cuda_unusable())
    CHECK(problem == std::string("--device cuda: ") + why);
  else
    CHECK(problem == "--device cuda: --precision fp16 (--precision bf16 is) is not on the GPU yet; train with --device cpu");
  bench::TrainRunOptions graph{.model = "mlp-dropout", .out = "runs/never-written"};
  graph.trainer.graph = true;
  CHECK(bench::train_run_problem(graph) == "--graph needs --device cuda");
  graph.trainer.device = DeviceTag::cuda;
  if (cuda_unusable() == nullptr)
    CHECK(bench::train_run_problem(graph) == "--graph: a CUDA graph cannot capture Dropout(0.20) (its mask is drawn on "
                                            "the host each step and a replay would repeat the first); train without --graph");
  bench::TrainRunOptions resident{.model = "mlp", .out = "runs/never-written"};
  resident.trainer.data_on_device = true;
  CHECK(bench::train_run_problem(resident) == "--data-on-gpu needs --device cuda");
  graph.trainer.profile = true;
  CHECK(bench::train_run_problem(graph) == "--graph and --profile exclude each other (a replayed graph has no per-layer times)");
}

namespace {
// Two ranks as the trainer sees them, without MPI: enough to reach its data-parallel checks.
struct TwoRanks : SingleProcess {
  int world() const override { return 2; }
  std::string backend() const override { return "two ranks (test)"; }
  void exchange(const float*, float*, std::int64_t, int, int) override {}
  [[noreturn]] void abort(const std::string& message, int) override { throw std::runtime_error(message); }
};
}  // namespace

TEST_CASE("GPU ranks train through NCCL's collectives, and are refused before any GPU work without them") {
  std::mt19937_64 rng(3);
  auto model = make_model("mlp", rng);
  const Dataset data = take(load_mnist_format(kFashionMnistDir, "train"), 256);
  TwoRanks ranks;
  TrainOptions o{.batch = 32, .device = DeviceTag::cuda, .comm = &ranks};
  CHECK_THROWS_WITH(Trainer(*model, constant_recipe("sgd", 0.01, 1, 0), data, o),
                    "--distributed --device cuda: the GPU ranks need NCCL's collectives, and none were given "
                    "(bench::run_training starts them)");
  // The CPU ranks' refusals are still there.
  TrainOptions accumulate{.batch = 32, .accumulate = 2, .comm = &ranks};
  CHECK_THROWS_WITH(Trainer(*model, constant_recipe("sgd", 0.01, 1, 0), data, accumulate),
                    "--accumulate is not data-parallel yet; train on one rank");
}

TEST_CASE("a private pool keeps its blocks from the shared cache until it is closed (CUDA graphs)") {
  CountingRaw::reset();
  memory::BlockCache cache({CountingRaw::allocate, CountingRaw::release}, 1024, 1 << 20);
  void* shared = cache.allocate(4096);
  cache.release(shared, 4096);  // parked in the shared cache
  const int pool = cache.begin_pool();
  CHECK_THROWS_WITH(cache.begin_pool(), "BlockCache: a private pool is open already");
  void* a = cache.allocate(4096);
  CHECK(a != shared);  // a pool takes nothing the shared cache parked
  cache.release(a, 4096);
  void* b = cache.allocate(4096);
  CHECK(b == a);  // but reuses its own
  void* kept = cache.allocate(8192);
  cache.release(b, 4096);
  cache.end_pool();
  CHECK(cache.pool_bytes(pool) == 4096 + 8192);
  // Outside the pool: the shared block comes back, the pool's parked one does not.
  void* outside = cache.allocate(4096);
  CHECK(outside == shared);
  void* another = cache.allocate(4096);
  CHECK(another != a);
  // A pool block released after the capture returns to the pool, not to the shared cache.
  cache.release(kept, 8192);
  void* fresh = cache.allocate(8192);
  CHECK(fresh != kept);
  cache.release(fresh, 8192);
  // Closing the pool hands its parked blocks to the shared cache.
  cache.close_pool(pool);
  CHECK(cache.pool_bytes(pool) == 0);
  std::set<void*> reused{cache.allocate(4096), cache.allocate(8192), cache.allocate(8192)};
  CHECK(reused.count(a) == 1);
  CHECK(reused.count(kept) + reused.count(fresh) == 2);
  for (void* p : {outside, another}) cache.release(p, 4096);
  for (void* p : reused) cache.release(p, p == a ? 4096 : 8192);  // live blocks are the caller's to hand back
}

TEST_CASE("a pool block still live when its pool closes returns to the shared cache when freed") {
  CountingRaw::reset();
  memory::BlockCache cache({CountingRaw::allocate, CountingRaw::release}, 1024, 1 << 20);
  const int pool = cache.begin_pool();
  void* live = cache.allocate(2048);
  cache.end_pool();
  cache.close_pool(pool);
  CHECK(cache.pool_bytes(pool) == 2048);
  cache.release(live, 2048);
  CHECK(cache.pool_bytes(pool) == 0);
  CHECK(cache.allocate(2048) == live);  // from the shared cache now
  cache.release(live, 2048);
}

TEST_CASE("the GPU memory estimate counts parameters four times and activations per sample, scaled to the batch") {
  std::mt19937_64 rng(3);
  auto mlp = make_model("mlp", rng);
  std::int64_t params = 0;
  for (Parameter* p : mlp->parameters()) params += p->value.size();
  CHECK(params == 242762);
  const std::int64_t small = estimate_training_bytes(*mlp, 64, {1, 28, 28});
  const std::int64_t large = estimate_training_bytes(*mlp, 1024, {1, 28, 28});
  CHECK(small > 16 * params);
  const double per_sample = double(large - small) / 960.0;
  CHECK(per_sample > 784 * 4);  // at least the input the first layer keeps
  // Against a real step at batch 64: its peak above what it started with.
  std::mt19937_64 data(4);
  const Tensor x = flopslab::tests::random_tensor({64, 1, 28, 28}, data, 0, 1);
  const Context ctx{.input_gradient = false};
  const std::int64_t live = memory::usage().live;
  memory::reset_peak();
  const LossResult loss = cross_entropy(mlp->forward(x, ctx), std::vector<std::int64_t>(64, 1));
  mlp->backward(loss.grad, ctx);
  const double measured = double(memory::usage().peak - live);
  CHECK(per_sample * 64 > 0.5 * measured);
  CHECK(per_sample * 64 < 2.0 * measured);
  auto bn = make_model("cnn", rng);
  BatchNorm* norm = nullptr;
  for (const ModulePtr& layer : bn->layers)
    if (norm == nullptr) norm = dynamic_cast<BatchNorm*>(layer.get());
  REQUIRE(norm != nullptr);
  const float before = norm->running_mean[0];
  (void)estimate_training_bytes(*bn, 32, {1, 28, 28});
  CHECK(norm->running_mean[0] == before);  // statistics untouched
}
