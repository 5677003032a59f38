// The training loop's recipes and tricks: phases and their refusals, resuming the same curve,
// gradient accumulation against the large batch, dynamic loss scaling, gradient checkpointing
// (same gradients, less memory), freezing and discriminative learning rates, loading by name
// for fine-tuning, mixed precision, the LR range test.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <string>

#include "nn/checkpoint.h"
#include "nn/lr_find.h"
#include "nn/memory.h"
#include "nn/parts.h"
#include "nn/train.h"

using namespace flopslab::nn;

namespace {

const Dataset& fashion_train() {
  static const Dataset d = load_mnist_format(kFashionMnistDir, "train");
  return d;
}
const Dataset& fashion_test() {
  static const Dataset d = load_mnist_format(kFashionMnistDir, "t10k");
  return d;
}

std::string recipe_error(const std::string& text, std::int64_t steps_per_epoch = 100) {
  try {
    plan_phases(parse_recipe(ScheduleJson::parse(text), "r.json"), steps_per_epoch);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}

std::vector<float> all_values(Sequential& model) {
  std::vector<float> out;
  for (Parameter* p : model.parameters()) out.insert(out.end(), p->value.data(), p->value.data() + p->value.size());
  for (const Buffer& b : model.buffers()) out.insert(out.end(), b.value->data(), b.value->data() + b.value->size());
  return out;
}

double max_relative_difference(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0, scale = 0;
  for (float v : b) scale = std::max(scale, double(std::fabs(v)));
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::fabs(double(a[i]) - b[i]) / scale);
  return worst;
}

}  // namespace

TEST_CASE("every shipped recipe parses and plans at Fashion-MNIST's 937 steps per epoch") {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(std::string(FLOPSLAB_SOURCE_DIR) + "/recipes")) {
    CAPTURE(entry.path().string());
    const Recipe r = read_recipe(entry.path().string());
    const std::vector<PhaseSpan> spans = plan_phases(r, 937);
    CHECK(spans.front().begin == 0);
    for (std::size_t k = 1; k < spans.size(); ++k) CHECK(spans[k].begin == spans[k - 1].begin + spans[k - 1].steps);
    CHECK(spans.back().begin + spans.back().steps == std::llround(r.epochs() * 937));
    CHECK_FALSE(r.description.empty());
    ++count;
  }
  CHECK(count >= 6);
}

TEST_CASE("bad recipes are refused naming the phase and the field") {
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": 0.1, "lr_decy": "cosine"}]})") ==
        "recipe r.json: phase 1: unknown key 'lr_decy' (valid: name, epochs, optimizer, lr, lr_decay, lr_power, schedule, "
        "interval, momentum, momentum_decay, weight_decay, transforms, lr_mult, freeze)");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": 0.1}], "notes": 1})") ==
        "recipe r.json: unknown key 'notes' (valid: description, batch, phases)");
  CHECK(recipe_error(R"({"phases": [{"epochs": 0, "optimizer": "sgd", "lr": 0.1}]})") ==
        "recipe r.json: phase 1: epochs: must be more than 0, got 0");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": 0.1}, {"name": "tail", "epochs": -2, "lr": 0.1}]})") ==
        "recipe r.json: phase 2 (tail): epochs: must be more than 0, got -2");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": [0.1, 0], "lr_decay": "linear"}]})") ==
        "recipe r.json: phase 1: lr: the end of a range must be positive, got 0");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": [0.1, 0.01]}]})") ==
        "recipe r.json: phase 1: lr_decay: a range needs a decay (linear, cosine, exponential, polynomial)");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": 0.1, "lr_decay": "cosine"}]})") ==
        "recipe r.json: phase 1: lr_decay: a constant has nothing to decay; give a [start, end] range");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "lr": 0.1}]})") ==
        "recipe r.json: phase 1: optimizer: required in the first phase (sgd, nesterov, adam, adamw, rmsprop)");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "lbfgs", "lr": 0.1}]})") ==
        "recipe r.json: phase 1: optimizer: 'lbfgs' is not one of sgd, nesterov, adam, adamw, rmsprop");
  CHECK(recipe_error(R"({"phases": [{"epochs": 0.001, "optimizer": "sgd", "lr": 0.1}]})") ==
        "recipe r.json: phase 1: epochs: 0.001 epochs is no whole step at 100 steps per epoch");
  CHECK(recipe_error(R"({"phases": []})") == "recipe r.json: phases: must be a non-empty list of phases");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": 0.1, "lr_mult": {"neck": 2}}]})") ==
        "recipe r.json: phase 1: lr_mult: 'neck' is not a part (body, head, all, or layers such as 3, 2-5, 4-)");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": 0.1, "schedule": {"type": "plateau"}}]})") ==
        "recipe r.json: phase 1: interval: a plateau schedule reads the test loss once per epoch: give \"interval\": \"epoch\"");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": 0.1, "schedule": {"type": "step"}}]})") ==
        "recipe r.json: phase 1: schedule: step_size: required for a 'step' schedule");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": 0.1, "momentum": 1.5}]})") ==
        "recipe r.json: phase 1: momentum: must be at least 0 and less than 1, got 1.5");
  CHECK(recipe_error(R"({"phases": [{"epochs": 1, "optimizer": "sgd", "lr": 0.1, "transforms": {"jitter": [2, 1]}}]})") ==
        "recipe r.json: phase 1: transforms.jitter: must be [low, high] with 0 < low <= high");
}

