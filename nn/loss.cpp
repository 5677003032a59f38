// Cross-entropy and mean-squared-error losses, forward and their input gradients.
#include "nn/loss.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "nn/cuda/ops.h"
#include "nn/device.h"

namespace flopslab::nn {
namespace {

// Only cross-entropy has a GPU half so far.
void require_host(const Tensor& x, const char* loss) {
  if (x.on_cuda()) throw std::invalid_argument(std::string(loss) + " is not on the GPU yet (cross-entropy is)");
}

void check_labels(const Tensor& x, const std::vector<std::int64_t>& labels, const char* loss) {
  if (x.rank() != 2) throw std::invalid_argument(std::string(loss) + ": expects N x K scores, got " + x.shape_string());
  if (std::int64_t(labels.size()) != x.dim(0))
    throw std::invalid_argument(std::string(loss) + ": " + std::to_string(labels.size()) + " labels for " +
                                std::to_string(x.dim(0)) + " rows");
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= x.dim(1))
      throw std::invalid_argument(std::string(loss) + ": label " + std::to_string(labels[i]) + " of sample " +
                                  std::to_string(i) + " is outside [0, " + std::to_string(x.dim(1)) + ")");
}

// log softmax of one row, in double.
void log_softmax(const float* row, std::int64_t k, std::vector<double>& out) {
  const double top = *std::max_element(row, row + k);
  double sum = 0;
  for (std::int64_t j = 0; j < k; ++j) sum += std::exp(double(row[j]) - top);
  const double log_sum = top + std::log(sum);
  out.resize(static_cast<std::size_t>(k));
  for (std::int64_t j = 0; j < k; ++j) out[std::size_t(j)] = double(row[j]) - log_sum;
}

}  // namespace

LossResult cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& labels,
                         const std::vector<float>& weights) {
  check_labels(logits, labels, "cross-entropy");
  if (logits.on_cuda()) {
    if (!weights.empty()) throw std::invalid_argument("cross-entropy: class weights are not on the GPU yet");
    return gpu::cross_entropy(logits, labels);
  }
  const std::int64_t n = logits.dim(0), k = logits.dim(1);
  if (!weights.empty() && std::int64_t(weights.size()) != k)
    throw std::invalid_argument("cross-entropy: " + std::to_string(weights.size()) + " class weights for " +
                                std::to_string(k) + " classes");
  LossResult r{0, Tensor(logits.shape())};
  std::vector<double> logp;
  double total_weight = 0;
  for (std::int64_t i = 0; i < n; ++i) total_weight += weights.empty() ? 1.0 : weights[std::size_t(labels[std::size_t(i)])];
  for (std::int64_t i = 0; i < n; ++i) {
    log_softmax(logits.data() + i * k, k, logp);
    const std::int64_t y = labels[std::size_t(i)];
    const double w = (weights.empty() ? 1.0 : weights[std::size_t(y)]) / total_weight;
    r.loss -= w * logp[std::size_t(y)];
    // d/dlogit_j = w * (softmax_j - [j == y])
    for (std::int64_t j = 0; j < k; ++j)
      r.grad[i * k + j] = float(w * (std::exp(logp[std::size_t(j)]) - (j == y ? 1.0 : 0.0)));
  }
  return r;
}

LossResult soft_cross_entropy(const Tensor& logits, const Tensor& targets) {
  require_host(logits, "soft cross-entropy");
  if (!logits.same_shape(targets) || logits.rank() != 2)
    throw std::invalid_argument("soft cross-entropy: logits " + logits.shape_string() + " and targets " +
                                targets.shape_string() + " differ");
  const std::int64_t n = logits.dim(0), k = logits.dim(1);
  LossResult r{0, Tensor(logits.shape())};
  std::vector<double> logp;
  for (std::int64_t i = 0; i < n; ++i) {
    log_softmax(logits.data() + i * k, k, logp);
    double mass = 0;
    for (std::int64_t j = 0; j < k; ++j) mass += targets[i * k + j];
    for (std::int64_t j = 0; j < k; ++j) {
      r.loss -= targets[i * k + j] * logp[std::size_t(j)] / double(n);
      r.grad[i * k + j] = float((mass * std::exp(logp[std::size_t(j)]) - targets[i * k + j]) / double(n));
    }
  }
  return r;
}

LossResult nll(const Tensor& log_probs, const std::vector<std::int64_t>& labels) {
  check_labels(log_probs, labels, "NLL");
  require_host(log_probs, "NLL");
  const std::int64_t n = log_probs.dim(0), k = log_probs.dim(1);
  LossResult r{0, Tensor(log_probs.shape())};
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t y = labels[std::size_t(i)];
    r.loss -= log_probs[i * k + y] / double(n);
    r.grad[i * k + y] = float(-1.0 / double(n));
  }
  return r;
}

LossResult mse(const Tensor& prediction, const Tensor& target) {
  require_host(prediction, "MSE");
  if (!prediction.same_shape(target))
    throw std::invalid_argument("MSE: prediction " + prediction.shape_string() + " and target " + target.shape_string() +
                                " differ");
  LossResult r{0, Tensor(prediction.shape())};
  const double count = double(prediction.size());
  for (std::int64_t i = 0; i < prediction.size(); ++i) {
    const double d = double(prediction[i]) - target[i];
    r.loss += d * d / count;
    r.grad[i] = float(2 * d / count);
  }
  return r;
}

LossResult multi_margin(const Tensor& scores, const std::vector<std::int64_t>& labels) {
  check_labels(scores, labels, "multi-margin");
  require_host(scores, "multi-margin");
  const std::int64_t n = scores.dim(0), k = scores.dim(1);
  LossResult r{0, Tensor(scores.shape())};
  const double scale = 1.0 / (double(k) * double(n));
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int64_t y = labels[std::size_t(i)];
    for (std::int64_t j = 0; j < k; ++j) {
      if (j == y) continue;
      const double margin = 1.0 - scores[i * k + y] + scores[i * k + j];
      if (margin > 0) {
        r.loss += margin * scale;
        r.grad[i * k + j] += float(scale);
        r.grad[i * k + y] -= float(scale);
      }
    }
  }
  return r;
}

Tensor one_hot(const std::vector<std::int64_t>& labels, std::int64_t classes) {
  Tensor t({std::int64_t(labels.size()), classes});
  for (std::size_t i = 0; i < labels.size(); ++i) t[std::int64_t(i) * classes + labels[i]] = 1.0f;
  return t;
}

#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
LossResult gpu::cross_entropy(const Tensor&, const std::vector<std::int64_t>&) { no_cuda("gpu::cross_entropy"); }
#endif

}  // namespace flopslab::nn
