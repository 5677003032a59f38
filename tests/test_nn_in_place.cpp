// Backward passes that write dx over dy (ReLU, BatchNorm): only where the caller drops dy
// (Context::dy_disposable, which Sequential sets between its layers) and nothing else shares
// it. The same values either way; a caller's own dy left as it was; and a Residual, which adds
// dy after its body's backward, keeps it whole.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "nn/layers.h"
#include "tests/random_tensor.h"

using namespace flopslab;
using namespace flopslab::nn;

namespace {
std::vector<float> values(const Tensor& t) { return {t.data(), t.data() + t.size()}; }
}  // namespace

TEST_CASE("ReLU and BatchNorm write dx over dy only when the caller drops it") {
  std::mt19937_64 rng(5);
  const Tensor x = tests::random_tensor({4, 3, 5, 5}, rng);
  Activation relu(ActivationKind::relu);
  BatchNorm norm(3);
  for (Module* layer : std::vector<Module*>{&relu, &norm}) {
    INFO(layer->describe());
    layer->forward(x, {.training = true});
    const Tensor dy = tests::random_tensor(x.shape(), rng);
    const std::vector<float> dy_before = values(dy);
    // The caller keeps dy: a new tensor, dy untouched.
    const Tensor kept = layer->backward(dy, {.training = true});
    CHECK(kept.data() != dy.data());
    CHECK(values(dy) == dy_before);
    // The caller drops a dy that nothing else holds: dx is dy's storage, with the same values.
    Tensor own = dy.clone();
    const float* storage = own.data();
    const Tensor over = layer->backward(own, {.training = true, .dy_disposable = true});
    CHECK(over.data() == storage);
    CHECK(values(over) == values(kept));
    // Disposable, but shared with another tensor: a new tensor again.
    Tensor shared = dy.clone();
    const Tensor other = shared;
    const Tensor fresh = layer->backward(shared, {.training = true, .dy_disposable = true});
    CHECK(fresh.data() != shared.data());
    CHECK(values(other) == dy_before);
    CHECK(values(fresh) == values(kept));
  }
}

TEST_CASE("a Residual inside a Sequential keeps dy whole for its skip path") {
  // x -> x + relu(x) -> tanh: the Residual gets tanh's fresh dx, which its body (a bare ReLU)
  // must not zero where x <= 0 before the Residual adds it (the skip path passes it there).
  std::mt19937_64 rng(6);
  const Tensor x = tests::random_tensor({2, 40}, rng);
  Sequential net;
  net.add(std::make_unique<Residual>(std::make_unique<Activation>(ActivationKind::relu)))
      .add(std::make_unique<Activation>(ActivationKind::tanh));
  const Tensor y = net.forward(x, {.training = true});
  const Tensor dy = tests::random_tensor(y.shape(), rng);
  const Tensor dx = net.backward(dy, {.training = true});
  std::int64_t wrong = 0;
  for (std::int64_t i = 0; i < x.size(); ++i) {
    const float t = std::tanh(x[i] + (x[i] > 0 ? x[i] : 0.0f));
    const float g = dy[i] * (1 - t * t);            // tanh's backward
    const float want = (x[i] > 0 ? g : 0.0f) + g;   // the body's ReLU plus the skip
    wrong += std::fabs(dx[i] - want) > 1e-6f * (1 + std::fabs(want));
  }
  CHECK(wrong == 0);
}
