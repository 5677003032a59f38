// The race's summary on the roofline (lesson 22): for each device a contestant ran on, the
// textbook roofline -- its FP32 FMA peak on the contestant's threads and its DRAM (on the GPU,
// memory) bandwidth -- and each contestant that computes placed there by its FLOPs and
// compulsory bytes per call at its checked rate. CPU and GPU share one chart when both race.
#pragma once

#include <string>
#include <vector>

#include "bench/roofline/roofline.h"
#include "demo/demo.h"

namespace flopslab::bench {

// Whether any contestant that raced and checked has a FLOP count (the gemm, cores and train
// scenes), so the summary has something to place.
bool race_has_roofline(const Scene& scene, const RaceResult& result);
// Measured just after the race, quickly (a second or two per thread count): the widest FP32 FMA
// loop and a STREAM triad over 192 MiB on each thread count the CPU contestants used; the GPU's
// peaks from its clocks (theoretical: the race has no time for its probes).
roofline::Roofs measure_race_roofs(const Scene& scene, const RaceResult& result);
// The contestants that raced and checked, placed; joined in race order per device.
roofline::Roofline race_roofline(const Scene& scene, const RaceResult& result, const roofline::Roofs& roofs);
// One line per contestant: intensity, rate, the bound and the share of it reached.
std::string race_roofline_summary(const roofline::Roofline& roofline);

}  // namespace flopslab::bench