TEST_CASE("a recipe's curve: fast.ai's annealing per phase, inheritance, and the momentum going the other way") {
  const Recipe r = read_recipe(std::string(FLOPSLAB_SOURCE_DIR) + "/recipes/onecycle.json");
  REQUIRE(r.phases.size() == 3);
  CHECK(r.phases[1].optimizer == "sgd");  // inherited
  CHECK(r.phases[2].weight_decay == 0.0005);
  const Dataset small = take(fashion_train(), 640);  // 10 steps per epoch of 64
  std::mt19937_64 rng(1);
  auto model = make_model("mlp", rng);
  Trainer trainer(*model, r, small, {.batch = 64, .threads = 2});
  CHECK(trainer.total_steps() == 50);  // 5 epochs x 10 steps
  CHECK(trainer.phases()[1].begin == 23);  // round(2.25 * 10) = 23 (llround of 22.5)
  trainer.run(Dataset{});
  const auto& curve = trainer.hyperparameters();
  REQUIRE(curve.size() == 50);
  CHECK(curve[0].first == doctest::Approx(0.01));   // phase 1 starts at lr/div
  CHECK(curve[0].second == doctest::Approx(0.95));  // with the high momentum
  CHECK(curve[11].first == doctest::Approx(0.01 + 0.09 * 11.0 / 23));
  CHECK(curve[11].second == doctest::Approx(0.95 - 0.1 * 11.0 / 23));
  CHECK(curve[23].first == doctest::Approx(0.1));  // phase 2 starts at the peak, momentum at its low
  CHECK(curve[23].second == doctest::Approx(0.85));
  CHECK(curve[45].first == doctest::Approx(0.01));  // the tail
  CHECK(curve[49].second == doctest::Approx(0.95));
}

TEST_CASE("a resumed recipe continues the same curve and reaches the same weights") {
  const Dataset small = take(fashion_train(), 1280), test = take(fashion_test(), 100);  // 40 steps per epoch
  const std::string recipe_path = std::string(FLOPSLAB_SOURCE_DIR) + "/recipes/sgdr.json";
  auto run = [&](const std::string* resume_from, std::string* checkpoint, int stop_after_epochs) {
    std::mt19937_64 rng(4);
    auto model = make_model("cnn", rng);
    Trainer trainer(*model, read_recipe(recipe_path), small, {.batch = 32, .threads = 2, .seed = 2});
    if (resume_from) trainer.restore(*resume_from, "ckpt", "cnn");
    trainer.set_callbacks(nullptr, [&](const EpochInfo& e) {
      if (checkpoint) *checkpoint = trainer.checkpoint("cnn");
      return e.epoch + 1 < stop_after_epochs;
    });
    trainer.run(test);
    return std::make_pair(all_values(*model), trainer.hyperparameters());
  };
  const auto straight = run(nullptr, nullptr, 99);
  std::string after_two;
  const auto first = run(nullptr, &after_two, 2);
  const auto resumed = run(&after_two, nullptr, 99);
  CHECK(resumed.first == straight.first);
  // The resumed run's curve is the uninterrupted one's from step 80 (2 epochs of 40) on.
  REQUIRE(first.second.size() == 80);
  REQUIRE(resumed.second.size() + 80 == straight.second.size());
  for (std::size_t i = 0; i < resumed.second.size(); ++i) CHECK(resumed.second[i] == straight.second[i + 80]);

  // Another recipe (or batch) must not silently continue a checkpoint.
  std::mt19937_64 rng(4);
  auto model = make_model("cnn", rng);
  Trainer other(*model, read_recipe(std::string(FLOPSLAB_SOURCE_DIR) + "/recipes/cosine-decay.json"), small,
                {.batch = 32, .threads = 2});
  CHECK_THROWS_WITH(other.restore(after_two, "ckpt", "cnn"),
                    doctest::Contains("--resume: ckpt: recipe: phase 1 differs from the recipe"));
  Trainer other_batch(*model, read_recipe(recipe_path), small, {.batch = 64, .threads = 2});
  CHECK_THROWS_WITH(other_batch.restore(after_two, "ckpt", "cnn"),
                    "--resume: ckpt: --batch: the checkpoint was trained with batch 32, this run asks for 64");
}

