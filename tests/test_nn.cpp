// The training stack: every layer's and loss's backward against central finite differences,
// optimizer steps against their formulas worked by hand, data loading and its errors,
// checkpoints (round trip, every refusal leaves the model untouched, resume = uninterrupted),
// and a short Fashion-MNIST training run reaching a stated accuracy.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "nn/checkpoint.h"
#include "tests/idx_bytes.h"
#include "nn/data.h"
#include "nn/device_data.h"
#include "nn/gradcheck.h"
#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/optim.h"
#include "nn/train.h"
#include "tests/random_tensor.h"

using namespace flopslab;
using namespace flopslab::nn;
using flopslab::tests::random_tensor;

namespace {

// Every element of dx and of each parameter gradient within 2% of the tensor's largest
// gradient of its central finite difference.
void check_gradients(Module& layer, const Tensor& x, const Context& ctx, double h = 1e-2, double rtol = 2e-2,
                     const std::function<void()>& before_forward = nullptr) {
  for (const GradientReport& r : gradient_check(layer, x, ctx, h, rtol, before_forward))
    CHECK_MESSAGE(r.off == 0, layer.describe(), " ", r.tensor, ": ", r.off, " of ", r.elements,
                  " elements off (worst ", r.worst, " of the largest gradient)");
}

// Keeps inputs away from the kinks of piecewise-linear functions, where finite differences lie.
Tensor away_from(Tensor x, std::vector<float> kinks, float gap) {
  for (std::int64_t i = 0; i < x.size(); ++i)
    for (float k : kinks)
      if (std::fabs(x[i] - k) < gap) x[i] = x[i] < k ? k - gap : k + gap;
  return x;
}

}  // namespace

TEST_CASE("Linear's backward matches finite differences") {
  std::mt19937_64 rng(1);
  Linear layer(7, 5, rng);
  check_gradients(layer, random_tensor({4, 7}, rng), {});
}

TEST_CASE("every activation's backward matches finite differences") {
  std::mt19937_64 rng(2);
  for (ActivationKind kind : {ActivationKind::relu, ActivationKind::leaky_relu, ActivationKind::relu6,
                              ActivationKind::sigmoid, ActivationKind::tanh, ActivationKind::softplus}) {
    Activation layer(kind, 0.1f);
    INFO(activation_name(kind));
    check_gradients(layer, away_from(random_tensor({3, 10}, rng, -8, 8), {0, 6}, 0.05f), {});
  }
}

TEST_CASE("Conv2d's backward matches finite differences (stride, padding, dilation, groups)") {
  std::mt19937_64 rng(3);
  for (const conv::Shape& s : {conv::Shape{.c = 3, .k = 4, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1},
                               conv::Shape{.c = 4, .k = 6, .r = 3, .s = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1,
                                           .dilation_h = 2, .groups = 2},
                               conv::Shape{.c = 2, .k = 3, .r = 1, .s = 7, .pad_w = 3}}) {
    Conv2d layer(s, rng);
    INFO(layer.describe());
    check_gradients(layer, random_tensor({2, s.c, 7, 8}, rng), {});
  }
}

TEST_CASE("BatchNorm's backward matches finite differences in training and evaluation mode") {
  std::mt19937_64 rng(4);
  for (bool four_d : {false, true}) {
    BatchNorm bn(3);
    for (std::int64_t c = 0; c < 3; ++c) bn.weight.value[c] = 0.5f + float(c), bn.bias.value[c] = 0.1f * float(c);
    const Tensor x = four_d ? random_tensor({4, 3, 3, 2}, rng) : random_tensor({6, 3}, rng);
    // Training mode updates the running statistics on every forward; keep them fixed between
    // the finite-difference evaluations.
    const Tensor mean = bn.running_mean.clone(), var = bn.running_var.clone();
    auto reset = [&] {
      std::copy(mean.data(), mean.data() + 3, bn.running_mean.data());
      std::copy(var.data(), var.data() + 3, bn.running_var.data());
    };
    check_gradients(bn, x, {.training = true}, 1e-2, 2e-2, reset);
    for (std::int64_t c = 0; c < 3; ++c) bn.running_mean[c] = 0.2f, bn.running_var[c] = 1.5f;
    check_gradients(bn, x, {.training = false});
  }
}

TEST_CASE("BatchNorm normalises with batch statistics and tracks running ones like PyTorch") {
  BatchNorm bn(1, 0.0f, 0.1f);
  Tensor x({4, 1});
  for (int i = 0; i < 4; ++i) x[i] = float(i + 1);  // mean 2.5, biased var 1.25, unbiased 5/3
  const Tensor y = bn.forward(x, {.training = true});
  CHECK(y[0] == doctest::Approx(-1.5 / std::sqrt(1.25)).epsilon(1e-5));
  CHECK(bn.running_mean[0] == doctest::Approx(0.25));
  CHECK(bn.running_var[0] == doctest::Approx(0.9 + 0.1 * 5.0 / 3.0));
  const Tensor z = bn.forward(x, {.training = false});  // (x - 0.25) / sqrt(running_var)
  CHECK(z[3] == doctest::Approx((4 - 0.25) / std::sqrt(0.9 + 0.1 * 5.0 / 3.0)).epsilon(1e-5));
}

