// Lesson 13: initialisation and activations. Per-layer weight-gradient norms of a deep MLP
// for sigmoid and tanh with Xavier, ReLU with Kaiming and ReLU with small normal weights; then
// cross-entropy against MSE on the same model and data.
#include <cmath>

#include <fmt/format.h>

#include "bench/training/train_run.h"
#include "lessons/frame.h"
#include "lessons/training_setup.h"
#include "nn/init.h"
#include "nn/loss.h"

namespace flopslab::lessons {
namespace {

constexpr int kHidden = 8;  // hidden layers of 128

enum class Init { xavier, kaiming, small_normal };

struct Config {
  const char* name;
  nn::ActivationKind activation;
  Init init;
};

// Flatten, then kHidden x (Linear, activation), then Linear to 10 classes; biases zero.
std::unique_ptr<nn::Sequential> deep_mlp(const Config& c, std::mt19937_64& rng) {
  auto m = std::make_unique<nn::Sequential>();
  m->add(std::make_unique<nn::Flatten>());
  std::int64_t in = 784;
  for (int l = 0; l <= kHidden; ++l) {
    const std::int64_t out = l == kHidden ? 10 : 128;
    auto linear = std::make_unique<nn::Linear>(in, out, rng);
    if (c.init == Init::xavier) nn::xavier_normal(linear->weight.value, in, out, rng);
    if (c.init == Init::kaiming) nn::kaiming_normal(linear->weight.value, in, rng);
    if (c.init == Init::small_normal) nn::xavier_normal(linear->weight.value, 1, 1, rng, 0.01);  // N(0, 0.01^2)
    nn::constant(linear->bias.value, 0);
    m->add(std::move(linear));
    if (l < kHidden) m->add(std::make_unique<nn::Activation>(c.activation));
    in = out;
  }
  return m;
}

double norm(const nn::Tensor& t) {
  double s = 0;
  for (std::int64_t i = 0; i < t.size(); ++i) s += double(t[i]) * t[i];
  return std::sqrt(s);
}

}  // namespace

int run_lesson_13(const LessonOptions& options) {
  LessonRun lesson(13, "Initialisation and activations");
  const int threads = lesson_threads(options);
  const bench::LoadedData data = lesson_data(options, 3000, 1000);

  // 1. One backward pass of a deep MLP on 256 real images: how big is each layer's gradient?
  nn::DataLoader loader(data.train, 256, false, false, 0, data.normalise);
  const nn::Batch batch = loader.batch(0);
  const Config configs[] = {{"sigmoid, Xavier", nn::ActivationKind::sigmoid, Init::xavier},
                            {"tanh, Xavier", nn::ActivationKind::tanh, Init::xavier},
                            {"ReLU, Kaiming", nn::ActivationKind::relu, Init::kaiming},
                            {"ReLU, N(0, 0.01)", nn::ActivationKind::relu, Init::small_normal}};
  bench::Table table({{"activation, initialisation", bench::Table::Align::left}, {"|dW| layer 1"}, {"layer 5"},
                      {"layer 9 (output)"}, {"layer 1 / layer 9"}, {"per layer"}});
  std::vector<double> ratio;
  for (const Config& c : configs) {
    std::mt19937_64 rng(1);
    auto model = deep_mlp(c, rng);
    const nn::Context ctx{.training = true, .threads = threads};
    const nn::LossResult loss = nn::cross_entropy(model->forward(batch.x, ctx), batch.y);
    model->backward(loss.grad, ctx);
    std::vector<double> norms;
    for (nn::Parameter* p : model->parameters())
      if (p->value.rank() == 2) norms.push_back(norm(p->grad));
    ratio.push_back(norms.front() / norms.back());
    table.add_row({c.name, fmt::format("{:.2e}", norms.front()), fmt::format("{:.2e}", norms[4]),
                   fmt::format("{:.2e}", norms.back()), fmt::format("{:.2e}", ratio.back()),
                   fmt::format("{:.2f}x", std::pow(ratio.back(), 1.0 / kHidden))});
  }
  lesson.say(fmt::format("A {}-hidden-layer MLP (784, then 128 per layer, 10 out), one backward pass on 256 images. "
                         "Frobenius norm of each Linear's weight gradient:", kHidden));
  lesson.show(table);
  lesson.say("The sigmoid's slope is at most 1/4, so every sigmoid layer shrinks the gradient flowing back; "
             "tanh's slope reaches 1, ReLU's is 1 wherever it is active, and Kaiming's variance 2/fan_in makes "
             "up for the half of the units ReLU switches off. Weights of 0.01 shrink the signal in both directions.");
  const double sigmoid_factor = std::pow(ratio[0], 1.0 / kHidden);
  lesson.compare("gradient kept per sigmoid layer (Xavier)", 0.25, "the sigmoid's largest slope", sigmoid_factor, "x");

  // 2. The same MLP as seed 002, 100 steps (6400 images) with cross-entropy and with MSE: the
  // early phase, where the two losses differ most.
  const nn::Dataset early = nn::take(data.train, 6400);
  auto train_with = [&](bool mse) {
    std::mt19937_64 rng(2);
    auto model = nn::make_model("mlp", rng);
    nn::TrainOptions t{.batch = 64, .threads = threads, .transforms = data.normalise, .mse_loss = mse};
    t.on_step = [&](const nn::StepInfo& s) {
      if (s.step % 100 == 0) lesson.progress(fmt::format("{} step {}/{}", mse ? "MSE" : "cross-entropy", s.step + 1, s.steps));
    };
    return nn::train(*model, "sgd", 0.05, 1, early, data.test, t).back().test.accuracy;
  };
  const double ce = train_with(false), mse = train_with(true);
  lesson.say(fmt::format("\nSeed 002's MLP after {} steps of SGD (momentum 0.9, lr 0.05, batch 64): test accuracy "
                         "{:.1f}% with cross-entropy, {:.1f}% with MSE on one-hot targets.",
                         early.size() / 64, 100 * ce, 100 * mse));
  lesson.say("Cross-entropy's gradient is softmax - target: large while the answer is wrong. MSE on the logits "
             "asks every logit to hit 0 or 1 exactly, and its gradient shrinks as the outputs approach those "
             "values, right or wrong.");

  lesson.check(ratio[0] < 0.01, fmt::format("with sigmoid, layer 1's gradient is under 1% of the output layer's ({:.1e})",
                                            ratio[0]));
  lesson.check(ratio[2] > 0.1 && ratio[2] < 10,
               fmt::format("with ReLU and Kaiming, layer 1's gradient is within 10x of the output layer's ({:.2f})",
                           ratio[2]));
  lesson.check(ce > mse, fmt::format("cross-entropy learned faster than MSE ({:.1f}% vs {:.1f}% after the same steps)",
                                     100 * ce, 100 * mse));
  return lesson.finish("how a gradient survives the trip back through many layers is set by the activation's slope "
                       "and the weights' scale together: pick the initialisation for the activation.");
}

}  // namespace flopslab::lessons
