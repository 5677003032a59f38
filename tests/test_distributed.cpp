// Data-parallel training on 2 CPU ranks, run under mpirun by CTest (cli: flopslab_mpi_tests):
// every rank runs every case, and each compares what the ranks did together with what one
// process does alone (computed on every rank, since each has all the data). 2 ranks x batch 32
// must equal 1 rank x batch 64 without BatchNorm and with SyncBatchNorm, and must differ with
// plain BatchNorm; shards are disjoint and cover the epoch; the broadcast leaves rank 0's
// weights everywhere; overlapping the all-reduce with backward changes nothing.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <random>
#include <set>

#include "bench/scaling/allreduce_bench.h"
#include "nn/ddp.h"
#include "nn/device.h"
#include "nn/distributed.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/train.h"
#include "tests/random_tensor.h"

using namespace flopslab;
using namespace flopslab::nn;

namespace {

Communicator* world_comm = nullptr;
Communicator& comm() { return *world_comm; }

// The largest |a - b| over every parameter, relative to the largest |b|.
double parameter_difference(Module& a, Module& b) {
  const auto pa = a.parameters(), pb = b.parameters();
  REQUIRE(pa.size() == pb.size());
  double worst = 0, scale = 1e-30;
  for (std::size_t i = 0; i < pa.size(); ++i)
    for (std::int64_t e = 0; e < pa[i]->value.size(); ++e) {
      worst = std::max(worst, std::fabs(double(pa[i]->value[e]) - double(pb[i]->value[e])));
      scale = std::max(scale, std::fabs(double(pb[i]->value[e])));
    }
  return worst / scale;
}

// The largest difference between this rank's parameters and rank 0's.
double spread_across_ranks(Module& model) {
  double worst = 0;
  for (Parameter* p : model.parameters()) {
    Tensor root = p->value.clone();
    comm().broadcast(root.data(), root.size(), 0);
    for (std::int64_t e = 0; e < root.size(); ++e) worst = std::max(worst, std::fabs(double(root[e]) - double(p->value[e])));
  }
  comm().allreduce_max(&worst, 1);
  return worst;
}

struct Step {
  Tensor x;
  std::vector<std::int64_t> y;
};
std::vector<Step> batches(int count, std::int64_t size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<Step> out;
  for (int i = 0; i < count; ++i) {
    Step s{tests::random_tensor({size, 1, 28, 28}, rng, 0, 1), std::vector<std::int64_t>(std::size_t(size))};
    for (auto& y : s.y) y = std::int64_t(rng() % 10);
    out.push_back(std::move(s));
  }
  return out;
}
// This rank's share of a global batch, as the distributed sampler deals it: every world-th sample.
Step share(const Step& global) {
  const std::int64_t n = global.x.dim(0) / comm().world(), per = global.x.size() / global.x.dim(0);
  Step s{Tensor({n, 1, 28, 28}), {}};
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t from = i * comm().world() + comm().rank();
    std::copy_n(global.x.data() + from * per, per, s.x.data() + i * per);
    s.y.push_back(global.y[std::size_t(from)]);
  }
  return s;
}

// k SGD steps: on one process over the whole batches, or data-parallel over the shares.
void train_steps(Sequential& model, const std::vector<Step>& steps, bool distributed, bool overlap,
                 BucketSizes buckets = {.first_bytes = 64 << 10, .bytes = 256 << 10}) {
  auto opt = make_optimizer("sgd", model.parameters(), 0.05, 0.0);
  std::optional<GradientReducer> reducer;
  std::function<void(Module&)> ready;
  Context ctx{.input_gradient = false};
  if (distributed) {
    reducer.emplace(comm(), model.parameters(), buckets, overlap);
    ready = [&](Module& layer) { reducer->ready(layer); };
    ctx.after_layer_backward = &ready;
  }
  for (const Step& global : steps) {
    const Step s = distributed ? share(global) : global;
    const LossResult loss = cross_entropy(model.forward(s.x, ctx), s.y);
    if (reducer) reducer->begin_backward();
    model.backward(loss.grad, ctx);
    if (reducer) reducer->finish();
    opt->step();
  }
}

}  // namespace