TEST_CASE("gradient accumulation gives the large batch's weights (without BatchNorm), and not with it") {
  const Dataset small = take(fashion_train(), 512);
  auto weights = [&](const char* name, std::int64_t batch, int accumulate, const char* optimizer) {
    std::mt19937_64 rng(6);
    auto model = make_model(name, rng);
    Trainer t(*model, constant_recipe(optimizer, 0.05, 1, 0.0005), small,
              {.batch = batch, .threads = 2, .seed = 9, .workers = 0, .accumulate = accumulate});
    t.run(Dataset{});
    return all_values(*model);
  };
  const auto big = weights("mlp", 64, 1, "sgd"), accumulated = weights("mlp", 16, 4, "sgd");
  CHECK(max_relative_difference(accumulated, big) < 1e-5);
  CHECK(max_relative_difference(weights("mlp", 16, 1, "sgd"), big) > 1e-3);  // 4x the steps: not the same
  // BatchNorm normalises each micro-batch by its own statistics: not the large batch's.
  CHECK(max_relative_difference(weights("cnn", 16, 4, "sgd"), weights("cnn", 64, 1, "sgd")) > 1e-4);
  std::mt19937_64 rng(0);
  auto model = make_model("mlp", rng);
  CHECK_THROWS_WITH(Trainer(*model, constant_recipe("sgd", 0.1, 1, 0), small, {.batch = 16, .accumulate = 0}),
                    "--accumulate: must be at least 1, got 0");
}

TEST_CASE("the loss scaler follows GradScaler: skip and back off on overflow, grow after clean steps") {
  GradScaler scaler(GradScaler::Settings{.init_scale = 1024, .growth_interval = 3});
  Parameter p{"w", Tensor({4}), Tensor({4}, 2048.0f)};
  CHECK(scaler.unscale({&p}, 1));
  CHECK(p.grad[0] == 2.0f);  // divided by the scale
  p.grad[2] = std::numeric_limits<float>::infinity();
  CHECK_FALSE(scaler.unscale({&p}, 1));
  scaler.update(true);
  CHECK(scaler.scale() == 512);
  CHECK(scaler.skipped() == 1);
  for (int i = 0; i < 2; ++i) scaler.update(false);
  CHECK(scaler.scale() == 512);
  scaler.update(false);  // the third clean step in a row
  CHECK(scaler.scale() == 1024);
  scaler.update(false);
  scaler.update(true);  // an overflow resets the count
  scaler.update(false);
  scaler.update(false);
  CHECK(scaler.scale() == 512);

  // In training: fp16 at a scale far too large overflows; the first steps are skipped (weights
  // untouched) and the scale halves until the gradients fit, then training proceeds.
  const Dataset small = take(fashion_train(), 640);
  std::mt19937_64 rng(3);
  auto model = make_model("mlp", rng);
  const std::vector<float> initial = all_values(*model);
  int skipped_first = 0;
  bool untouched_while_skipping = true;
  TrainOptions o{.batch = 64, .threads = 2, .precision = Precision::fp16,
                 .loss_scaling = GradScaler::Settings{.init_scale = 1e9}};
  Trainer t(*model, constant_recipe("sgd", 0.05, 4, 0), small, o);
  o.on_step = nullptr;
  t.set_callbacks(
      [&](const StepInfo& s) {
        if (s.skipped && s.global_step == skipped_first) {
          ++skipped_first;
          untouched_while_skipping = untouched_while_skipping && all_values(*model) == initial;
        }
      },
      nullptr);
  t.run(Dataset{});
  CHECK(skipped_first >= 2);  // 1e9 times a gradient is far past fp16's 65504
  CHECK(untouched_while_skipping);
  REQUIRE(t.scaler() != nullptr);
  CHECK(t.scaler()->scale() < 1e12);
  CHECK(t.scaler()->skipped() < 20);
  CHECK(all_values(*model) != initial);
}

