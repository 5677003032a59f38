// The end of lessons 05, 09 and 11: their kernels placed on this machine's roofline (lesson 22),
// one line each. The roofs are measured here by the flops, latency and bandwidth probes.
#pragma once

#include <vector>

#include "bench/sweeps/conv_sweep.h"
#include "bench/sweeps/gemm_sweep.h"
#include "lessons/frame.h"

namespace flopslab::lessons {

// Prints "kernel (threads): intensity, bound, % of bound" for every measured row of the sweeps,
// and warns (without failing the lesson) about a row above its roof.
void say_roofline_lines(LessonRun& lesson, bool quick, const std::vector<const bench::GemmSweep*>& gemm,
                        const std::vector<const bench::ConvSweep*>& conv);

}  // namespace flopslab::lessons