TEST_CASE("pooling, flatten, shuffle, dropout and containers pass gradients correctly") {
  std::mt19937_64 rng(5);
  Tensor x = random_tensor({2, 4, 6, 6}, rng);
  SUBCASE("max pool") {
    Pool2d pool(PoolKind::max, 2, 2);
    check_gradients(pool, x, {}, 1e-3);
  }
  SUBCASE("average pool with padding") {
    Pool2d pool(PoolKind::average, 3, 2, 1);
    check_gradients(pool, x, {});
  }
  SUBCASE("global average pool") {
    GlobalAvgPool pool;
    check_gradients(pool, x, {});
  }
  SUBCASE("channel shuffle") {
    ChannelShuffle shuffle(2);
    check_gradients(shuffle, x, {});
  }
  SUBCASE("dropout with a fixed mask") {
    Dropout dropout(0.5f);
    std::mt19937_64 mask_rng(9);
    check_gradients(dropout, x, {.training = true, .rng = &mask_rng}, 1e-2, 2e-2, [&] { mask_rng.seed(9); });
  }
  SUBCASE("an Inception-style block: 1x1 | 1x7 then 7x1, concatenated, inside a residual") {
    auto branch = std::make_unique<Sequential>();
    branch->add(std::make_unique<Conv2d>(conv::Shape{.c = 4, .k = 2, .r = 1, .s = 7, .pad_w = 3}, rng));
    branch->add(std::make_unique<Conv2d>(conv::Shape{.c = 2, .k = 2, .r = 7, .s = 1, .pad_h = 3}, rng));
    auto block = std::make_unique<Concat>();
    block->add(std::make_unique<Conv2d>(conv::Shape{.c = 4, .k = 2, .r = 1, .s = 1}, rng));
    block->add(std::move(branch));
    Residual residual(std::move(block));
    check_gradients(residual, x, {});
  }
  SUBCASE("flatten then linear") {
    Sequential net;
    net.add(std::make_unique<Flatten>()).add(std::make_unique<Linear>(144, 3, rng));
    check_gradients(net, x, {});
  }
}

TEST_CASE("dropout zeroes about p of its inputs, scales the rest, and is the identity in evaluation") {
  Dropout dropout(0.25f);
  std::mt19937_64 rng(3);
  const Tensor x({100000}, 2.0f);
  const Tensor y = dropout.forward(x, {.training = true, .rng = &rng});
  std::int64_t zeros = 0;
  for (std::int64_t i = 0; i < y.size(); ++i) {
    zeros += y[i] == 0;
    if (y[i] != 0) REQUIRE(y[i] == doctest::Approx(2.0 / 0.75));
  }
  CHECK(double(zeros) / double(y.size()) == doctest::Approx(0.25).epsilon(0.03));
  CHECK(dropout.forward(x, {.training = false}).data() == x.data());
}

TEST_CASE("losses: values by hand and gradients against finite differences") {
  std::mt19937_64 rng(6);
  Tensor logits = random_tensor({5, 4}, rng, -3, 3);
  const std::vector<std::int64_t> labels = {0, 3, 1, 1, 2};
  auto check_loss = [&](const std::function<LossResult(const Tensor&)>& loss, Tensor at) {
    const LossResult r = loss(at);
    for (std::int64_t i = 0; i < at.size(); ++i) {
      const float saved = at[i];
      at[i] = saved + 1e-3f;
      const double plus = loss(at).loss;
      at[i] = saved - 1e-3f;
      const double minus = loss(at).loss;
      at[i] = saved;
      CHECK(r.grad[i] == doctest::Approx((plus - minus) / 2e-3).epsilon(1e-2).scale(1e-2));
    }
  };
  check_loss([&](const Tensor& t) { return cross_entropy(t, labels); }, logits);
  check_loss([&](const Tensor& t) { return cross_entropy(t, labels, {1, 2, 0.5f, 3}); }, logits);
  check_loss([&](const Tensor& t) { return nll(t, labels); }, logits);
  check_loss([&](const Tensor& t) { return mse(t, one_hot(labels, 4)); }, logits);
  check_loss([&](const Tensor& t) { return multi_margin(t, labels); }, logits);
  Tensor soft = one_hot(labels, 4);
  for (std::int64_t i = 0; i < soft.size(); ++i) soft[i] = 0.7f * soft[i] + 0.3f / 4;
  check_loss([&](const Tensor& t) { return soft_cross_entropy(t, soft); }, logits);

  // Uniform logits over K classes: cross-entropy log K; a confident right answer: ~0.
  CHECK(cross_entropy(Tensor({2, 10}), {3, 7}).loss == doctest::Approx(std::log(10.0)));
  Tensor sure({1, 3});
  sure[1] = 50;
  CHECK(cross_entropy(sure, {1}).loss < 1e-12);
  // Weighted mean: sum w_y * nll / sum w_y.
  const double a = cross_entropy(logits.view({5, 4}), {0, 3, 1, 1, 2}, {2, 1, 1, 1}).loss;
  double num = 0, den = 0;
  for (int i = 0; i < 5; ++i) {
    const double w = labels[std::size_t(i)] == 0 ? 2 : 1;
    Tensor row({1, 4});
    std::copy(logits.data() + i * 4, logits.data() + i * 4 + 4, row.data());
    num += w * cross_entropy(row, {labels[std::size_t(i)]}).loss;
    den += w;
  }
  CHECK(a == doctest::Approx(num / den));
  CHECK_THROWS_WITH(cross_entropy(logits, {0, 3, 4, 1, 2}), "cross-entropy: label 4 of sample 2 is outside [0, 4)");
  CHECK_THROWS_WITH(cross_entropy(logits, {0, 1}), "cross-entropy: 2 labels for 5 rows");
}

