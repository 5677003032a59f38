// The convolution sweep: every selected variant on every layer shape, pass and thread count,
// checked against the float64 reference (harness/check/conv_check.h) and timed against the best peer
// of the same run. Ratios are of times: Winograd or FFT peers do fewer multiplies than the
// direct FLOP count, so their "GFLOP/s" is an effective rate, not work done.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "harness/check/gemm_check.h"
#include "harness/counters.h"
#include "harness/json.h"
#include "harness/table.h"
#include "harness/timing.h"
#include "kernels/registry.h"

namespace flopslab::bench {

// A layer shape with a name for tables and charts ("resnet 3x3 64ch 56x56").
struct ConvLayer {
  std::string name;
  conv::Shape shape;
};

struct ConvSweepOptions {
  std::vector<ConvLayer> layers;
  std::vector<conv::Pass> passes{conv::Pass::forward};
  std::vector<int> threads{1};
  std::vector<const ConvVariant*> variants;  // CPU variants
  TimingOptions timing;
  double max_call_seconds = 3.0;  // as GemmSweepOptions
  int interleave_rounds = 3;
  std::function<void(const std::string&)> progress;
  std::uint64_t seed = 1;
};

struct ConvRow {
  const ConvVariant* variant = nullptr;
  std::size_t layer = 0;  // index into ConvSweep::layers
  conv::Pass pass = conv::Pass::forward;
  int threads = 1;
  std::string skipped;
  std::optional<Timing> timing;
  GemmCheck check;
  // One more call of a one-thread CPU row under perf_event, where the PMU is readable (as
  // GemmRow::counted): the roofline's measured intensity.
  std::optional<CounterValues> counted;

  double seconds() const { return timing ? timing->median : 0; }
};

struct ConvSweep {
  std::vector<ConvLayer> layers;
  std::vector<ConvRow> rows;
  std::string counters;  // "perf_event", or why no row has a counted call

  double gflops(const ConvRow& row) const;
  // The fastest peer's median time for the row's layer, pass, threads and device; NaN if none.
  double best_peer_seconds(const ConvRow& row) const;
  // The fastest measured ladder row of that cell, or null.
  const ConvRow* best_ladder(std::size_t layer, conv::Pass pass, int threads, Device device) const;
  bool all_checks_passed() const;
  // The measured row of this variant, layer and pass (any thread count when threads = 0), or null.
  const ConvRow* find(std::string_view variant, std::size_t layer, conv::Pass pass = conv::Pass::forward,
                      int threads = 0) const;
  // Its median seconds, NaN when it was not measured.
  double seconds(std::string_view variant, std::size_t layer, conv::Pass pass = conv::Pass::forward) const;
};

// The layers `flopslab conv` and the report use: ResNet-like 3x3 layers (64 channels at
// 56x56, 128 at 28x28), a 1x1, a 7x7 with its 1x7 and 7x1 factors, a grouped and a depthwise
// 3x3, batch 8 (quick: small versions of the same, batch 2).
std::vector<ConvLayer> default_conv_layers(bool quick);

std::string conv_sweep_problem(const ConvSweepOptions& options);  // empty when it can run

// Why a variant is not run for a pass on a layer: it cannot take the shape, has no such pass,
// or would need longer than max_call_seconds at the FLOP rate it reached so far (known_rate,
// FLOP/s; 0 when not measured yet). Empty when it runs.
std::string conv_skip_reason(const ConvVariant& variant, const conv::Shape& shape, conv::Pass pass, double known_rate,
                             double max_call_seconds);
ConvSweep run_conv_sweep(const ConvSweepOptions& options);

Table conv_sweep_table(const ConvSweep& sweep);
std::vector<std::string> conv_sweep_headlines(const ConvSweep& sweep);
Json conv_sweep_json(const ConvSweep& sweep);
Json conv_layer_json(const ConvLayer& layer);

// Channel shuffle against a plain copy of the same bytes with the same threads.
struct ShuffleMeasurement {
  std::int64_t n = 0, c = 0, plane = 0, groups = 1;
  int threads = 1;  // CPU threads; 0 on the GPU
  Timing shuffle, copy;
  bool correct = false;  // every output plane equals its source plane

  double bytes() const { return 8.0 * double(n * c * plane); }  // read once, write once
  double shuffle_gbps() const { return bytes() / shuffle.median * 1e-9; }
  double copy_gbps() const { return bytes() / copy.median * 1e-9; }
};
// Every output plane of y equals the input plane of x the shuffle maps to it.
bool is_channel_shuffle(const std::vector<float>& x, const std::vector<float>& y, std::int64_t n, std::int64_t c,
                        std::int64_t plane, std::int64_t groups);
ShuffleMeasurement measure_channel_shuffle(std::int64_t n, std::int64_t c, std::int64_t plane, std::int64_t groups,
                                           int threads, const TimingOptions& timing);
Json shuffle_json(const ShuffleMeasurement& m);

}  // namespace flopslab::bench
