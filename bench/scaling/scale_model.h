// The cost of scaling out (lesson 21, `flopslab scale`): data-parallel step time and scaling
// efficiency on N ranks, predicted from a rank's measured compute and a link's alpha and
// beta, or the all-reduce measured on a few ranks (bench/scaling/allreduce_bench.h). Each rank keeps its batch (weak scaling), so the compute per
// rank stays what one rank measured and the step grows by the communication it cannot hide:
//   - the gradients go in DDP's buckets (nn/ddp.h), each a ring all-reduce of its bytes;
//   - without overlap every bucket is reduced after backward, one after another;
//   - with overlap bucket i may start once backward has produced it (backward is taken to
//     produce gradient bytes at an even rate) and once the bucket before it has crossed; what
//     is still crossing when backward ends is exposed.
// Efficiency = compute / step: 1 when communication is free or hidden.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/scaling/allreduce_bench.h"
#include "harness/json.h"
#include "harness/table.h"
#include "nn/ddp.h"

namespace flopslab::bench {

struct ScaleWorkload {
  std::string name;
  std::vector<std::int64_t> parameter_bytes;  // per parameter tensor, forward order
  std::int64_t per_rank_batch = 0;
  double forward_s = 0, backward_s = 0, other_s = 0;  // per step on one rank; other: the update, data
  std::string source;  // where the times come from ("measured here: ...", "Goyal et al. 2017: ...")
  double compute_s() const { return forward_s + backward_s + other_s; }
  std::int64_t parameters() const;
};

struct ScalePoint {
  int ranks = 1;
  double compute_s = 0, allreduce_s = 0, exposed_s = 0, step_s = 0, efficiency = 1;
  std::size_t buckets = 0;
};

ScalePoint predict_scaling(const ScaleWorkload& w, const AllreduceModel& link, int ranks, bool overlap,
                           nn::BucketSizes sizes = {});
// The fewest ranks (a power of two up to 2^20) at which the all-reduce takes longer than the
// compute, with no overlap; 0 when none up to there does.
int ranks_where_communication_dominates(const ScaleWorkload& w, const AllreduceModel& link, nn::BucketSizes sizes = {});

// ResNet-50's 25.6 M parameters as one flat list in 161 tensors of about its layers' sizes
// (the bucket count matters for the latency term, the total for the bandwidth term).
std::vector<std::int64_t> resnet50_parameter_bytes();

// The ResNet-50 workload of Goyal et al. 2017 ("Accurate, large minibatch SGD"): 32 images per
// Tesla P100, whose backward takes 120 ms by their account; the forward is taken as half the
// backward (the usual 1:2), the update as free. Their servers: 8 P100s on NVLink, a 50 Gbit/s
// Ethernet port each, so a ring through all of them crosses 50 Gbit/s links.
ScaleWorkload goyal2017_resnet50();
// 50 Gbit/s with 5 us per message (an assumption: the paper gives no latency).
AllreduceModel goyal2017_link();

// A workload on a link.
struct ScaleScenario {
  ScaleWorkload workload;
  AllreduceModel link;
  std::string link_name;
};
// One row per scenario and rank count: compute, all-reduce, step and efficiency with and
// without overlap.
Table scale_table(const std::vector<ScaleScenario>& scenarios, const std::vector<int>& ranks);
// Every scenario's predictions at `ranks`, for scale.json and its chart.
Json scale_json(const std::vector<ScaleScenario>& scenarios, const std::vector<int>& ranks);

}  // namespace flopslab::bench
