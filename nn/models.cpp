// The models of the lessons: the MLPs, the CNNs and the Inception model (nn/models.h).
#include "nn/models.h"

#include <stdexcept>

#include "nn/loss.h"
#include "nn/memory.h"

namespace flopslab::nn {
namespace {

// A stem, one Inception block (Szegedy et al. 2015, with the 1x7/7x1 pair of v3), a residual
// block (He et al. 2016) and a global-average-pooled head: every pattern lesson 18 fuses.
//   1x28x28 -> conv 3x3 24 + BN + ReLU -> max pool 2              24x14x14
//   Inception: 1x1 16 | 1x1 16, 3x3 24 | 1x1 8, 1x7 8, 7x1 16 | max pool 3x3 s1, 1x1 8
//              (each conv + BN + ReLU), concatenated               64x14x14
//   max pool 2                                                    64x7x7
//   x + (conv 3x3 64 + BN + ReLU, conv 3x3 64 + BN), ReLU          64x7x7
//   global average pool, Linear 64 -> classes
void add_inception_model(Sequential& m, std::mt19937_64& rng, std::int64_t classes) {
  const auto cbr = [&](Sequential& seq, std::int64_t c, std::int64_t k, std::int64_t r, std::int64_t s, bool relu = true) {
    seq.add(std::make_unique<Conv2d>(conv::Shape{.c = c, .k = k, .r = r, .s = s, .pad_h = r / 2, .pad_w = s / 2}, rng));
    seq.add(std::make_unique<BatchNorm>(k));
    if (relu) seq.add(std::make_unique<Activation>(ActivationKind::relu));
  };
  cbr(m, 1, 24, 3, 3);
  m.add(std::make_unique<Pool2d>(PoolKind::max, 2, 2));
  auto block = std::make_unique<Concat>();
  auto b0 = std::make_unique<Sequential>(), b1 = std::make_unique<Sequential>(), b2 = std::make_unique<Sequential>(),
       b3 = std::make_unique<Sequential>();
  cbr(*b0, 24, 16, 1, 1);
  cbr(*b1, 24, 16, 1, 1), cbr(*b1, 16, 24, 3, 3);
  cbr(*b2, 24, 8, 1, 1), cbr(*b2, 8, 8, 1, 7), cbr(*b2, 8, 16, 7, 1);
  b3->add(std::make_unique<Pool2d>(PoolKind::max, 3, 1, 1));
  cbr(*b3, 24, 8, 1, 1);
  block->add(std::move(b0)).add(std::move(b1)).add(std::move(b2)).add(std::move(b3));
  m.add(std::move(block));
  m.add(std::make_unique<Pool2d>(PoolKind::max, 2, 2));
  auto body = std::make_unique<Sequential>();
  cbr(*body, 64, 64, 3, 3), cbr(*body, 64, 64, 3, 3, false);
  m.add(std::make_unique<Residual>(std::move(body)));
  m.add(std::make_unique<Activation>(ActivationKind::relu));
  m.add(std::make_unique<GlobalAvgPool>());
  m.add(std::make_unique<Linear>(64, classes, rng));
}

}  // namespace

const std::vector<std::string>& model_names() {
  static const std::vector<std::string> names = {"mlp", "mlp-dropout", "cnn", "cnn-nobn", "inception"};
  return names;
}

std::string model_names_text() {
  std::string out;
  for (const std::string& name : model_names()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

std::unique_ptr<Sequential> make_model(const std::string& name, std::mt19937_64& rng, std::int64_t classes) {
  auto m = std::make_unique<Sequential>();
  auto relu = [] { return std::make_unique<Activation>(ActivationKind::relu); };
  if (name == "mlp" || name == "mlp-dropout") {
    m->add(std::make_unique<Flatten>());
    const std::int64_t widths[] = {784, 256, 128, 64, classes};
    for (int i = 0; i < 4; ++i) {
      m->add(std::make_unique<Linear>(widths[i], widths[i + 1], rng));
      if (i < 3) m->add(relu());
      if (i < 3 && name == "mlp-dropout") m->add(std::make_unique<Dropout>(0.2f));
    }
  } else if (name == "cnn" || name == "cnn-nobn") {
    std::int64_t channels = 1;
    for (std::int64_t out : {16, 32}) {
      m->add(std::make_unique<Conv2d>(conv::Shape{.c = channels, .k = out, .r = 3, .s = 3, .pad_h = 1, .pad_w = 1}, rng));
      if (name == "cnn") m->add(std::make_unique<BatchNorm>(out));
      m->add(relu());
      m->add(std::make_unique<Pool2d>(PoolKind::max, 2, 2));
      channels = out;
    }
    m->add(std::make_unique<Flatten>());
    m->add(std::make_unique<Linear>(32 * 7 * 7, 128, rng));
    m->add(relu());
    m->add(std::make_unique<Linear>(128, classes, rng));
  } else if (name == "inception") {
    add_inception_model(*m, rng, classes);
  } else {
    throw std::invalid_argument("unknown model '" + name + "' (valid: " + model_names_text() + ")");
  }
  m->parameters();  // names every parameter by its path
  return m;
}

std::int64_t estimate_training_bytes(Sequential& model, std::int64_t batch, const std::vector<std::int64_t>& sample) {
  std::int64_t params = 0;
  for (Parameter* p : model.parameters()) params += p->value.size();
  std::vector<std::int64_t> shape{2};
  shape.insert(shape.end(), sample.begin(), sample.end());
  const Tensor x(shape, 0.5f);
  std::mt19937_64 rng(0);
  const Context ctx{.training = true, .rng = &rng, .input_gradient = false, .update_statistics = false};
  const std::int64_t live = memory::usage().live;
  memory::reset_peak();
  const Tensor logits = model.forward(x, ctx);
  const LossResult loss = cross_entropy(logits, std::vector<std::int64_t>(2, 0));
  (void)model.backward(loss.grad, ctx);
  const std::int64_t per_sample = std::max<std::int64_t>(memory::usage().peak - live, 0) / 2;
  return 4 * params * std::int64_t(sizeof(float)) + per_sample * batch;
}

}  // namespace flopslab::nn
