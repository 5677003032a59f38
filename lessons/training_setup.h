// What the training lessons (12-19) start from: Fashion-MNIST, cut to a few thousand images in
// quick mode, and the trainer options of a lesson run (batch 64, the lesson's threads, the
// data's normalisation, the lesson's progress line). A lesson changes what its claim is about.
#pragma once

#include <cstdint>
#include <string>

#include "bench/training/train_run.h"
#include "lessons/frame.h"
#include "nn/train.h"

namespace flopslab::lessons {

// The whole training and test sets, or in quick mode their first quick_train and quick_test.
bench::LoadedData lesson_data(const LessonOptions& options, std::int64_t quick_train, std::int64_t quick_test);

// Batch 64, lesson_threads(options), data.normalise, and lesson.training_progress(what, every).
nn::TrainOptions lesson_trainer(LessonRun& lesson, const LessonOptions& options, const bench::LoadedData& data,
                                std::string what, int every = 50);

}  // namespace flopslab::lessons
