// A model in evaluation mode over a dataset: loss, accuracy, top-3, the confusion matrix and
// each class's precision and recall (nn/evaluate.h).
#include "nn/evaluate.h"

#include "nn/loss.h"

namespace flopslab::nn {

Metrics evaluate(Module& model, const Dataset& data, std::int64_t batch, int threads, const Transforms& transforms,
                 Precision precision) {
  Metrics m;
  const std::int64_t k = data.classes;
  m.confusion.assign(std::size_t(k), std::vector<std::int64_t>(std::size_t(k), 0));
  const Context ctx{.training = false, .threads = threads, .precision = precision};
  // The batches go where the model is (its first parameter says; a model without any stays
  // on the CPU).
  const std::vector<Parameter*> params = model.parameter_list();
  const DeviceTag device = params.empty() ? DeviceTag::cpu : params.front()->value.device();
  DataLoader loader(data, batch, false, false, 0, Transforms{.mean = transforms.mean, .stddev = transforms.stddev});
  double loss = 0;
  std::int64_t correct = 0, top3 = 0;
  for (std::int64_t b = 0; b < loader.batches(); ++b) {
    const Batch batch_data = loader.batch(b);
    const Tensor logits = model.forward(batch_data.x.to(device), ctx);
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
  model.release_cache();  // an evaluation's activations are not kept for a backward
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

}  // namespace flopslab::nn
