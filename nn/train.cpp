#include "nn/train.h"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "nn/loss.h"

namespace flopslab::nn {

std::unique_ptr<Sequential> make_model(const std::string& name, std::mt19937_64& rng) {
  auto m = std::make_unique<Sequential>();
  auto relu = [] { return std::make_unique<Activation>(ActivationKind::relu); };
  if (name == "mlp" || name == "mlp-dropout") {
    m->add(std::make_unique<Flatten>());
    const std::int64_t widths[] = {784, 256, 128, 64, 10};
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
    m->add(std::make_unique<Linear>(128, 10, rng));
  } else {
    throw std::invalid_argument("unknown model '" + name + "' (valid: mlp, mlp-dropout, cnn, cnn-nobn)");
  }
  return m;
}

std::unique_ptr<Optimizer> make_optimizer(const std::string& name, std::vector<Parameter*> params, double lr,
                                          double weight_decay) {
  std::vector<ParamGroup> groups{{std::move(params), lr, weight_decay}};
  if (name == "sgd") return std::make_unique<Sgd>(std::move(groups), 0.9);
  if (name == "nesterov") return std::make_unique<Sgd>(std::move(groups), 0.9, true);
  if (name == "adam") return std::make_unique<Adam>(std::move(groups));
  if (name == "adamw") return std::make_unique<Adam>(std::move(groups), true);
  if (name == "rmsprop") return std::make_unique<RmsProp>(std::move(groups));
  throw std::invalid_argument("unknown optimizer '" + name + "' (valid: sgd, nesterov, adam, adamw, rmsprop)");
}

Metrics evaluate(Module& model, const Dataset& data, std::int64_t batch, int threads, const Transforms& transforms) {
  Metrics m;
  const std::int64_t k = data.classes;
  m.confusion.assign(std::size_t(k), std::vector<std::int64_t>(std::size_t(k), 0));
  const Context ctx{.training = false, .threads = threads};
  DataLoader loader(data, batch, false, false, 0, Transforms{.mean = transforms.mean, .stddev = transforms.stddev});
  double loss = 0;
  std::int64_t correct = 0, top3 = 0;
  for (std::int64_t b = 0; b < loader.batches(); ++b) {
    const Batch batch_data = loader.batch(b);
    const Tensor logits = model.forward(batch_data.x, ctx);
    loss += cross_entropy(logits, batch_data.y).loss * double(batch_data.y.size());
    const std::vector<std::int64_t> predicted = argmax_rows(logits);
    const auto best3 = topk_rows(logits, 3);
    for (std::size_t i = 0; i < predicted.size(); ++i) {
      const std::int64_t truth = batch_data.y[i];
      correct += predicted[i] == truth;
      for (std::int64_t c : best3[i]) top3 += c == truth;
      ++m.confusion[std::size_t(truth)][std::size_t(predicted[i])];
    }
  }
  const double n = double(data.size());
  m.loss = loss / n;
  m.accuracy = double(correct) / n;
  m.top3 = double(top3) / n;
  for (std::int64_t c = 0; c < k; ++c) {
    std::int64_t predicted_c = 0, actual_c = 0;
    for (std::int64_t o = 0; o < k; ++o) {
      predicted_c += m.confusion[std::size_t(o)][std::size_t(c)];
      actual_c += m.confusion[std::size_t(c)][std::size_t(o)];
    }
    const double hit = double(m.confusion[std::size_t(c)][std::size_t(c)]);
    m.precision.push_back(predicted_c ? hit / double(predicted_c) : 0.0);
    m.recall.push_back(actual_c ? hit / double(actual_c) : 0.0);
  }
  return m;
}

std::vector<EpochInfo> train(Module& model, Optimizer& optimizer, const Dataset& train_data, const Dataset& test_data,
                             const TrainOptions& o) {
  std::vector<EpochInfo> history;
  optimizer.set_threads(o.threads);
  DataLoader loader(train_data, o.batch, true, true, o.seed, o.transforms);
  if (loader.batches() == 0)
    throw std::invalid_argument("batch size " + std::to_string(o.batch) + " is larger than the " +
                                std::to_string(train_data.size()) + " training samples");
  for (int epoch = o.first_epoch; epoch < o.epochs; ++epoch) {
    // Every random choice of an epoch follows from (seed, epoch), so a resumed run repeats it.
    std::mt19937_64 rng(o.seed * 7919 + std::uint64_t(epoch));
    const Context ctx{.training = true, .threads = o.threads, .rng = &rng, .input_gradient = false};
    loader.start_epoch(epoch);
    const auto started = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::int64_t correct = 0, seen = 0;
    BatchPrefetcher batches(loader, o.workers);
    for (std::int64_t step = 0; step < loader.batches(); ++step) {
      const Batch b = batches.next();
      if (const std::int64_t bad = first_non_finite(b.x); bad >= 0)
        throw std::runtime_error("sample " + std::to_string(bad / (b.x.size() / b.x.dim(0))) + " of batch " +
                                 std::to_string(step + 1) + " in epoch " + std::to_string(epoch + 1) +
                                 " has a non-finite input value; training stopped (check the data)");
      const Tensor logits = model.forward(b.x, ctx);
      // Mixup's batches carry mixed labels; accuracy counts each sample's own label.
      const LossResult loss = o.mse_loss                  ? mse(logits, one_hot(b.y, logits.dim(1)))
                              : b.soft_targets.empty() ? cross_entropy(logits, b.y)
                                                       : soft_cross_entropy(logits, b.soft_targets);
      if (!std::isfinite(loss.loss))
        throw std::runtime_error("the loss became " + std::to_string(loss.loss) + " at epoch " +
                                 std::to_string(epoch + 1) + ", step " + std::to_string(step + 1) +
                                 "; training stopped (try a smaller --lr)");
      model.backward(loss.grad, ctx);
      optimizer.step();
      const std::vector<std::int64_t> predicted = argmax_rows(logits);
      for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == b.y[i];
      seen += std::int64_t(b.y.size());
      loss_sum += loss.loss * double(b.y.size());
      if (o.on_step) {
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        o.on_step({epoch, step, loader.batches(), loss_sum / double(seen), double(correct) / double(seen),
                   double(seen) / elapsed});
      }
    }
    EpochInfo info{.epoch = epoch, .train_loss = loss_sum / double(seen), .train_accuracy = double(correct) / double(seen)};
    info.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    info.samples_per_s = double(seen) / info.seconds;
    info.test = evaluate(model, test_data, 256, o.threads, o.transforms);
    history.push_back(info);
    if (o.on_epoch && !o.on_epoch(info)) break;
  }
  return history;
}

}  // namespace flopslab::nn
