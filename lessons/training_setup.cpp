// The training lessons' shared start: their data and their trainer options.
#include "lessons/training_setup.h"

#include <utility>

namespace flopslab::lessons {

bench::LoadedData lesson_data(const LessonOptions& options, std::int64_t quick_train, std::int64_t quick_test) {
  return bench::load_training_data(nn::kFashionMnistDir, options.quick ? quick_train : 0,
                                   options.quick ? quick_test : 0);
}

nn::TrainOptions lesson_trainer(LessonRun& lesson, const LessonOptions& options, const bench::LoadedData& data,
                                std::string what, int every) {
  return {.batch = 64, .threads = lesson_threads(options), .transforms = data.normalise,
          .on_step = lesson.training_progress(std::move(what), every)};
}

}  // namespace flopslab::lessons
