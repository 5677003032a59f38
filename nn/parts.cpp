// Resolving part names and ranges to a Sequential model's layers.
#include "nn/parts.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace flopslab::nn {

const char* const kPartGrammar = "body, head, all, or layers such as 3, 2-5, 4-";

std::optional<PartName> parse_part_name(const std::string& part) {
  if (part == "all") return PartName{PartName::Kind::all};
  if (part == "body") return PartName{PartName::Kind::body};
  if (part == "head") return PartName{PartName::Kind::head};
  // Layer indices: digits, at most 9 of them (no model has a billion layers, and no overflow).
  auto index = [](const std::string& text) -> std::optional<std::size_t> {
    if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), ::isdigit)) return std::nullopt;
    return std::stoul(text);
  };
  const auto dash = part.find('-');
  const auto first = index(part.substr(0, dash));
  if (!first) return std::nullopt;
  PartName name{PartName::Kind::layers, *first, *first};
  if (dash == std::string::npos) return name;
  if (dash + 1 == part.size()) {
    name.to_end = true;
    return name;
  }
  const auto last = index(part.substr(dash + 1));
  if (!last) return std::nullopt;
  name.last = *last;
  return name;
}

LayerRange resolve_part(const Sequential& model, const std::string& part) {
  const std::optional<PartName> name = parse_part_name(part);
  if (!name) throw std::invalid_argument("part '" + part + "' is not " + kPartGrammar);
  const std::size_t count = model.layers.size();
  if (name->kind == PartName::Kind::all) return {0, count};
  if (name->kind == PartName::Kind::layers) {
    const std::size_t last = name->to_end ? count - 1 : name->last;
    if (count == 0 || name->first > last || last >= count)
      throw std::invalid_argument("part '" + part + "': the model has layers 0 to " + std::to_string(count - 1));
    return {name->first, last + 1};
  }
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
  return name->kind == PartName::Kind::head ? LayerRange{head, count} : LayerRange{0, head};
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
