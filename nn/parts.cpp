#include "nn/parts.h"

#include <stdexcept>

namespace flopslab::nn {

LayerRange resolve_part(const Sequential& model, const std::string& part) {
  const std::size_t count = model.layers.size();
  if (part == "all") return {0, count};
  if (part == "head" || part == "body") {
    // A convolutional model's head is everything after its last convolution or pooling (the
    // classifier on the features); a model without convolutions has its last Linear as head.
    std::size_t head = count;
    for (std::size_t i = count; i-- > 0;) {
      const Module* l = model.layers[i].get();
      if (dynamic_cast<const Conv2d*>(l) || dynamic_cast<const Pool2d*>(l)) {
        head = i + 1;
        break;
      }
    }
    if (head == count)
      for (std::size_t i = count; i-- > 0;)
        if (dynamic_cast<const Linear*>(model.layers[i].get()) != nullptr) {
          head = i;
          break;
        }
    if (head == count) throw std::invalid_argument("part '" + part + "': the model has no layer to call its head");
    return part == "head" ? LayerRange{head, count} : LayerRange{0, head};
  }
  const auto dash = part.find('-');
  try {
    const std::size_t first = std::stoul(part.substr(0, dash));
    const std::size_t last = dash == std::string::npos ? first
                             : dash + 1 == part.size() ? count - 1
                                                       : std::stoul(part.substr(dash + 1));
    if (first > last || last >= count)
      throw std::invalid_argument("part '" + part + "': the model has layers 0 to " + std::to_string(count - 1));
    return {first, last + 1};
  } catch (const std::logic_error& e) {
    if (dynamic_cast<const std::invalid_argument*>(&e) && std::string(e.what()).rfind("part '", 0) == 0) throw;
    throw std::invalid_argument("part '" + part + "' is not body, head, all, or layers such as 3, 2-5, 4-");
  }
}

void freeze_parts(Sequential& model, const std::vector<std::string>& parts) {
  for (Parameter* p : model.parameters()) p->frozen = false;
  for (const std::string& part : parts) {
    const LayerRange r = resolve_part(model, part);
    for (std::size_t i = r.begin; i < r.end; ++i)
      for (Parameter* p : model.layers[i]->parameter_list()) p->frozen = true;
  }
}

std::vector<MultipliedGroup> multiplier_groups(Sequential& model,
                                               const std::vector<std::pair<std::string, double>>& multipliers) {
  std::vector<double> per_layer(model.layers.size(), 1.0);
  for (const auto& [part, m] : multipliers) {
    const LayerRange r = resolve_part(model, part);
    for (std::size_t i = r.begin; i < r.end; ++i) per_layer[i] = m;
  }
  std::vector<MultipliedGroup> groups;
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    std::vector<Parameter*> params;
    for (Parameter* p : model.layers[i]->parameter_list())
      if (!p->frozen) params.push_back(p);
    if (params.empty()) continue;
    if (groups.empty() || groups.back().multiplier != per_layer[i]) groups.push_back({{}, per_layer[i]});
    for (Parameter* p : params) groups.back().group.params.push_back(p);
  }
  return groups;
}

}  // namespace flopslab::nn
