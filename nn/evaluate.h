// A model in evaluation mode over a dataset: the test figures every run reports.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/data.h"
#include "nn/module.h"
#include "nn/precision.h"

namespace flopslab::nn {

struct Metrics {
  double loss = 0, accuracy = 0, top3 = 0;
  std::vector<std::vector<std::int64_t>> confusion;  // [true][predicted]
  std::vector<double> precision, recall;             // per class
};
// Evaluation mode; of the transforms only the normalisation applies.
Metrics evaluate(Module& model, const Dataset& data, std::int64_t batch, int threads, const Transforms& transforms = {},
                 Precision precision = Precision::fp32);

}  // namespace flopslab::nn
