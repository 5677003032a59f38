// Parts of a Sequential model by name, for discriminative learning rates and freezing:
//   "head"  the classifier: in a convolutional model every layer after the last convolution
//           or pooling (Flatten, Linear, ...), in a model without one the last Linear
//   "body"  every layer before the head (the feature extractor)
//   "all"   every layer
//   "3", "2-5", "4-"  layers by index (inclusive; "4-" to the end)
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "nn/layers.h"
#include "nn/optim.h"

namespace flopslab::nn {

struct LayerRange {
  std::size_t begin = 0, end = 0;  // layers [begin, end)
};
// Throws std::invalid_argument naming the part and the model's layer count.
LayerRange resolve_part(const Sequential& model, const std::string& part);

// Sets `frozen` on every parameter of the parts, and clears it on the rest.
void freeze_parts(Sequential& model, const std::vector<std::string>& parts);

// The trainable parameters in groups of equal learning-rate multiplier, in layer order; a
// layer in several parts takes the multiplier of the last one listed. Frozen parameters are
// in no group. Each group's lr is base_lr times its multiplier.
struct MultipliedGroup {
  ParamGroup group;
  double multiplier = 1;
};
std::vector<MultipliedGroup> multiplier_groups(Sequential& model,
                                               const std::vector<std::pair<std::string, double>>& multipliers);

}  // namespace flopslab::nn