TEST_CASE("optimizer steps follow their update rules") {
  // One parameter of two values with gradient (0.5, -2), lr 0.1, weight decay 0.01, two steps.
  auto run = [](Optimizer& opt, Parameter& p) {
    for (int step = 0; step < 2; ++step) {
      p.grad[0] = 0.5f, p.grad[1] = -2.0f;
      opt.step();
    }
    return std::vector<double>{p.value[0], p.value[1]};
  };
  auto param = [] {
    Parameter p{"w", Tensor({2}), Tensor({2})};
    p.value[0] = 1.0f, p.value[1] = -1.0f;
    return p;
  };
  {  // SGD, momentum 0.9: step 1 buf = g1, step 2 buf = 0.9 g1 + g2 (g includes wd * p).
    Parameter p = param();
    Sgd opt({{{&p}, 0.1, 0.01}}, 0.9);
    const std::vector<double> v = run(opt, p);
    const double g1 = 0.5 + 0.01 * 1.0, p1 = 1.0 - 0.1 * g1, g2 = 0.5 + 0.01 * p1, p2 = p1 - 0.1 * (0.9 * g1 + g2);
    CHECK(v[0] == doctest::Approx(p2).epsilon(1e-6));
  }
  {  // Nesterov: p -= lr * (g + momentum * buf).
    Parameter p = param();
    Sgd opt({{{&p}, 0.1, 0.0}}, 0.9, true);
    const std::vector<double> v = run(opt, p);
    const double p1 = 1.0 - 0.1 * (0.5 + 0.9 * 0.5), buf2 = 0.9 * 0.5 + 0.5, p2 = p1 - 0.1 * (0.5 + 0.9 * buf2);
    CHECK(v[0] == doctest::Approx(p2).epsilon(1e-6));
  }
  {  // Adam: the first step moves every weight by lr (m/(1-b1) / sqrt(v/(1-b2)) = sign(g)).
    Parameter p = param();
    Adam opt({{{&p}, 0.1, 0.0}});
    p.grad[0] = 0.5f, p.grad[1] = -2.0f;
    opt.step();
    CHECK(p.value[0] == doctest::Approx(0.9).epsilon(1e-6));
    CHECK(p.value[1] == doctest::Approx(-0.9).epsilon(1e-6));
  }
  {  // AdamW decays the weight directly: p *= 1 - lr * wd before the Adam step.
    Parameter p = param();
    Adam opt({{{&p}, 0.1, 0.5}}, true);
    p.grad[0] = 0.5f, p.grad[1] = -2.0f;
    opt.step();
    CHECK(p.value[0] == doctest::Approx(1.0 * (1 - 0.05) - 0.1).epsilon(1e-6));
  }
  {  // RMSprop: sq = 0.01 g^2 after one step, so p -= lr * g / (0.1 |g|) = lr * 10 * sign(g).
    Parameter p = param();
    RmsProp opt({{{&p}, 0.01, 0.0}});
    p.grad[0] = 0.5f, p.grad[1] = -2.0f;
    opt.step();
    CHECK(p.value[0] == doctest::Approx(1.0 - 0.1).epsilon(1e-5));
    CHECK(p.value[1] == doctest::Approx(-1.0 + 0.1).epsilon(1e-5));
  }
  {  // Parameter groups keep their own learning rates.
    Parameter a = param(), b = param();
    Sgd opt({{{&a}, 0.1, 0.0}, {{&b}, 0.01, 0.0}});
    a.grad.fill(1), b.grad.fill(1);
    opt.step();
    CHECK(a.value[0] == doctest::Approx(0.9));
    CHECK(b.value[0] == doctest::Approx(0.99));
  }
}

using test::idx_bytes;

