// The end of lessons 05, 09, 11 and 20: their kernels (or training steps) placed on this machine's
// roofline (lesson 22), one line each. The roofs are measured here by the flops, latency and
// bandwidth probes (and gpu-flops, gpu-bandwidth and the bus probe for GPU points).
#pragma once

#include <vector>

#include "bench/sweeps/conv_sweep.h"
#include "bench/sweeps/gemm_sweep.h"
#include "bench/training/layer_profile.h"
#include "lessons/frame.h"

namespace flopslab::lessons {

// Prints "kernel (threads): intensity, bound, % of bound" for every measured row of the sweeps,
// and warns (without failing the lesson) about a row above its roof.
void say_roofline_lines(LessonRun& lesson, bool quick, const std::vector<const bench::GemmSweep*>& gemm,
                        const std::vector<const bench::ConvSweep*>& conv);

// Lesson 20: each model's whole training step per batch on the roofline, and the layers that cross
// the ridge as the batch grows. CPU profiles carry their layers' times and costs; a GPU profile
// without layers (profiling would synchronise after every layer) takes its FLOPs and bytes from
// the CPU profile of the same model and batch, over its own step time. Returns the number of
// points above their roof.
int say_training_roofline_lines(LessonRun& lesson, bool quick, const std::vector<bench::BatchProfile>& profiles);

}  // namespace flopslab::lessons