TEST_CASE("the sampler's shards are disjoint, cover the epoch, and pad it to a multiple of the world") {
  std::vector<std::int64_t> order(103);
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = std::int64_t((i * 37) % 103);
  for (int world : {1, 2, 3, 8}) {
    CAPTURE(world);
    std::multiset<std::int64_t> all;
    for (int r = 0; r < world; ++r) {
      const auto shard = shard_of(order, r, world);
      CHECK(std::int64_t(shard.size()) == (103 + world - 1) / world);
      all.insert(shard.begin(), shard.end());
    }
    CHECK(std::set<std::int64_t>(all.begin(), all.end()).size() == 103);        // every sample
    CHECK(std::int64_t(all.size()) - 103 == (world - 103 % world) % world);    // the padding, repeated from the start
  }
  CHECK_THROWS_WITH(shard_of(order, 2, 2), "shard_of: rank 2 of world 2");
}

TEST_CASE("two ranks really run, and the broadcast leaves rank 0's weights everywhere") {
  REQUIRE(comm().world() == 2);
  std::mt19937_64 rng(100 + std::uint64_t(comm().rank()));  // every rank starts different
  auto model = make_model("cnn", rng);
  CHECK(spread_across_ranks(*model) > 0);
  broadcast_model(comm(), *model);
  CHECK(spread_across_ranks(*model) == 0.0);
  std::mt19937_64 rank0(100);
  auto expected = make_model("cnn", rank0);
  CHECK(parameter_difference(*model, *expected) == 0.0);
}

TEST_CASE("a ring step sends to the next rank and receives from the previous one") {
  REQUIRE(comm().world() == 2);
  const int me = comm().rank(), other = 1 - me;
  std::vector<float> send(1000), receive(1000, -1);
  for (std::size_t i = 0; i < send.size(); ++i) send[i] = float(me * 10000 + int(i));
  comm().exchange(send.data(), receive.data(), 1000, other, other);
  for (std::size_t i = 0; i < receive.size(); ++i) REQUIRE(receive[i] == float(other * 10000 + int(i)));
  CHECK_THROWS_AS(single_process()->exchange(send.data(), receive.data(), 10, 1, 0), std::invalid_argument);
}

TEST_CASE("the all-reduce measured between the two ranks: every size, the same numbers on both") {
  REQUIRE(comm().world() == 2);
  const bench::AllreduceStudy s = bench::measure_allreduce(comm(), 16 << 10, true);
  REQUIRE(s.allreduce.size() == 7);  // 4 B .. 16 KiB, x4 apart
  CHECK(s.allreduce.back().bytes == 16 << 10);
  for (const bench::CollectivePoint& p : s.allreduce) CHECK(p.timing.median > 0);
  CHECK(s.link.alpha_s >= 0);
  CHECK(s.link.beta_s_per_byte > 0);
  // Each sample is the slower rank's time, so both ranks hold the same study.
  double median = s.allreduce.back().timing.median, mine = median;
  comm().broadcast(&median, 1, 0);
  CHECK(median == mine);
  CHECK_THROWS_WITH(bench::measure_allreduce(*single_process(), 1 << 20, true),
                    "the all-reduce needs two ranks or more (mpirun -np 2 flopslab allreduce)");
}

TEST_CASE("GPU ranks over NCCL: the sum on every rank's GPU, or every rank refuses together with the reason") {
  REQUIRE(comm().world() == 2);
  std::unique_ptr<DeviceCollectives> device;
  std::string why;
  try {
    device = nccl_collectives(comm());
  } catch (const std::runtime_error& e) {
    why = e.what();
  }
  double refused = why.empty() ? 0 : 1, agreed = refused;
  comm().allreduce_max(&agreed, 1);
  CHECK(agreed == refused);  // both ranks refuse, or neither: no rank is left waiting in NCCL
  if (device == nullptr) {
    CHECK(!why.empty());
    MESSAGE("GPU ranks not run here: " << why);
    return;
  }
  Tensor x = Tensor::zeros_on(DeviceTag::cuda, {1000});
  Tensor host({1000});
  for (std::int64_t i = 0; i < 1000; ++i) host[i] = float((comm().rank() + 1) * i);
  copy_floats(CopyDirection::host_to_device, x.data(), host.data(), 1000);
  device->start_allreduce_sum(x.data(), 1000);
  device->join();
  const Tensor back = x.to(DeviceTag::cpu);
  for (std::int64_t i = 0; i < 1000; ++i) REQUIRE(back[i] == float(3 * i));  // 1i + 2i
}

