// The data-parallel cost model: step time and scaling efficiency from compute and all-reduce.
#include "bench/scaling/scale_model.h"

#include <algorithm>
#include <numeric>
#include <stdexcept>

#include <fmt/format.h>

namespace flopslab::bench {

std::int64_t ScaleWorkload::parameters() const {
  return std::accumulate(parameter_bytes.begin(), parameter_bytes.end(), std::int64_t(0)) / 4;
}

ScalePoint predict_scaling(const ScaleWorkload& w, const AllreduceModel& link, int ranks, bool overlap,
                           nn::BucketSizes sizes) {
  if (ranks < 1) throw std::invalid_argument(fmt::format("{} ranks: at least 1", ranks));
  const std::vector<std::int64_t> buckets = nn::bucket_bytes(w.parameter_bytes, sizes);
  ScalePoint p{.ranks = ranks, .compute_s = w.compute_s(), .buckets = buckets.size()};
  const double total = double(std::accumulate(buckets.begin(), buckets.end(), std::int64_t(0)));
  double produced = 0, channel_free = 0;  // seconds from the start of backward
  for (std::int64_t b : buckets) {
    const double t = link.seconds_for(ranks, double(b));
    p.allreduce_s += t;
    produced += double(b);
    const double ready = overlap && total > 0 ? w.backward_s * produced / total : w.backward_s;
    channel_free = std::max(channel_free, ready) + t;
  }
  p.exposed_s = std::max(0.0, channel_free - w.backward_s);
  p.step_s = p.compute_s + p.exposed_s;
  p.efficiency = p.step_s > 0 ? p.compute_s / p.step_s : 1;
  return p;
}

int ranks_where_communication_dominates(const ScaleWorkload& w, const AllreduceModel& link, nn::BucketSizes sizes) {
  for (int n = 2; n <= (1 << 20); n *= 2)
    if (predict_scaling(w, link, n, false, sizes).allreduce_s > w.compute_s()) return n;
  return 0;
}

std::vector<std::int64_t> resnet50_parameter_bytes() {
  std::vector<std::int64_t> floats;
  auto conv_bn = [&](std::int64_t in, std::int64_t out, std::int64_t k) {
    floats.push_back(in * out * k * k);  // no bias: batch norm follows
    floats.push_back(out), floats.push_back(out);  // its scale and shift
  };
  conv_bn(3, 64, 7);
  std::int64_t in = 64;
  const std::int64_t widths[] = {64, 128, 256, 512}, blocks[] = {3, 4, 6, 3};
  for (int stage = 0; stage < 4; ++stage)
    for (std::int64_t b = 0; b < blocks[stage]; ++b) {  // the bottleneck: 1x1 down, 3x3, 1x1 up
      const std::int64_t w = widths[stage];
      conv_bn(in, w, 1), conv_bn(w, w, 3), conv_bn(w, 4 * w, 1);
      if (b == 0) conv_bn(in, 4 * w, 1);  // the projection shortcut
      in = 4 * w;
    }
  floats.push_back(in * 1000), floats.push_back(1000);  // the classifier
  for (auto& f : floats) f *= 4;
  return floats;
}

ScaleWorkload goyal2017_resnet50() {
  return {.name = "resnet50", .parameter_bytes = resnet50_parameter_bytes(), .per_rank_batch = 32, .forward_s = 0.060,
          .backward_s = 0.120, .source = "Goyal et al. 2017: backward 120 ms for 32 images on a Tesla P100, forward taken as half"};
}

AllreduceModel goyal2017_link() { return {.link = {.alpha_s = 5e-6, .beta_s_per_byte = 8.0 / 50e9}}; }

Table scale_table(const std::vector<ScaleScenario>& scenarios, const std::vector<int>& ranks) {
  Table t({{"model", Table::Align::left}, {"link", Table::Align::left}, {"ranks"}, {"global batch"}, {"compute"},
           {"all-reduce"}, {"step, overlap"}, {"efficiency"}, {"step, no overlap"}, {"efficiency"}});
  auto ms = [](double s) { return fmt::format("{:.2f} ms", 1e3 * s); };
  for (const ScaleScenario& c : scenarios)
    for (int n : ranks) {
      const ScalePoint on = predict_scaling(c.workload, c.link, n, true), off = predict_scaling(c.workload, c.link, n, false);
      t.add_row({c.workload.name, c.link_name, std::to_string(n), std::to_string(c.workload.per_rank_batch * n),
                 ms(on.compute_s), ms(on.allreduce_s), ms(on.step_s), fmt::format("{:.1f}%", 100 * on.efficiency),
                 ms(off.step_s), fmt::format("{:.1f}%", 100 * off.efficiency)});
    }
  return t;
}

Json scale_json(const std::vector<ScaleScenario>& scenarios, const std::vector<int>& ranks) {
  Json out = Json::array();
  for (const ScaleScenario& c : scenarios) {
    Json points = Json::array();
    for (int n : ranks) {
      const ScalePoint on = predict_scaling(c.workload, c.link, n, true), off = predict_scaling(c.workload, c.link, n, false);
      points.push_back({{"ranks", n}, {"step_s", on.step_s}, {"efficiency", on.efficiency},
                        {"step_s_no_overlap", off.step_s}, {"efficiency_no_overlap", off.efficiency},
                        {"allreduce_s", on.allreduce_s}});
    }
    out.push_back({{"model", c.workload.name}, {"link", c.link_name}, {"parameters", c.workload.parameters()},
                   {"per_rank_batch", c.workload.per_rank_batch}, {"compute_s", c.workload.compute_s()},
                   {"backward_s", c.workload.backward_s}, {"source", c.workload.source},
                   {"alpha_s", c.link.link.alpha_s}, {"beta_s_per_byte", c.link.link.beta_s_per_byte}, {"points", points}});
  }
  return out;
}

}  // namespace flopslab::bench
