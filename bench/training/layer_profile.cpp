// Training layers across batch sizes: time_training_steps with the per-layer timers on.
#include "bench/training/layer_profile.h"

#include <algorithm>

#include <fmt/format.h>

#include "harness/timing.h"

namespace flopslab::bench {

std::vector<BatchProfile> profile_layers(const LayerProfileOptions& o) {
  std::vector<BatchProfile> out;
  for (const std::string& model : o.models)
    for (std::int64_t batch : o.batches) {
      if (o.progress) o.progress(fmt::format("training layers: {} at batch {}", model, batch));
      StepTimingOptions s{.model = model, .device = o.device, .batch = batch, .threads = o.threads, .profile = true};
      if (o.quick) s.timing = quick_timing();
      out.push_back({.model = model,
                     .batch = batch,
                     .threads = o.threads,
                     .device = o.device == nn::DeviceTag::cuda ? "cuda" : "cpu",
                     .timing = time_training_steps(s)});
    }
  return out;
}

StepCost training_step_cost(const std::string& model, std::int64_t batch) {
  TrainingStepper stepper({.model = model, .batch = batch, .profile = true});
  stepper.step();
  StepCost cost{.bytes = kAdamBytesPerParameter * stepper.parameter_count()};
  for (const nn::LayerCost& c : stepper.layer_costs()) {
    cost.flops += c.forward_flops + c.backward_flops;
    cost.bytes += c.forward_bytes + c.backward_bytes;
    cost.largest_layer_bytes = std::max({cost.largest_layer_bytes, c.forward_bytes, c.backward_bytes});
  }
  return cost;
}

Json layer_profiles_json(const std::vector<BatchProfile>& profiles) {
  Json list = Json::array();
  for (const BatchProfile& p : profiles) {
    const nn::LayerTimes& t = p.timing.layers;
    const double steps = double(std::max<std::int64_t>(t.steps, 1));
    Json layers = Json::array();
    for (std::size_t i = 0; i < t.names.size(); ++i) {
      Json l = {{"layer", t.names[i]}, {"forward_ms", 1e3 * t.forward[i] / steps},
                {"backward_ms", 1e3 * t.backward[i] / steps}};
      if (i < p.timing.layer_costs.size() && p.timing.layer_costs[i].counted) {
        const nn::LayerCost& c = p.timing.layer_costs[i];
        l["forward_flops"] = c.forward_flops, l["forward_bytes"] = c.forward_bytes;
        l["backward_flops"] = c.backward_flops, l["backward_bytes"] = c.backward_bytes;
      }
      layers.push_back(std::move(l));
    }
    list.push_back({{"model", p.model},
                    {"batch", p.batch},
                    {"threads", p.threads},
                    {"device", p.device},
                    {"step_ms", 1e3 * p.timing.step_s},
                    {"spread", p.timing.spread},
                    {"optimizer_bytes", kAdamBytesPerParameter * p.timing.parameters},
                    {"batch_bytes", kSampleBytes * double(p.batch)},
                    {"layers", layers}});
  }
  return list;
}

}  // namespace flopslab::bench
