// Losses: each returns the mean loss over the batch and dL/d(input) for backward.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/tensor.h"

namespace flopslab::nn {

struct LossResult {
  double loss = 0;
  Tensor grad;  // same shape as the input
};

// Cross-entropy on logits (N x K): log-softmax and NLL fused, so no probability underflows.
// With class weights w (K values; empty: all 1), PyTorch's weighted mean:
// sum_i w[y_i] * nll_i / sum_i w[y_i]. Labels outside [0, K) throw.
LossResult cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& labels,
                         const std::vector<float>& class_weights = {});
// Cross-entropy against soft targets (N x K rows summing to 1), for mixup's mixed labels.
LossResult soft_cross_entropy(const Tensor& logits, const Tensor& targets);
// NLL on log-probabilities: mean of -logp[i][y_i].
LossResult nll(const Tensor& log_probs, const std::vector<std::int64_t>& labels);
// Mean squared error over every element.
LossResult mse(const Tensor& prediction, const Tensor& target);
// Multi-class hinge (PyTorch's MultiMarginLoss, p = 1, margin 1):
// mean over i of sum_{j != y_i} max(0, 1 - x[i][y_i] + x[i][j]) / K.
LossResult multi_margin(const Tensor& scores, const std::vector<std::int64_t>& labels);

// One-hot targets for MSE on class scores.
Tensor one_hot(const std::vector<std::int64_t>& labels, std::int64_t classes);

}  // namespace flopslab::nn
