// The roofline (Williams, Waterman and Patterson, CACM 2009): every measured kernel placed
// under the ceilings this machine measured. A kernel doing F FLOPs while it must move B bytes
// has arithmetic intensity I = F / B; it cannot run faster than
//     attainable = min(compute roof, I x memory roof)
// where the compute roof is the FMA peak of its precision on its thread count, and the memory
// roof is the bandwidth of the level its working set lives in (cache-aware roofline: a thread's
// share against a private level, the whole set against the shared last level). Below
// the ridge point (compute roof / memory roof) a kernel is memory-bound, above it compute-bound.
//
// Roofs and points are read from a report's "sections" JSON (report.json, or what the report's
// sections produced in this run), so the same code places a fresh run and a stored one.
// Bytes are the compulsory traffic of kernels/gemm.h and kernels/conv.h (read the inputs once,
// write the output once), and a convolution's FLOPs leave out the taps that land in the padding
// (conv::useful_flop_count): real kernels move more and may compute more, so attainable is an
// upper bound, and a point above it means a wrong FLOP count, byte count or roof. Such a point is flagged, never drawn
// as if it were fine.
#pragma once

#include <limits>
#include <string>
#include <vector>

#include "harness/json.h"
#include "harness/table.h"

namespace flopslab::bench::roofline {

struct Roof {
  std::string name;       // "avx-512 (512-bit) fp32", "L2", "DRAM", "GPU FP32", "GPU memory"
  bool compute = true;    // a FLOP/s roof; false: a bandwidth roof
  std::string precision;  // compute roofs: "fp32", "fp64"
  std::string device = "cpu";
  int threads = 1;
  double value = 0;  // GFLOP/s, or GB/s
  // Memory roofs: the working set up to which this level serves (infinite for DRAM), per thread
  // for a private level, in all for a shared one (the last cache level is taken as shared).
  double capacity_bytes = std::numeric_limits<double>::infinity();
  bool shared = false;
  // The host link (PCIe, NVLink-C2C) to a GPU: no cache level, but the roof of whatever a GPU
  // point must receive across it each call (Point::link_bytes).
  bool host_link = false;
  std::string source;  // which probe and figure it came from
};

struct Point {
  std::string name;     // "packed-simd 1024^3"
  std::string family;   // points of one family and thread count are joined in `order` (a ladder)
  int order = 0;
  std::string kind;     // "gemm", "conv", "shuffle"
  std::string precision = "fp32";
  std::string device = "cpu";
  int threads = 1;
  double flops = 0;        // 0: a data-movement kernel, placed against its memory roof only
  double bytes = 0;        // compulsory traffic
  double seconds = 0;      // median time of one call
  double working_set = 0;  // bytes it touches (0: `bytes`)
  // FLOPs are the direct definition's but the kernel does fewer (Winograd): its GFLOP/s is an
  // effective rate, placed but never flagged for passing the FMA roof.
  bool effective_rate = false;
  // A training layer (the layer before it has just written its input) or a benchmark row (the
  // call before it read the same operands): its data may still sit in a faster level than its
  // working set's size says. Faster above its level, it is placed at the next faster level that
  // explains it (and noted, with `cached_by`), not flagged.
  bool input_may_be_cached = false;
  const char* cached_by = "written by the layer before";
  // Bytes read from DRAM by one call, counted (perf_event: last-level misses x 64), where the
  // PMU was readable; 0: not counted. Beside the compulsory bytes: the model's intensity and the
  // measured one (operands left in cache by the call before show as fewer bytes).
  double measured_bytes = 0;
  // Bytes a GPU point must receive from the host per call (a training step's batch, copied in):
  // placed under the host link's roof too, FLOPs per link byte x link bandwidth.
  double link_bytes = 0;
  double gflops() const { return flops / seconds * 1e-9; }
  double gbytes_per_s() const { return bytes / seconds * 1e-9; }
  double intensity() const { return flops / bytes; }  // FLOPs per byte
  bool training() const { return kind == "layer" || kind == "step"; }  // a layer of nn/ or a whole step
};

// Which points a table or summary takes: the kernels (GEMM, convolution, shuffle), the training
// stack's layers and steps, or all.
enum class PointSet { all, kernels, training };

// A measured point at more than this fraction of its roof is flagged: the roofs are themselves
// medians of noisy runs, so a point a few percent above is not proof of a wrong count.
constexpr double kAboveRoofTolerance = 1.05;

struct Placement {
  Point point;
  const Roof* compute = nullptr;  // null for data-movement kernels
  const Roof* memory = nullptr;
  const Roof* link = nullptr;  // set when the host link bounds it lower than memory and compute
  double attainable = 0;  // GFLOP/s (GB/s for data-movement kernels)
  bool memory_bound = false;
  double fraction = 0;    // measured / attainable
  bool above_roof = false;
  std::string not_placed;  // why no roof applies (then nothing else is set)
  std::string note;        // "input still in L2 from the layer before"
  std::string bound_name() const;  // "L2 bandwidth", "avx-512 (512-bit) fp32 peak"
};

class Roofs {
 public:
  void add(Roof roof) { roofs_.push_back(std::move(roof)); }
  // Another measurement of a roof: the higher of the two is kept, with its source; a new roof
  // when none of that name, device and thread count exists.
  void raise(Roof roof);
  const std::vector<Roof>& all() const { return roofs_; }
  // The highest compute roof of `precision` on `threads` (the widest vector loop, normally).
  const Roof* compute_for(const std::string& device, const std::string& precision, int threads) const;
  // The memory roof of the smallest level holding `working_set` bytes touched by `threads`.
  const Roof* memory_for(const std::string& device, double working_set, int threads) const;
  // The next smaller (faster) level than `level` on the same device and threads; null for the first.
  const Roof* next_faster(const Roof& level) const;
  // The host link's roof of a device (null: none measured, or the CPU).
  const Roof* host_link(const std::string& device) const;

