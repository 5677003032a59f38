// Lesson 19: fine-tuning. Pre-train the CNN on five Fashion-MNIST classes (the garments),
// then learn the other five (trouser, footwear, bag) from a few labelled images: from scratch,
// with the pre-trained body frozen under a new head, and with the body unfrozen at a tenth of
// the head's rate.
#include <fmt/format.h>

#include "bench/training/train_run.h"
#include "lessons/frame.h"
#include "lessons/training_setup.h"
#include "nn/checkpoint.h"
#include "nn/parts.h"

namespace flopslab::lessons {

int run_lesson_19(const LessonOptions& options) {
  LessonRun lesson(19, "Fine-tuning");
  const bool quick = options.quick;
  const bench::LoadedData all = lesson_data(options, 20000, 2000);
  // The source: the five garments that are hard to tell apart, so the body must learn shapes
  // and textures. The target: the other five, from a handful of labels each.
  const std::vector<std::int64_t> source_classes{0, 2, 3, 4, 6}, target_classes{1, 5, 7, 8, 9};
  const nn::Dataset source = bench::select_classes(all.train, source_classes);
  const nn::Dataset source_test = bench::select_classes(all.test, source_classes);
  const nn::Dataset target_pool = bench::select_classes(all.train, target_classes);
  const nn::Dataset target_test = bench::select_classes(all.test, target_classes);
  auto train = [&](nn::Sequential& model, const nn::Dataset& data, const nn::Dataset& test, double lr, int epochs,
                   nn::TrainOptions o, const std::string& what) {
    const nn::TrainOptions base = lesson_trainer(lesson, options, all, what, 20);
    o.batch = 32, o.threads = base.threads, o.transforms = base.transforms, o.on_step = base.on_step;
    return nn::train(model, "adam", lr, epochs, data, test, o).back().test.accuracy;
  };

  // 1. Pre-training on the source task.
  std::mt19937_64 rng(19);
  auto pretrained = nn::make_model("cnn", rng, 5);
  const double source_accuracy = train(*pretrained, source, source_test, 0.003, quick ? 1 : 2, {}, "pre-training");
  auto optimizer = nn::make_optimizer("adam", pretrained->parameters(), 0.003, 0);
  const std::string checkpoint = nn::serialize_checkpoint(*pretrained, *optimizer, {"cnn", 2});
  const nn::LayerRange body = nn::resolve_part(*pretrained, "body"), head = nn::resolve_part(*pretrained, "head");
  lesson.say(fmt::format("Pre-trained the CNN on classes 0, 2, 3, 4, 6 (T-shirt/top, Pullover, Dress, Coat, Shirt; {} "
                         "images): {:.1f}% on their test images. Its body is layers {}-{} (the two convolution blocks), "
                         "its head layers {}-{} (Flatten, Linear 1568-128, ReLU, Linear 128-5).",
                         source.size(), 100 * source_accuracy, body.begin, body.end - 1, head.begin, head.end - 1));

  // 2. The target task from few labels, at several counts.
  const int epochs = quick ? 10 : 15;
  std::vector<std::string> skipped;
  bench::Table t({{"labelled images"}, {"(a) from scratch"}, {"(b) frozen body, new head"}, {"(c) then unfrozen, body lr/10"}});
  double smallest_scratch = 0, smallest_transfer = 0;
  const std::vector<std::int64_t> counts = quick ? std::vector<std::int64_t>{50, 300} : std::vector<std::int64_t>{50, 100, 300, 1000};
  for (std::int64_t labelled : counts) {
    const nn::Dataset target = nn::take(target_pool, labelled);
    auto fresh = [] {
      std::mt19937_64 r(7);  // the same initialisation for scratch and for the new head
      return nn::make_model("cnn", r, 5);
    };
    auto scratch = fresh();
    const double from_scratch = train(*scratch, target, target_test, 0.003, 2 * epochs, {}, fmt::format("{} labels, scratch", labelled));
    auto transfer = fresh();
    skipped = nn::load_matching_parameters(checkpoint, "the pre-trained CNN", *transfer, {"9.", "11."});
    const double frozen = train(*transfer, target, target_test, 0.003, epochs, {.freeze = {"body"}},
                                fmt::format("{} labels, frozen body", labelled));
    const double unfrozen = train(*transfer, target, target_test, 0.0003, epochs, {.lr_mult = {{"body", 0.1}, {"head", 1}}},
                                  fmt::format("{} labels, unfrozen", labelled));
    t.add_row({std::to_string(labelled), fmt::format("{:.1f}%", 100 * from_scratch), fmt::format("{:.1f}%", 100 * frozen),
               fmt::format("{:.1f}%", 100 * unfrozen)});
    if (labelled == counts.front()) smallest_scratch = from_scratch, smallest_transfer = unfrozen;
  }
  lesson.say(fmt::format("\nThe target task: classes 1, 5, 7, 8, 9 (Trouser, Sandal, Sneaker, Bag, Ankle boot), tested on "
                         "{} images. Loading the pre-trained checkpoint by name into a new model with a new head:",
                         target_test.size()));
  for (const std::string& line : skipped) lesson.say("  " + line);
  lesson.say(fmt::format("(a) trains every layer from a random start for {} epochs at lr 0.003; (b) trains only the new "
                         "head for {} epochs at lr 0.003; (c) continues (b) for {} more with everything unfrozen, the head "
                         "at 3e-4 and the body at 3e-5 (Adam, batch 32).",
                         2 * epochs, epochs, epochs));
  lesson.show(t);
  lesson.say("The body learned strokes, edges and textures on garments; shoes and bags are drawn with the same. The "
             "fewer the labels, the more those features are worth: with a handful per class, training from scratch "
             "must learn them from almost nothing, and it catches up as the labels grow.");

  lesson.check(skipped.size() == 4 && skipped[0].rfind("9.weight", 0) == 0 && skipped[3].rfind("11.bias", 0) == 0,
               "loading by name left exactly the head's two Linear layers as initialised");
  lesson.check(smallest_transfer > smallest_scratch + 0.01,
               fmt::format("with {} labels, fine-tuning the pre-trained network beat training from scratch by more than "
                           "a point ({:.1f}% vs {:.1f}%)",
                           counts.front(), 100 * smallest_transfer, 100 * smallest_scratch));
  return lesson.finish("with little labelled data, start from a network trained on a related larger task: keep its "
                       "body, train a new head, then let the body move at a smaller rate.");
}

}  // namespace flopslab::lessons
