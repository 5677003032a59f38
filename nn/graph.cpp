// The device-independent half of nn/graph.h (the rest is graph.cu, or cuda_none.cpp).
#include "nn/graph.h"

#include "nn/layers.h"

namespace flopslab::nn {

std::string GraphedStep::cannot_capture(Module& model) {
  if (auto* seq = dynamic_cast<Sequential*>(&model)) {
    for (const ModulePtr& layer : seq->layers)
      if (std::string why = cannot_capture(*layer); !why.empty()) return why;
    return {};
  }
  // Dropout draws its mask on the host every step; a graph would replay the first mask.
  if (dynamic_cast<Dropout*>(&model) != nullptr || model.describe().find("Dropout(") != std::string::npos)
    return "a CUDA graph cannot capture " + model.describe() +
           " (its mask is drawn on the host each step and a replay would repeat the first); train without --graph";
  return {};
}

}  // namespace flopslab::nn
