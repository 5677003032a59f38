// nn/ against PyTorch: every layer's forward and backward, the losses and three steps of each
// optimizer on small fixed inputs, from tests/fixtures/torch_reference.txt (written once by
// scripts/make_torch_fixtures.py with Debian's python3-torch; no PyTorch needed here).
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "nn/layers.h"
#include "nn/loss.h"
#include "nn/optim.h"

using namespace flopslab;
using namespace flopslab::nn;

namespace {

using Case = std::map<std::string, Tensor>;

const std::map<std::string, Case>& fixtures() {
  static const std::map<std::string, Case> cases = [] {
    std::map<std::string, Case> out;
    std::ifstream in(std::string(FLOPSLAB_SOURCE_DIR) + "/tests/fixtures/torch_reference.txt");
    REQUIRE_MESSAGE(in.good(), "tests/fixtures/torch_reference.txt is missing (scripts/make_torch_fixtures.py)");
    std::string line, current;
    while (std::getline(in, line)) {
      std::istringstream words(line);
      std::string kind, name;
      words >> kind;
      if (kind == "case") {
        words >> current;
      } else if (kind == "tensor") {
        int rank = 0;
        words >> name >> rank;
        std::vector<std::int64_t> dims(static_cast<std::size_t>(rank));
        for (std::int64_t& d : dims) words >> d;
        Tensor t(dims);
        for (std::int64_t i = 0; i < t.size(); ++i) words >> t[i];
        REQUIRE_MESSAGE(!words.fail(), "bad fixture line for ", current, ".", name);
        out[current][name] = t;
      }
    }
    return out;
  }();
  return cases;
}

const Case& fixture(const std::string& name) {
  auto it = fixtures().find(name);
  REQUIRE_MESSAGE(it != fixtures().end(), "no fixture case ", name);
  return it->second;
}

// |a - b| <= atol + rtol * |b| for every element, shapes equal.
void expect_close(const Tensor& actual, const Tensor& expected, const std::string& what, double rtol = 1e-4,
                  double atol = 1e-5) {
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), what, ": shape ", actual.shape_string(), " vs PyTorch's ",
                  expected.shape_string());
  int bad = 0;
  double worst = 0;
  for (std::int64_t i = 0; i < actual.size(); ++i) {
    const double error = std::fabs(double(actual[i]) - expected[i]);
    worst = std::max(worst, error);
    bad += error > atol + rtol * std::fabs(expected[i]);
  }
  CHECK_MESSAGE(bad == 0, what, ": ", bad, " of ", actual.size(), " elements differ from PyTorch (worst ", worst, ")");
}

void copy_into(Tensor& dst, const Tensor& src) {
  REQUIRE(dst.shape() == src.shape());
  std::copy(src.data(), src.data() + src.size(), dst.data());
}

// Sets the layer's parameters from the fixture, runs forward and backward(g), compares all.
void compare_layer(Module& layer, const std::string& name, const Context& ctx = {}) {
  const Case& c = fixture(name);
  for (Parameter* p : layer.parameters()) copy_into(p->value, c.at(p->name));
  const Tensor y = layer.forward(c.at("x"), ctx);
  expect_close(y, c.at("y"), name + " forward");
  const Tensor dx = layer.backward(c.at("g"), ctx);
  expect_close(dx, c.at("dx"), name + " dx");
  for (Parameter* p : layer.parameters()) expect_close(p->grad, c.at("d" + p->name), name + " d" + p->name);
}

std::vector<std::int64_t> labels_of(const Case& c) {
  std::vector<std::int64_t> out;
  for (std::int64_t i = 0; i < c.at("labels").size(); ++i) out.push_back(std::int64_t(c.at("labels")[i]));
  return out;
}

}  // namespace

TEST_CASE("Linear, Conv2d, pooling, shuffle and activations match PyTorch forward and backward") {
  std::mt19937_64 rng(0);
  Linear linear(5, 3, rng);
  compare_layer(linear, "linear");
  Conv2d conv({.c = 3, .k = 4, .r = 3, .s = 3, .stride_h = 2, .stride_w = 2, .pad_h = 1, .pad_w = 1}, rng);
  compare_layer(conv, "conv2d");
  Conv2d grouped({.c = 4, .k = 6, .r = 3, .s = 2, .stride_h = 2, .stride_w = 1, .pad_h = 1, .pad_w = 0, .dilation_h = 2,
                  .dilation_w = 1, .groups = 2},
                 rng);
  compare_layer(grouped, "conv2d_grouped");
  Conv2d one_by_seven({.c = 2, .k = 3, .r = 1, .s = 7, .pad_w = 3}, rng);
  compare_layer(one_by_seven, "conv2d_1x7");
  Pool2d max_pool(PoolKind::max, 2, 2), avg_pool(PoolKind::average, 3, 2, 1);
  compare_layer(max_pool, "maxpool2d");
  compare_layer(avg_pool, "avgpool2d_pad");
  ChannelShuffle shuffle(3);
  compare_layer(shuffle, "channel_shuffle");
  GlobalAvgPool global_pool;
  compare_layer(global_pool, "global_avg_pool");
  const std::pair<const char*, ActivationKind> activations[] = {
      {"relu", ActivationKind::relu},       {"leaky_relu", ActivationKind::leaky_relu}, {"relu6", ActivationKind::relu6},
      {"sigmoid", ActivationKind::sigmoid}, {"tanh", ActivationKind::tanh},             {"softplus", ActivationKind::softplus}};
  for (const auto& [name, kind] : activations) {
    Activation a(kind, 0.1f);
    compare_layer(a, name);
  }
}