 private:
  std::vector<Roof> roofs_;
};

Placement place(const Point& point, const Roofs& roofs);

// The CPU's roofs from the flops, latency and bandwidth probes, and the GPU's from gpu-flops and
// gpu-bandwidth, when `sections` has them.
Roofs roofs_from_sections(const Json& sections);
// Every GEMM rung and peer, convolution variant and pass, and channel shuffle in `sections`.
std::vector<Point> points_from_sections(const Json& sections);
// The precision a GEMM or convolution variant computes in, from its name: "bf16", "tf32", "fp16"
// where the name says so, else "fp32".
std::string precision_of_variant(const std::string& variant);

struct Roofline {
  Roofs roofs;
  std::vector<Placement> placements;
  std::string counters;  // "perf_event", or why no point has measured bytes ("" when not asked)
  std::string gpu_counters;  // the GPU sweeps' counters: CUPTI's range profiler, or why not ("" without them)
  int flagged() const;  // points above their roof
};
Roofline roofline_from_sections(const Json& sections);

// report.json's "roofline": the roofs, each point with its intensity, bound and fraction.
Json roofline_json(const Roofline& r);
// One row per point: intensity, GFLOP/s, the bound, attainable, % of it; threads = 0: all.
Table roofline_table(const Roofline& r, int threads = 0, PointSet set = PointSet::all);
Table roofs_table(const Roofs& roofs);
// The `count` placed kernels (not training layers) furthest below their bound, one sentence each
// with the reason.
std::vector<std::string> furthest_below(const Roofline& r, int count);
// One sentence on the measured intensities: how they were counted, or why there are none ("" when
// the sections had no GEMM sweep to count).
std::string measured_intensity_note(const Roofline& r);
// The training points in sentences: each model's whole step per batch (intensity, bound, % of
// it), and the layers whose pass crosses the ridge as the batch grows.
std::vector<std::string> training_summary(const Roofline& r);

}  // namespace flopslab::bench::roofline