TEST_CASE("gradient checkpointing: the same gradients and running statistics, fewer activations kept") {
  const Dataset few = take(fashion_train(), 64);
  DataLoader loader(few, 64, false, false, 0);
  const Tensor x = loader.batch(0).x;
  for (const char* name : {"cnn", "mlp-dropout"}) {
    CAPTURE(name);
    std::vector<std::vector<float>> grads;
    std::vector<std::int64_t> peaks, kept;
    std::vector<int> segment_counts;
    for (int segments : {0, 3, -1}) {
      std::mt19937_64 init(7), drop(8);
      auto model = make_model(name, init);
      segments = segments < 0 ? int(model->layers.size()) : segments;
      segment_counts.push_back(segments);
      model->set_checkpoint_segments(segments);
      const Context ctx{.training = true, .threads = 2, .rng = &drop, .input_gradient = false};
      const std::int64_t before = memory::usage().live;
      memory::reset_peak();
      const Tensor logits = model->forward(x, ctx);
      kept.push_back(memory::usage().live - before);  // what the forward keeps for the backward
      Tensor dy(logits.shape(), 0.01f);
      model->backward(dy, ctx);
      peaks.push_back(memory::usage().peak - before);
      std::vector<float> g;
      for (Parameter* p : model->parameters()) g.insert(g.end(), p->grad.data(), p->grad.data() + p->grad.size());
      for (const Buffer& b : model->buffers()) g.insert(g.end(), b.value->data(), b.value->data() + b.value->size());
      grads.push_back(g);
    }
    CHECK(grads[1] == grads[0]);  // the recomputed forwards are the same forwards
    CHECK(grads[2] == grads[0]);
    MESSAGE(name << ": bytes kept after the forward, segments 0 / 3 / all: " << kept[0] << " / " << kept[1] << " / "
                 << kept[2] << "; the step's peak: " << peaks[0] << " / " << peaks[1] << " / " << peaks[2]);
    CHECK(kept[1] < kept[0] / 2);
    // The step's peak cannot fall below the largest segment's own backward working set.
    CHECK(peaks[1] <= peaks[0]);
  }
  std::mt19937_64 rng(0);
  auto model = make_model("mlp", rng);
  CHECK_THROWS_WITH(model->set_checkpoint_segments(9), "checkpoint segments: 9 for 8 layers (valid: 0 to 8)");
}

TEST_CASE("one grammar of part names: what the CLI, recipes and resolve_part accept") {
  for (const char* good : {"all", "body", "head", "0", "3", "2-5", "4-", "007"}) CHECK_MESSAGE(parse_part_name(good), good);
  for (const char* bad : {"", "neck", "Body", "-3", "3--5", "2-x", "1234567890", "3-5-", " 3"})
    CHECK_MESSAGE(!parse_part_name(bad), bad);
  const auto range = *parse_part_name("2-5");
  CHECK((range.kind == PartName::Kind::layers && range.first == 2 && range.last == 5 && !range.to_end));
  CHECK(parse_part_name("4-")->to_end);
  std::mt19937_64 rng(2);
  auto model = make_model("mlp", rng);
  CHECK_THROWS_WITH(resolve_part(*model, "neck"), "part 'neck' is not body, head, all, or layers such as 3, 2-5, 4-");
  CHECK_THROWS_WITH(resolve_part(*model, "5-3"), "part '5-3': the model has layers 0 to 7");
}

