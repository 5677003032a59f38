// The cost of the gradient all-reduce (lesson 21, `flopslab allreduce`): the collective timed
// over message sizes on the ranks of a communicator, fitted to t = alpha + n * beta, and the
// ring's single step (send n bytes to the next rank while receiving n from the previous one)
// timed and fitted the same way. A ring all-reduce of n bytes over N ranks is 2(N-1) such
// steps of n/N bytes: 2(N-1) alpha + 2(N-1)/N n beta, the model the measured times are set
// against and the cost model (bench/scaling/scale_model.h) extrapolates.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/fit.h"
#include "harness/json.h"
#include "harness/table.h"
#include "harness/timing.h"
#include "nn/distributed.h"

namespace flopslab::bench {

// The ring all-reduce of `bytes` over `ranks` ranks on links of `link`, and its bandwidth term
// 2(N-1)/N * n * beta alone. One rank: 0.
double ring_allreduce_seconds(const AlphaBeta& link, int ranks, double bytes);
double ring_bandwidth_seconds(const AlphaBeta& link, int ranks, double bytes);

struct CollectivePoint {
  std::int64_t bytes = 0;
  Timing timing;  // per call, the slowest rank's time of each sample
};

struct AllreduceStudy {
  int world = 1;
  std::string backend;
  std::vector<CollectivePoint> allreduce, ring_step;  // ring_step: empty for NCCL
  AlphaBeta allreduce_fit, link;  // fitted to the all-reduce and to the ring step
};

// Collective: every rank calls it with the same arguments. Sizes from 4 B up to max_bytes, x4
// apart. Each sample: a barrier, then k calls timed; the sample is the slowest rank's time / k.
// Throws std::invalid_argument for a single rank (nothing to measure) or max_bytes below 4 KiB.
// With `device` the buffers are on each rank's GPU and the all-reduce is NCCL's (each call
// waited for on the host); the ring step is then not timed, and `link` is derived from the
// all-reduce's fit (alpha / 2(N-1), beta / (2(N-1)/N)).
AllreduceStudy measure_allreduce(nn::Communicator& comm, std::int64_t max_bytes, bool quick,
                                 const std::function<void(const std::string&)>& progress = {},
                                 nn::DeviceCollectives* device = nullptr);

// The all-reduce's cost on N ranks for the cost model, calibrated on a measurement on W ranks:
// within the measured sizes it interpolates the measured time (log-log), keeps its bandwidth
// part t - 2(W-1) alpha and rescales it by the ring's 2(N-1)/N over 2(W-1)/W, adding 2(N-1)
// alpha; outside them (or with no measurement) the ring on `link`. So on W ranks it returns what
// was measured, including the library's algorithm and the summing itself.
struct AllreduceModel {
  AlphaBeta link;  // per ring step
  std::vector<double> bytes, seconds;  // the measured all-reduce, ascending sizes
  int measured_world = 0;
  double seconds_for(int ranks, double message_bytes) const;
};
// From a measurement: the ring step's alpha and beta fitted to the all-reduce itself
// (alpha / 2(W-1), beta / (2(W-1)/W)) and its measured times.
AllreduceModel allreduce_model(const AllreduceStudy& study);

// Bytes, measured median, its spread, the fit, the ring model and its bandwidth term.
Table allreduce_table(const AllreduceStudy& study);
Json to_json(const AllreduceStudy& study);
// Throws std::invalid_argument naming what is missing.
AllreduceStudy allreduce_study_from_json(const Json& j);

}  // namespace flopslab::bench