TEST_CASE("2 ranks x batch 32 train the MLP as 1 rank x batch 64, with and without overlap") {
  const std::vector<Step> steps = batches(4, 64, 7);
  std::mt19937_64 a(3), b(3), c(3);
  auto alone = make_model("mlp", a), overlapped = make_model("mlp", b), after = make_model("mlp", c);
  train_steps(*alone, steps, false, false);
  train_steps(*overlapped, steps, true, true);
  train_steps(*after, steps, true, false);
  CHECK(parameter_difference(*overlapped, *alone) < 1e-5);  // float sums in another order
  CHECK(parameter_difference(*after, *overlapped) == 0.0);  // the same sums, only earlier
  CHECK(spread_across_ranks(*overlapped) == 0.0);
  GradientReducer reducer(comm(), overlapped->parameters(), {.first_bytes = 64 << 10, .bytes = 256 << 10}, true);
  CHECK(reducer.buckets() >= 3);  // small buckets here, so that several start during backward
  reducer.begin_backward();
  CHECK_THROWS_WITH(reducer.finish(), doctest::Contains("was never reported ready"));
}

TEST_CASE("SyncBatchNorm over 2 ranks equals one rank's BatchNorm over the whole batch; plain BatchNorm does not") {
  const std::vector<Step> steps = batches(3, 64, 9);
  std::mt19937_64 a(5), b(5), c(5);
  auto alone = make_model("cnn", a), synced = make_model("cnn", b), local = make_model("cnn", c);
  for (const ModulePtr& layer : synced->layers)
    if (auto* bn = dynamic_cast<BatchNorm*>(layer.get())) bn->sync = &comm();
  train_steps(*alone, steps, false, false);
  train_steps(*synced, steps, true, true);
  train_steps(*local, steps, true, true);
  const double sync_gap = parameter_difference(*synced, *alone), local_gap = parameter_difference(*local, *alone);
  MESSAGE("SyncBN against one rank: ", sync_gap, "; plain BN against one rank: ", local_gap);
  CHECK(sync_gap < 1e-4);
  CHECK(local_gap > 100 * sync_gap);  // per-rank statistics are another normalisation
  // The running statistics: the same on every rank, and the whole batch's.
  for (std::size_t i = 0; i < synced->layers.size(); ++i)
    if (auto* bn = dynamic_cast<BatchNorm*>(synced->layers[i].get())) {
      auto* ref = dynamic_cast<BatchNorm*>(alone->layers[i].get());
      for (std::int64_t ch = 0; ch < bn->running_mean.size(); ++ch) {
        CHECK(bn->running_mean[ch] == doctest::Approx(ref->running_mean[ch]).epsilon(1e-4));
        CHECK(bn->running_var[ch] == doctest::Approx(ref->running_var[ch]).epsilon(1e-4));
      }
    }
}

TEST_CASE("the Trainer on 2 ranks x 32 follows the Trainer on 1 rank x 64 over an epoch") {
  Dataset data;
  data.images = Tensor({512, 1, 28, 28});
  std::mt19937_64 rng(11);
  data.images = tests::random_tensor({512, 1, 28, 28}, rng, 0, 1);
  for (int i = 0; i < 512; ++i) data.labels.push_back(std::int64_t(rng() % 10));
  std::mt19937_64 a(2), b(2);
  auto alone = make_model("mlp", a), ranked = make_model("mlp", b);
  TrainOptions single{.batch = 64, .seed = 4, .workers = 0};
  TrainOptions dp{.batch = 32, .seed = 4, .workers = 0};
  dp.comm = &comm();
  const auto h1 = train(*alone, "sgd", 0.05, 1, data, {}, single);
  const auto h2 = train(*ranked, "sgd", 0.05, 1, data, {}, dp);
  CHECK(h2.front().steps == 8);  // 256 samples per rank, 32 a step
  CHECK(parameter_difference(*ranked, *alone) < 1e-5);
  CHECK(spread_across_ranks(*ranked) == 0.0);
  CHECK(h2.front().train_loss == doctest::Approx(h1.front().train_loss).epsilon(1e-5));  // over both ranks' samples
}

int main(int argc, char** argv) {
  auto communicator = mpi_communicator();
  world_comm = communicator.get();
  doctest::Context context(argc, argv);
  if (communicator->rank() != 0) context.setOption("out", "/dev/null");  // one report, rank 0's
  const int failed = context.run();
  double any = failed != 0 ? 1 : 0;
  communicator->allreduce_max(&any, 1);  // a failure on any rank fails every rank's exit code
  return any > 0 ? 1 : 0;
}