TEST_CASE("a frozen part gets no gradient and no update; multipliers scale each part's rate") {
  const Dataset small = take(fashion_train(), 256);
  std::mt19937_64 rng(2);
  auto model = make_model("cnn", rng);
  CHECK(resolve_part(*model, "head").begin == 8);  // Flatten, Linear(1568 -> 128), ReLU, Linear(128 -> 10)
  CHECK(resolve_part(*model, "body").end == 8);    // the two convolution blocks
  std::mt19937_64 mlp_rng(2);
  CHECK(resolve_part(*make_model("mlp", mlp_rng), "head").begin == 7);  // an MLP's last Linear
  CHECK(resolve_part(*model, "4-").begin == 4);
  CHECK_THROWS_WITH(resolve_part(*model, "3-40"), "part '3-40': the model has layers 0 to 11");
  const std::vector<float> before = all_values(*model);
  // Poison the body's gradients: they must still be NaN afterwards (never computed).
  for (std::size_t i = 0; i < 8; ++i)
    for (Parameter* p : model->layers[i]->parameter_list()) p->grad.fill(std::nanf(""));
  Trainer t(*model, constant_recipe("sgd", 0.05, 1, 0), small, {.batch = 32, .threads = 2, .freeze = {"body"}});
  t.run(Dataset{});
  for (std::size_t i = 0; i < 8; ++i)
    for (Parameter* p : model->layers[i]->parameter_list()) {
      CAPTURE(p->name);
      CHECK(std::isnan(p->grad[0]));
    }
  const std::vector<float> after = all_values(*model);
  std::size_t body_values = 0;
  for (std::size_t i = 0; i < 8; ++i)
    for (Parameter* p : model->layers[i]->parameter_list()) body_values += std::size_t(p->value.size());
  CHECK(std::equal(before.begin(), before.begin() + std::ptrdiff_t(body_values), after.begin()));
  CHECK_FALSE(std::equal(before.begin() + std::ptrdiff_t(body_values), before.end() - 96, after.begin() + std::ptrdiff_t(body_values)));

  std::mt19937_64 rng2(2);
  auto fresh = make_model("cnn", rng2);
  Trainer m(*fresh, constant_recipe("adam", 0.01, 1, 0), small,
            {.batch = 32, .threads = 2, .lr_mult = {{"body", 0.1}, {"head", 1}}});
  m.run(Dataset{});
  const auto& groups = m.optimizer().groups();
  REQUIRE(groups.size() == 2);
  CHECK(groups[0].lr == doctest::Approx(0.001));
  CHECK(groups[1].lr == doctest::Approx(0.01));
  CHECK(groups[1].params.size() == 4);  // the head's two Linear layers
}

TEST_CASE("a recipe freezes the body in one phase and unfreezes it in the next") {
  const Dataset small = take(fashion_train(), 320);  // 10 steps per epoch of 32
  std::mt19937_64 rng(2);
  auto model = make_model("cnn", rng);
  const Recipe r = parse_recipe(ScheduleJson::parse(R"({"phases": [
      {"name": "head only", "epochs": 1, "optimizer": "adam", "lr": 0.003, "freeze": ["body"]},
      {"name": "all", "epochs": 1, "lr": 0.0003, "freeze": [], "lr_mult": {"body": 0.1}}]})"),
                                "r.json");
  REQUIRE(r.phases[1].freeze.has_value());
  Trainer t(*model, r, small, {.batch = 32, .threads = 2, .freeze = {"body"}});  // the run's default
  const std::vector<float> before = all_values(*model);
  bool body_moved_in_phase_1 = false, body_moved_in_phase_2 = false;
  const float* first_weight = model->layers[0]->parameter_list()[0]->value.data();
  t.set_callbacks(
      [&](const StepInfo& s) {
        const bool moved = first_weight[0] != before[0];
        if (s.phase == 0) body_moved_in_phase_1 = body_moved_in_phase_1 || moved;
        if (s.phase == 1) body_moved_in_phase_2 = body_moved_in_phase_2 || moved;
      },
      nullptr);
  t.run(Dataset{});
  CHECK_FALSE(body_moved_in_phase_1);
  CHECK(body_moved_in_phase_2);
  CHECK(t.optimizer().groups().size() == 2);  // body at lr x0.1, head
  CHECK(t.optimizer().groups()[0].lr == doctest::Approx(0.00003));
}

