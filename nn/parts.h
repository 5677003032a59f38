// Parts of a Sequential model by name, for discriminative learning rates and freezing:
//   "head"  the classifier: in a convolutional model every layer after the last convolution
//           or pooling (Flatten, Linear, ...), in a model without one the last Linear
//   "body"  every layer before the head (the feature extractor)
//   "all"   every layer
//   "3", "2-5", "4-"  layers by index (inclusive; "4-" to the end)
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "nn/layers.h"
#include "nn/optim.h"

namespace flopslab::nn {

// The grammar of a part's name, the one the CLI, recipes and resolve_part all read: what a name
// says before any model is known. nullopt for a name that is none of these.
struct PartName {
  enum class Kind { all, body, head, layers } kind = Kind::all;
  std::size_t first = 0, last = 0;  // layers first..last (Kind::layers)
  bool to_end = false;              // "4-": from first to the last layer
};
std::optional<PartName> parse_part_name(const std::string& part);
// How messages describe the grammar: "body, head, all, or layers such as 3, 2-5, 4-".
extern const char* const kPartGrammar;

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