TEST_CASE("BatchNorm matches PyTorch in training (with running statistics) and evaluation mode") {
  BatchNorm train_bn(3);
  compare_layer(train_bn, "batchnorm2d_train", {.training = true});
  expect_close(train_bn.running_mean, fixture("batchnorm2d_train").at("running_mean"), "running_mean");
  expect_close(train_bn.running_var, fixture("batchnorm2d_train").at("running_var"), "running_var");

  BatchNorm eval_bn(4);
  copy_into(eval_bn.running_mean, fixture("batchnorm1d_eval").at("running_mean"));
  copy_into(eval_bn.running_var, fixture("batchnorm1d_eval").at("running_var"));
  compare_layer(eval_bn, "batchnorm1d_eval", {.training = false});
}

TEST_CASE("losses match PyTorch's values and gradients") {
  struct LossCase {
    const char* name;
    std::function<LossResult(const Tensor&, const std::vector<std::int64_t>&)> loss;
  };
  const LossCase cases[] = {
      {"cross_entropy", [](const Tensor& x, const auto& y) { return cross_entropy(x, y); }},
      {"cross_entropy_weighted", [](const Tensor& x, const auto& y) { return cross_entropy(x, y, {1, 2, 0.5f, 1.5f, 3}); }},
      {"nll", [](const Tensor& x, const auto& y) { return nll(x, y); }},
      {"mse", [](const Tensor& x, const auto& y) { return mse(x, one_hot(y, x.dim(1))); }},
      {"multi_margin", [](const Tensor& x, const auto& y) { return multi_margin(x, y); }},
  };
  {  // soft targets (mixup's mixed labels)
    const Case& c = fixture("soft_cross_entropy");
    const LossResult r = soft_cross_entropy(c.at("x"), c.at("targets"));
    CHECK(r.loss == doctest::Approx(c.at("loss")[0]).epsilon(1e-5));
    expect_close(r.grad, c.at("dx"), "soft cross-entropy gradient");
  }
  for (const LossCase& lc : cases) {
    const Case& c = fixture(lc.name);
    const LossResult r = lc.loss(c.at("x"), labels_of(c));
    INFO(lc.name);
    CHECK(r.loss == doctest::Approx(c.at("loss")[0]).epsilon(1e-5));
    expect_close(r.grad, c.at("dx"), std::string(lc.name) + " gradient");
  }
}

TEST_CASE("three optimizer steps match PyTorch's") {
  struct OptCase {
    const char* name;
    std::function<std::unique_ptr<Optimizer>(Parameter*)> make;
  };
  const OptCase cases[] = {
      {"sgd_momentum_wd", [](Parameter* p) { return std::make_unique<Sgd>(std::vector<ParamGroup>{{{p}, 0.1, 0.01}}, 0.9); }},
      {"sgd_nesterov", [](Parameter* p) { return std::make_unique<Sgd>(std::vector<ParamGroup>{{{p}, 0.1, 0.0}}, 0.9, true); }},
      {"adam_wd", [](Parameter* p) { return std::make_unique<Adam>(std::vector<ParamGroup>{{{p}, 0.01, 0.1}}); }},
      {"adamw", [](Parameter* p) { return std::make_unique<Adam>(std::vector<ParamGroup>{{{p}, 0.01, 0.1}}, true); }},
      {"rmsprop", [](Parameter* p) { return std::make_unique<RmsProp>(std::vector<ParamGroup>{{{p}, 0.01, 0.0}}); }},
      {"rmsprop_momentum_wd",
       [](Parameter* p) { return std::make_unique<RmsProp>(std::vector<ParamGroup>{{{p}, 0.01, 0.01}}, 0.99, 1e-8, 0.9); }},
  };
  for (const OptCase& oc : cases) {
    const Case& c = fixture(oc.name);
    Parameter p{"w", c.at("w0").clone(), Tensor({7})};
    auto opt = oc.make(&p);
    for (int step = 0; step < 3; ++step) {
      std::copy(c.at("grads").data() + step * 7, c.at("grads").data() + (step + 1) * 7, p.grad.data());
      opt->step();
    }
    expect_close(p.value, c.at("w3"), oc.name, 1e-5, 1e-6);
  }
}