TEST_CASE("fine-tuning loads by name and shape and lists what it skipped") {
  std::mt19937_64 rng(3);
  auto ten = make_model("cnn", rng);
  auto opt = make_optimizer("sgd", ten->parameters(), 0.1, 0);
  const std::string bytes = serialize_checkpoint(*ten, *opt, {"cnn", 1});
  std::mt19937_64 other(4);
  auto five = make_model("cnn", other, 5);
  const auto notes = load_matching_parameters(bytes, "pretrained", *five);
  REQUIRE(notes.size() == 2);
  CHECK(notes[0] == "11.weight: 10x128 in the checkpoint, 5x128 here");
  CHECK(notes[1] == "11.bias: 10 in the checkpoint, 5 here");
  CHECK(std::equal(ten->parameters()[0]->value.data(), ten->parameters()[0]->value.data() + 144,
                   five->parameters()[0]->value.data()));
  auto same = make_model("cnn", other);
  const auto skipped = load_matching_parameters(bytes, "pretrained", *same, {"11."});
  REQUIRE(skipped.size() == 2);
  CHECK(skipped[0] == "11.weight: skipped (left as initialised)");
}

TEST_CASE("mixed precision trains: bf16 and fp16 close to fp32, with less activation memory") {
  const Dataset small = take(fashion_train(), 4000), test = take(fashion_test(), 1000);
  std::vector<double> accuracy;
  std::vector<std::int64_t> peak;
  for (Precision p : {Precision::fp32, Precision::bf16, Precision::fp16}) {
    std::mt19937_64 rng(5);
    auto model = make_model("cnn", rng);
    TrainOptions o{.batch = 64, .threads = 2, .precision = p};
    if (p == Precision::fp16) o.loss_scaling = GradScaler::Settings{};
    Trainer t(*model, constant_recipe("adam", 0.003, 2, 0), small, o);
    const auto history = t.run(test);
    accuracy.push_back(history.back().test.accuracy);
    peak.push_back(history.back().peak_activation_bytes);
  }
  MESSAGE("test accuracy fp32 / bf16 / fp16: " << accuracy[0] << " / " << accuracy[1] << " / " << accuracy[2]
                                               << "; peak activation bytes " << peak[0] << " / " << peak[1] << " / "
                                               << peak[2]);
  CHECK(accuracy[0] > 0.75);
  CHECK(std::fabs(accuracy[1] - accuracy[0]) < 0.03);
  CHECK(std::fabs(accuracy[2] - accuracy[0]) < 0.03);
  CHECK(peak[1] < peak[0]);
  CHECK(peak[2] < peak[0]);
}

TEST_CASE("the LR range test leaves the weights as they were, finds the divergence and suggests a rate inside it") {
  const Dataset small = take(fashion_train(), 6400);
  std::mt19937_64 rng(1);
  auto model = make_model("mlp", rng);
  const std::vector<float> before = all_values(*model);
  const LrFindResult r = find_lr(*model, small, {.steps = 150, .batch = 64, .threads = 2});
  CHECK(all_values(*model) == before);
  CHECK(r.diverged);
  REQUIRE(r.lrs.size() >= 20);
  CHECK(r.lrs.size() < 150);
  for (std::size_t i = 1; i < r.lrs.size(); ++i) CHECK(r.lrs[i] > r.lrs[i - 1]);
  CHECK(r.steepest_lr > 1e-5);
  CHECK(r.steepest_lr < r.lrs.back());
  CHECK(r.min_loss_lr > r.steepest_lr / 100);
  // The valley lies inside the stretch where the loss falls: below the lowest loss's rate.
  CHECK(r.valley_lr > r.lrs.front());
  CHECK(r.valley_lr < r.min_loss_lr);
  CHECK(r.smoothed[r.smoothed.size() - 1] > 4 * *std::min_element(r.smoothed.begin(), r.smoothed.end()));
  CHECK_THROWS_WITH(find_lr(*model, small, {.start_lr = 1e4, .end_lr = 1e6, .steps = 50, .batch = 64, .threads = 2}),
                    doctest::Contains("lr-find: the loss diverged at the first step"));
  CHECK(all_values(*model) == before);
}

TEST_CASE("tensor storage is counted: live bytes rise and fall, the peak remembers") {
  const std::int64_t start = memory::usage().live;
  memory::reset_peak();
  {
    Tensor a({1000});
    CHECK(memory::usage().live == start + 4000);
    Tensor b = a;  // shared storage: no new bytes
    CHECK(memory::usage().live == start + 4000);
    Tensor c = a.clone();
    CHECK(memory::usage().live == start + 8000);
  }
  CHECK(memory::usage().live == start);
  CHECK(memory::usage().peak == start + 8000);
}
