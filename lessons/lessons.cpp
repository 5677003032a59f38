// The lesson list. Adding a lesson: a directory lessons/NN-name/ with README.md and
// lesson.cpp (defining run_lesson_NN), plus one line here and one in CMakeLists.txt.
#include "lessons/report_data.h"
#include "lessons/lessons.h"

namespace flopslab::lessons {

int run_lesson_01(const LessonOptions&);
int recheck_lesson_01(const StoredRun&);
int run_lesson_02(const LessonOptions&);
int recheck_lesson_02(const StoredRun&);
int run_lesson_03(const LessonOptions&);
int recheck_lesson_03(const StoredRun&);
int run_lesson_04(const LessonOptions&);
int recheck_lesson_04(const StoredRun&);
int run_lesson_05(const LessonOptions&);
int run_lesson_06(const LessonOptions&);
int run_lesson_07(const LessonOptions&);
int run_lesson_08(const LessonOptions&);
int run_lesson_09(const LessonOptions&);
int run_lesson_10(const LessonOptions&);
int run_lesson_11(const LessonOptions&);
int run_lesson_12(const LessonOptions&);
int run_lesson_13(const LessonOptions&);
int run_lesson_14(const LessonOptions&);
int run_lesson_15(const LessonOptions&);
int run_lesson_16(const LessonOptions&);
int run_lesson_17(const LessonOptions&);
int run_lesson_18(const LessonOptions&);
int run_lesson_19(const LessonOptions&);
int run_lesson_20(const LessonOptions&);
int run_lesson_21(const LessonOptions&);
int run_lesson_22(const LessonOptions&);

namespace {
const Lesson kLessons[] = {
    {1, "01-peak-flops", "Peak FLOPS of a CPU", run_lesson_01, false, recheck_lesson_01, {"flops"}},
    {2, "02-memory-hierarchy", "The memory hierarchy", run_lesson_02, false, recheck_lesson_02, {"latency", "bandwidth"}},
    {3, "03-locality", "Locality", run_lesson_03, false, recheck_lesson_03, {"locality", "latency"}},
    {4, "04-threads", "Parallelism and hyperthreads", run_lesson_04, false, recheck_lesson_04, {"threads"}},
    {5, "05-cpu-gemm", "GEMM on the CPU", run_lesson_05},
    {6, "06-gpu-compute", "How a GPU computes", run_lesson_06, true},
    {7, "07-gpu-gemm", "GEMM on the GPU", run_lesson_07, true},
    {8, "08-cpu-gpu-bus", "The CPU-GPU bus", run_lesson_08, true},
    {9, "09-convolution", "Convolution", run_lesson_09, true},
    {10, "10-factorized-convolutions", "Factorized convolutions", run_lesson_10, true},
    {11, "11-pointwise-and-shuffle", "1x1 convolutions and channel shuffle", run_lesson_11, true},
    {12, "12-training-stack", "A training stack from scratch", run_lesson_12},
    {13, "13-initialisation-and-activations", "Initialisation and activations", run_lesson_13},
    {14, "14-cnns-and-batch-norm", "CNNs and batch norm", run_lesson_14},
    {15, "15-optimizers-and-schedules", "Optimizers and schedules", run_lesson_15},
    {16, "16-input-pipeline", "The input pipeline", run_lesson_16},
    {17, "17-memory-and-precision", "Memory and precision tricks", run_lesson_17},
    {18, "18-inference-fusion", "Inference fusion", run_lesson_18},
    {19, "19-fine-tuning", "Fine-tuning", run_lesson_19},
    {20, "20-cpu-vs-gpu", "CPU vs GPU, end to end", run_lesson_20, true},
    {21, "21-data-parallel", "Data-parallel training", run_lesson_21},
    {22, "22-roofline", "The roofline", run_lesson_22},
};
}  // namespace

std::span<const Lesson> lessons() { return kLessons; }

const Lesson* find_lesson(int number) {
  for (const Lesson& l : kLessons)
    if (l.number == number) return &l;
  return nullptr;
}

}  // namespace flopslab::lessons
