// The device-independent half of nn/graph.h (the rest is graph.cu, or cuda_none.cpp).
#include "nn/graph.h"

#include "nn/layers.h"
#include "nn/device.h"

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

#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
struct GraphedStep::State {};
GraphedStep::GraphedStep(Module&) { no_cuda("a CUDA graph of the training step"); }
GraphedStep::~GraphedStep() = default;
GraphedStep::Result GraphedStep::run(const Tensor&, const std::vector<std::int64_t>&, const Context&) {
  no_cuda("GraphedStep::run");
}
bool GraphedStep::captured() const { return false; }
std::int64_t GraphedStep::kernels_per_replay() const { return 0; }
#endif

}  // namespace flopslab::nn