TEST_CASE("the IDX reader parses good files and names what is wrong with bad ones") {
  const IdxArray ok = parse_idx(idx_bytes({2, 3}, {1, 2, 3, 4, 5, 6}), "t");
  CHECK(ok.dims == std::vector<std::int64_t>{2, 3});
  CHECK(ok.bytes[5] == 6);
  CHECK_THROWS_WITH(parse_idx({1, 0, 8, 1}, "f"), "f: not an IDX file (bad magic number)");
  CHECK_THROWS_WITH(parse_idx({0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0}, "f"),
                    "f: IDX element type 13 is not unsigned byte (8)");
  CHECK_THROWS_WITH(parse_idx(idx_bytes({2, 3}, {1, 2, 3}), "f"),
                    "f: truncated: the header promises 6 bytes, the file has 3");
  CHECK_THROWS_WITH(parse_idx(idx_bytes({2}, {1, 2, 3}), "f"), "f: 1 bytes after the array");
  CHECK_THROWS_WITH(parse_idx(idx_bytes({0}, {}), "f"), "f: IDX dimension 0 is 0");
  CHECK_THROWS_WITH(parse_idx({0, 0, 8, 2, 0, 0}, "f"), "f: truncated IDX header");

  const std::string dir = (std::filesystem::temp_directory_path() / "flopslab-idx-test").string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  CHECK_THROWS_WITH(load_mnist_format(dir + "/nowhere", "train"),
                    doctest::Contains("install Debian's dataset-fashion-mnist package"));
  CHECK_THROWS_WITH(load_mnist_format(dir, "train"), doctest::Contains("train-images-idx3-ubyte(.gz) is missing"));
  auto write = [&](const std::string& name, const std::vector<std::uint8_t>& bytes) {
    std::ofstream(dir + "/" + name, std::ios::binary)
        .write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  };
  write("train-images-idx3-ubyte", idx_bytes({2, 1, 1}, {0, 255}));
  write("train-labels-idx1-ubyte", idx_bytes({2}, {3, 10}));  // a label of 10 in a 10-class set
  CHECK_THROWS_WITH(load_mnist_format(dir, "train"),
                    (dir + "/train-labels-idx1-ubyte: label 10 of sample 1 is outside [0, 10)").c_str());
  CHECK(mnist_format_problem(dir) == dir + ": t10k-images-idx3-ubyte(.gz) is missing (a complete MNIST-format dataset "
                                           "has train- and t10k- images and labels; dataset-fashion-mnist installs them)");
  CHECK(mnist_format_problem(kFashionMnistDir).empty());
  write("train-labels-idx1-ubyte", idx_bytes({2}, {3, 9}));
  const Dataset d = load_mnist_format(dir, "train");
  CHECK(d.images.shape() == std::vector<std::int64_t>{2, 1, 1, 1});
  CHECK(d.images[1] == 1.0f);
  CHECK(d.labels == std::vector<std::int64_t>{3, 9});
  {  // gzip framing with garbage inside.
    std::ofstream(dir + "/bad.gz", std::ios::binary).write("\x1f\x8b\x08\x00garbage-garbage-garbage", 27);
  }
  CHECK_THROWS_WITH(read_idx(dir + "/bad.gz"), doctest::Contains("corrupt gzip data"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("the data loader batches every sample once per epoch, reproducibly") {
  Dataset d;
  d.images = Tensor({10, 1, 1, 1});
  for (int i = 0; i < 10; ++i) d.images[i] = float(i), d.labels.push_back(i % 3);
  DataLoader keep(d, 4, true, false, 7), drop(d, 4, true, true, 7);
  CHECK(keep.batches() == 3);
  CHECK(drop.batches() == 2);
  std::vector<int> seen(10, 0);
  for (std::int64_t b = 0; b < keep.batches(); ++b) {
    const Batch batch = keep.batch(b);
    for (std::int64_t i = 0; i < batch.x.size(); ++i) {
      ++seen[std::size_t(batch.x[i])];
      CHECK(batch.y[std::size_t(i)] == std::int64_t(batch.x[i]) % 3);  // labels travel with images
    }
  }
  CHECK(seen == std::vector<int>(10, 1));
  DataLoader again(d, 4, true, false, 7);
  CHECK(again.batch(0).y == keep.batch(0).y);
  again.start_epoch(1);
  bool differs = false;
  for (std::int64_t b = 0; b < 3; ++b) differs = differs || again.batch(b).x[0] != keep.batch(b).x[0];
  CHECK(differs);  // a new order in the next epoch
  CHECK_THROWS_WITH(DataLoader(d, 0, false, false, 0), "batch size must be at least 1, got 0");
}

TEST_CASE("checkpoints round-trip, refuse what does not match, and leave the model untouched") {
  std::mt19937_64 rng(8);
  auto model = make_model("cnn", rng);
  auto opt = make_optimizer("adam", model->parameters(), 1e-3, 0.0);
  for (Parameter* p : model->parameters()) p->grad.fill(0.1f);
  opt->step();
  const std::string bytes = serialize_checkpoint(*model, *opt, {"cnn", 3});

  std::mt19937_64 other_rng(9);
  auto fresh = make_model("cnn", other_rng);
  auto fresh_opt = make_optimizer("adam", fresh->parameters(), 1e-3, 0.0);
  const CheckpointInfo info = restore_checkpoint(bytes, "ckpt", "cnn", *fresh, *fresh_opt);
  CHECK(info.epoch == 3);
  CHECK(fresh_opt->steps() == 1);
  for (std::size_t i = 0; i < model->parameters().size(); ++i) {
    const Tensor& a = model->parameters()[i]->value;
    const Tensor& b = fresh->parameters()[i]->value;
    CHECK(std::equal(a.data(), a.data() + a.size(), b.data()));
  }

  auto untouched = [&](const std::string& bad, const std::string& message, const std::string& name = "cnn") {
    std::mt19937_64 r(10);
    auto m = make_model(name, r);
    auto o = make_optimizer("adam", m->parameters(), 1e-3, 0.0);
    const Tensor before = m->parameters()[0]->value.clone();
    CHECK_THROWS_WITH(restore_checkpoint(bad, "ckpt", name, *m, *o), doctest::Contains(message.c_str()));
    const Tensor& after = m->parameters()[0]->value;
    CHECK(std::equal(before.data(), before.data() + before.size(), after.data()));
  };
  untouched("NOTACHECKPOINT", "not a flopslab checkpoint");
  std::string flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x40;
  untouched(flipped, "checksum mismatch");
  std::string version = bytes;
  version[8] = 1;
  untouched(version, "checkpoint version 1, this build reads version 2");
  untouched(bytes, "holds a 'cnn' model, not 'mlp'", "mlp");
  untouched(bytes.substr(0, 40), "");  // truncated: some error, never a crash
}

namespace {
const Dataset& fashion(const std::string& split) {
  static const Dataset train = load_mnist_format(kFashionMnistDir, "train");
  static const Dataset test = load_mnist_format(kFashionMnistDir, "t10k");
  return split == "train" ? train : test;
}
}  // namespace

TEST_CASE("Fashion-MNIST from Debian's package: 60000 + 10000 images of 28x28, ten classes") {
  CHECK(fashion("train").images.shape() == std::vector<std::int64_t>{60000, 1, 28, 28});
  CHECK(fashion("test").size() == 10000);
  std::vector<int> counts(10, 0);
  for (std::int64_t y : fashion("test").labels) ++counts[std::size_t(y)];
  CHECK(counts == std::vector<int>(10, 1000));  // the test set is balanced
}

TEST_CASE("a short training run learns: the MLP and the CNN on a few thousand images") {
  const Dataset train_part = take(fashion("train"), 4000), test_part = take(fashion("test"), 1000);
  for (const char* name : {"mlp", "cnn"}) {
    std::mt19937_64 rng(0);
    auto model = make_model(name, rng);
    const auto history = train(*model, "adam", 0.003, 2, train_part, test_part, {.batch = 32, .threads = 2});
    INFO(name, ": test accuracy ", history.back().test.accuracy);
    // Chance is 10%; full-data training reaches ~88% (MLP) and ~91% (CNN) in 5 epochs.
    CHECK(history.back().test.accuracy >= 0.75);
    CHECK(history.back().train_loss < history.front().train_loss);
  }
}

TEST_CASE("training is reproducible, and a resumed run equals an uninterrupted one") {
  const Dataset train_part = take(fashion("train"), 600), test_part = take(fashion("test"), 200);
  auto run = [&](int epochs, const std::string* resume_from, std::string* checkpoint) {
    std::mt19937_64 rng(5);
    auto model = make_model("cnn", rng);
    Trainer trainer(*model, constant_recipe("adam", 0.003, epochs, 0), train_part, {.batch = 50, .threads = 2, .seed = 3});
    if (resume_from != nullptr) trainer.restore(*resume_from, "ckpt", "cnn");
    trainer.set_callbacks(nullptr, [&](const EpochInfo&) {
      if (checkpoint != nullptr) *checkpoint = trainer.checkpoint("cnn");
      return true;
    });
    trainer.run(test_part);
    std::vector<float> weights;
    for (Parameter* p : model->parameters()) weights.insert(weights.end(), p->value.data(), p->value.data() + p->value.size());
    for (const Buffer& b : model->buffers()) weights.insert(weights.end(), b.value->data(), b.value->data() + b.value->size());
    return weights;
  };
  const std::vector<float> straight = run(2, nullptr, nullptr);
  CHECK(run(2, nullptr, nullptr) == straight);  // same seed, same threads: same numbers
  std::string after_one;
  run(1, nullptr, &after_one);
  CHECK(run(2, &after_one, nullptr) == straight);
}

TEST_CASE("a diverging run stops with a message naming where") {
  const Dataset part = take(fashion("train"), 256);
  std::mt19937_64 rng(0);
  auto model = make_model("mlp", rng);
  CHECK_THROWS_WITH(train(*model, "sgd", 1e6, 1, part, part, {.batch = 64}),
                    doctest::Contains("training stopped (try a smaller --lr)"));
}

TEST_CASE("transforms: flip, crop, jitter and mixup do what they say") {
  std::mt19937_64 rng(12);
  Batch b{Tensor({4, 1, 5, 6}), {0, 1, 2, 3}, {}};
  for (std::int64_t i = 0; i < b.x.size(); ++i) b.x[i] = float(i % 30) / 30.0f;
  const Tensor original = b.x.clone();
  SUBCASE("a flip reverses every row or leaves the image alone") {
    apply_transforms(b, {.flip = true}, 10, rng);
    int flipped = 0;
    for (std::int64_t i = 0; i < 4; ++i) {
      bool same = true, reversed = true;
      for (std::int64_t r = 0; r < 5; ++r)
        for (std::int64_t q = 0; q < 6; ++q) {
          same = same && b.x[(i * 5 + r) * 6 + q] == original[(i * 5 + r) * 6 + q];
          reversed = reversed && b.x[(i * 5 + r) * 6 + q] == original[(i * 5 + r) * 6 + 5 - q];
        }
      CHECK((same || reversed));
      flipped += reversed && !same;
    }
    CHECK(flipped > 0);
  }
  SUBCASE("a padded crop shifts the image by at most the padding, filling with zeros") {
    b.x.fill(1.0f);
    apply_transforms(b, {.crop_padding = 2}, 10, rng);
    for (std::int64_t i = 0; i < 4; ++i) {
      std::int64_t ones = 0;
      for (std::int64_t e = 0; e < 30; ++e) ones += b.x[i * 30 + e] == 1.0f;
      CHECK(ones >= 3 * 4);  // at least (5-2) x (6-2) of the image stays
    }
  }
  SUBCASE("jitter keeps pixels in [0, 1]; a [1, 1] range changes nothing") {
    apply_transforms(b, {.jitter_low = 1, .jitter_high = 1}, 10, rng);
    CHECK(std::equal(b.x.data(), b.x.data() + b.x.size(), original.data()));
    apply_transforms(b, {.jitter_low = 0.5f, .jitter_high = 1.5f}, 10, rng);
    CHECK(*std::min_element(b.x.data(), b.x.data() + b.x.size()) >= 0.0f);
    CHECK(*std::max_element(b.x.data(), b.x.data() + b.x.size()) <= 1.0f);
  }
  SUBCASE("mixup blends pairs and their labels with the same weight") {
    apply_transforms(b, {.mixup_alpha = 0.4f}, 10, rng);
    REQUIRE(b.soft_targets.shape() == std::vector<std::int64_t>{4, 10});
    for (std::int64_t i = 0; i < 4; ++i) {
      double mass = 0;
      for (std::int64_t k = 0; k < 10; ++k) mass += b.soft_targets[i * 10 + k];
      CHECK(mass == doctest::Approx(1.0));
      CHECK(b.soft_targets[i * 10 + b.y[std::size_t(i)]] > 0);
    }
  }
  SUBCASE("normalisation") {
    apply_transforms(b, {.mean = 0.5f, .stddev = 0.25f}, 10, rng);
    CHECK(b.x[1] == doctest::Approx((original[1] - 0.5) / 0.25));
  }
}

TEST_CASE("a batch is its plan applied: the samples, each one's random choices, then normalisation") {
  const Dataset part = take(fashion("train"), 300);
  const Transforms augment{.flip = true, .crop_padding = 3, .jitter_low = 0.6f, .jitter_high = 1.4f, .mean = 0.3f,
                           .stddev = 0.4f};
  DataLoader loader(part, 50, true, true, 11, augment);
  loader.start_epoch(1);
  for (std::int64_t index : {0, 4}) {
    const BatchPlan plan = loader.plan(index);
    const Batch b = loader.batch(index);
    REQUIRE(plan.samples.size() == 50);
    REQUIRE(plan.augments.size() == 50);
    Tensor rebuilt({50, 1, 28, 28});
    for (std::size_t i = 0; i < 50; ++i) {
      CHECK(b.y[i] == part.labels[std::size_t(plan.samples[i])]);
      std::copy_n(part.images.data() + plan.samples[i] * 784, 784, rebuilt.data() + std::int64_t(i) * 784);
      apply_augment(rebuilt.data() + std::int64_t(i) * 784, 1, 28, 28, plan.augments[i]);
    }
    normalize(rebuilt, augment.mean, augment.stddev);
    CHECK(std::equal(rebuilt.data(), rebuilt.data() + rebuilt.size(), b.x.data()));
    int flips = 0, shifted = 0;
    for (const SampleAugment& a : plan.augments) {
      flips += a.flip, shifted += a.dx != 0 || a.dy != 0;
      CHECK(std::abs(a.dx) <= 3);
      CHECK((a.jitter && a.brightness >= 0.6f && a.brightness <= 1.4f));
    }
    CHECK(flips > 0);
    CHECK(flips < 50);
    CHECK(shifted > 0);
  }
}

TEST_CASE("8-bit images survive the trip to bytes (the GPU-resident dataset), anything else is refused") {
  const Dataset part = take(fashion("train"), 20);
  const std::vector<std::uint8_t> bytes = images_as_bytes(part);
  REQUIRE(std::int64_t(bytes.size()) == part.images.size());
  for (std::int64_t i = 0; i < part.images.size(); ++i) CHECK(float(bytes[std::size_t(i)]) / 255.0f == part.images[i]);
  Dataset odd = take(part, 3);
  odd.images[784 + 5] = 0.3337f;
  CHECK_THROWS_WITH(images_as_bytes(odd), "the dataset cannot stay on the GPU as 8-bit pixels: sample 1 has the pixel "
                                          "0.333700, not a multiple of 1/255 in [0, 1]; train without --data-on-gpu");
}

TEST_CASE("pixels as bytes: exactly k / 255 as loaded, or within a tolerance; the first other value named") {
  // A k whose product with 1/255 is not the quotient k / 255 (they differ in the last bit).
  int off_grid = -1;
  for (int k = 1; k < 256 && off_grid < 0; ++k)
    if (float(k) * (1.0f / 255.0f) != float(k) / 255.0f) off_grid = k;
  REQUIRE(off_grid > 0);
  Tensor v({6});
  v[0] = 0, v[1] = 1, v[2] = 7.0f / 255.0f, v[3] = float(off_grid) * (1.0f / 255.0f), v[4] = 0.3337f,
  v[5] = std::numeric_limits<float>::quiet_NaN();
  std::vector<std::uint8_t> bytes(6);
  CHECK(pixels_as_bytes(v, 0, bytes.data()) == 3);
  CHECK(pixels_as_bytes(v, 1e-3f, bytes.data()) == 4);
  CHECK(bytes[1] == 255);
  CHECK(bytes[2] == 7);
  CHECK(bytes[3] == off_grid);
  v[4] = std::nextafter(2.0f / 255.0f, 0.0f);  // just under the grid: 2 within the tolerance
  CHECK(pixels_as_bytes(v, 1e-3f, bytes.data()) == 5);  // NaN is no pixel
  CHECK(bytes[4] == 2);
  CHECK(pixels_as_bytes(v, 0, bytes.data()) == 3);
  v[3] = 1.0f / 255.0f;
  CHECK(pixels_as_bytes(v, 0, bytes.data()) == 4);
  v[4] = 2.0f / 255.0f;
  v[5] = -0.0f;  // not the +0 that 0 / 255 gives
  CHECK(pixels_as_bytes(v, 0, bytes.data()) == 5);
  v[5] = 0;
  CHECK(pixels_as_bytes(v, 0, bytes.data()) == -1);
}

// A shuffled loader gathers from a byte copy of 8-bit images; it must hand out the same floats
// as one that reads the float images (here a copy with one value off the 1/255 grid, which
// keeps it from making a byte copy), in every batch without that sample.
TEST_CASE("shuffled batches gathered from the byte copy are the float images' batches, bit for bit") {
  const Dataset part = take(fashion("train"), 640);
  Dataset floats = take(part, part.size());
  constexpr std::int64_t kOdd = 600;
  floats.images[kOdd * 784 + 300] = 0.3337f;
  const Transforms plain{}, normalised{.mean = 0.286f, .stddev = 0.353f},
      augmented{.flip = true, .crop_padding = 2, .jitter_low = 0.7f, .jitter_high = 1.3f, .mixup_alpha = 0.2f,
                .mean = 0.3f, .stddev = 0.4f};
  for (const Transforms& t : {plain, normalised, augmented}) {
    DataLoader from_bytes(part, 64, true, true, 5, t), from_floats(floats, 64, true, true, 5, t);
    REQUIRE(from_bytes.reads_bytes());
    REQUIRE_FALSE(from_floats.reads_bytes());
    CHECK_FALSE(DataLoader(part, 64, false, false, 5, t).reads_bytes());  // in order: streamed, no copy
    from_bytes.start_epoch(2), from_floats.start_epoch(2);
    int compared = 0;
    for (std::int64_t index = 0; index < from_bytes.batches(); ++index) {
      const BatchPlan plan = from_bytes.plan(index);
      if (std::find(plan.samples.begin(), plan.samples.end(), kOdd) != plan.samples.end()) continue;
      const Batch a = from_bytes.batch(index), b = from_floats.batch(index);
      REQUIRE(a.x.size() == b.x.size());
      CHECK(std::memcmp(a.x.data(), b.x.data(), std::size_t(a.x.size()) * sizeof(float)) == 0);
      CHECK(a.y == b.y);
      CHECK(a.soft_targets.size() == b.soft_targets.size());
      CHECK(std::equal(a.soft_targets.data(), a.soft_targets.data() + a.soft_targets.size(), b.soft_targets.data()));
      CHECK(a.first_non_finite == -1);
      ++compared;
    }
    CHECK(compared == from_bytes.batches() - 1);
  }
  // A normalisation that makes every value infinite is still caught, at the first value.
  DataLoader broken(part, 64, true, true, 5, Transforms{.mean = 0.5f, .stddev = 0});
  REQUIRE(broken.reads_bytes());
  CHECK(broken.batch(0).first_non_finite == 0);
}

TEST_CASE("the GPU gather's image fits a block's shared memory beside its scratch, or is refused before launch") {
  CHECK(gather_shared_memory_problem(1, 28, 28).empty());  // Fashion-MNIST: 3 KiB
  CHECK(gather_shared_memory_problem(3, 32, 32).empty());  // CIFAR: 12 KiB
  // 11,776 floats + 2 KiB of scratch = 48 KiB exactly; one more float does not fit, nor
  // anything up to 12,288 floats (3 x 64 x 64), which a check of the image alone let through.
  CHECK(gather_shared_memory_problem(1, 1, 11776).empty());
  CHECK(gather_shared_memory_problem(1, 1, 11777) ==
        "images of 1x1x11777 (47108 bytes) do not fit one block's shared memory beside the gather's 2048-byte scratch "
        "(49152 bytes in all); train without --data-on-gpu");
  CHECK_FALSE(gather_shared_memory_problem(3, 64, 64).empty());
  CHECK_FALSE(gather_shared_memory_problem(1, 1, 12288).empty());
}

TEST_CASE("prefetching workers hand out the same batches in the same order as the loader") {
  const Dataset part = take(fashion("train"), 1000);
  const Transforms augment{.flip = true, .crop_padding = 2, .jitter_low = 0.5f, .jitter_high = 1.5f, .mixup_alpha = 0.2f};
  DataLoader loader(part, 64, true, false, 4, augment);
  loader.start_epoch(2);
  std::vector<Batch> direct;
  for (std::int64_t i = 0; i < loader.batches(); ++i) direct.push_back(loader.batch(i));
  for (int workers : {0, 1, 3}) {
    BatchPrefetcher prefetcher(loader, workers, 3);
    for (std::int64_t i = 0; i < loader.batches(); ++i) {
      const Batch b = prefetcher.next();
      INFO("workers ", workers, ", batch ", i);
      CHECK(b.y == direct[std::size_t(i)].y);
      CHECK(std::equal(b.x.data(), b.x.data() + b.x.size(), direct[std::size_t(i)].x.data()));
    }
  }
  {  // Stopping early (an exception in training, early stopping) must not hang or leak threads.
    BatchPrefetcher abandoned(loader, 3, 2);
    abandoned.next();
  }
}

TEST_CASE("tensor ops: broadcasting add and mul, sums and means over a dimension, views without copies") {
  Tensor x({2, 3});
  for (int i = 0; i < 6; ++i) x[i] = float(i);  // [[0 1 2] [3 4 5]]
  Tensor row({1, 3}), column({2, 1});
  row[0] = 10, row[1] = 20, row[2] = 30;
  column[0] = 2, column[1] = -1;
  const Tensor a = add(x, row), m = mul(x, column);
  CHECK(std::vector<float>(a.data(), a.data() + 6) == std::vector<float>{10, 21, 32, 13, 24, 35});
  CHECK(std::vector<float>(m.data(), m.data() + 6) == std::vector<float>{0, 2, 4, -3, -4, -5});
  CHECK(add(column, row).shape() == std::vector<std::int64_t>{2, 3});
  CHECK_THROWS_WITH(add(x, Tensor({2, 2})), "add: cannot broadcast 2x3 with 2x2");
  const Tensor s0 = sum(x, 0), m1 = mean(x, 1);
  CHECK(s0.shape() == std::vector<std::int64_t>{1, 3});
  CHECK(std::vector<float>(s0.data(), s0.data() + 3) == std::vector<float>{3, 5, 7});
  CHECK(std::vector<float>(m1.data(), m1.data() + 2) == std::vector<float>{1, 4});
  const Tensor v = x.view({3, -1});
  CHECK(v.shape() == std::vector<std::int64_t>{3, 2});
  CHECK(v.data() == x.data());
  CHECK_THROWS_WITH(x.view({4, -1}), "tensor view: cannot view 2x3 as 4x1");
  const Tensor per_channel = Tensor({1, 2, 1, 1}, 3.0f);
  CHECK(mul(Tensor({2, 2, 2, 2}, 1.0f), per_channel)[15] == 3.0f);
  Tensor nan_at_4({6});
  nan_at_4[4] = std::nanf("");
  CHECK(first_non_finite(nan_at_4) == 4);
  CHECK(first_non_finite(x) == -1);
  Tensor long_row({1000}, 1.0f);  // the scan goes block by block: the first bad one in a later block
  long_row[999] = -std::numeric_limits<float>::infinity();
  CHECK(first_non_finite(long_row) == 999);
  long_row[256] = std::nanf("");
  long_row[511] = std::numeric_limits<float>::infinity();
  CHECK(first_non_finite(long_row) == 256);
  long_row[256] = std::numeric_limits<float>::max();  // the largest finite value is finite
  CHECK(first_non_finite(long_row) == 511);
}

TEST_CASE("a non-finite input stops training with a message naming the sample") {
  Dataset d = take(fashion("train"), 128);
  d.images[70 * 784 + 5] = std::numeric_limits<float>::infinity();
  std::mt19937_64 rng(0);
  auto model = make_model("mlp", rng);
  // No shuffling of the batch order would name sample 70 of batch 2; shuffled, some sample of some batch.
  CHECK_THROWS_WITH(train(*model, "adam", 0.003, 1, d, d, {.batch = 64}),
                    doctest::Contains("has a non-finite input value; training stopped (check the data)"));
}

TEST_CASE("without an input gradient, backward stops at the first layer with parameters, gradients unchanged") {
  std::mt19937_64 rng(13);
  auto model = make_model("cnn", rng);
  const Dataset few = take(fashion("train"), 8);
  nn::DataLoader loader(few, 8, false, false, 0);
  const Tensor x = loader.batch(0).x;
  const Context full{.training = true}, lean{.training = true, .input_gradient = false};
  Tensor r(model->forward(x, full).shape(), 0.5f);
  const Tensor dx = model->backward(r, full);
  std::vector<Tensor> grads;
  for (Parameter* p : model->parameters()) grads.push_back(p->grad.clone());
  model->forward(x, lean);
  CHECK(model->backward(r, lean).empty());
  CHECK(dx.same_shape(x));
  for (std::size_t i = 0; i < grads.size(); ++i) {
    const Tensor& g = model->parameters()[i]->grad;
    CHECK(std::equal(g.data(), g.data() + g.size(), grads[i].data()));
  }
}
