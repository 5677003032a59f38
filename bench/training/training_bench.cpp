// The report's training section: the models trained for a fixed budget, with PyTorch's twin.
#include "bench/training/training_bench.h"

#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>


#include "harness/affinity.h"
#include "harness/build_info.h"
#include "harness/files.h"
#include "harness/table.h"
#include "bench/training/train_run.h"
#include "harness/external.h"

namespace flopslab::bench {
namespace fs = std::filesystem;
namespace {

constexpr double kLr = kTrainingBenchLr;

TwinRun run_twin(const std::string& python, const ModelBench& m, int threads) {
  TwinRun t;
  const std::optional<Json> j = run_torch_script(
      python, "torch_twin.py",
      fmt::format("--model {} --epochs {} --batch {} --lr {} --threads {} --train-limit {} --test-limit {}", m.model,
                  m.epochs, m.batch, kLr, threads, m.train_images, m.test_images),
      t.note);
  if (!j) return t;
  try {
    t.torch_version = (*j)["torch"].get<std::string>();
    t.samples_per_s = (*j)["epochs"].back()["samples_per_s"].get<double>();
    t.accuracy = (*j)["epochs"].back()["test_accuracy"].get<double>();
    t.ran = true;
  } catch (const std::exception& e) {
    t.note = std::string("the PyTorch twin's output was not understood: ") + e.what();
  }
  return t;
}

}  // namespace

TrainingBench run_training_bench(const TrainingBenchOptions& o) {
  // The probes before this pinned the main thread to one CPU; the loader's workers and the
  // PyTorch twin (a child process) would inherit that and share one CPU.
  unpin_current_thread();
  TrainingBench bench;
  bench.python = torch_python();
  const std::int64_t train_limit = o.quick ? 3200 : 0, test_limit = o.quick ? 1000 : 0;
  const LoadedData data = load_training_data(nn::kFashionMnistDir, train_limit, test_limit);
  for (const char* name : {"mlp", "cnn"}) {
    ModelBench m{.model = name, .train_images = data.train.size(), .test_images = data.test.size()};
    std::mt19937_64 rng(0);
    auto model = nn::make_model(name, rng);
    nn::TrainOptions t{.batch = m.batch, .threads = o.threads, .transforms = data.normalise, .profile = true};
    t.on_step = [&](const nn::StepInfo& s) {
      if (o.progress && s.step % 100 == 0)
        o.progress(fmt::format("training: {} step {}/{}", name, s.step + 1, s.steps));
    };
    nn::Trainer trainer(*model, nn::constant_recipe("adam", kLr, m.epochs, 0), data.train, t);
    const nn::EpochInfo e = trainer.run(data.test).back();
    m.samples_per_s = e.samples_per_s;
    m.accuracy = e.test.accuracy;
    m.layers = trainer.layer_times();
    if (o.progress) o.progress(fmt::format("training: the PyTorch twin of the {}", name));
    m.twin = run_twin(bench.python, m, o.threads);
    bench.models.push_back(m);
  }
  bench.layer_profiles = profile_layers({.threads = o.threads, .quick = o.quick, .progress = o.progress});
  for (const char* name : {"mlp", "cnn"}) {
    if (o.progress) o.progress(fmt::format("training: the {}'s step, layer by layer, against PyTorch's", name));
    bench.step_profiles.push_back(compare_step_profiles(bench.python, name, 64, o.threads, o.quick));
  }
  return bench;
}

Json training_bench_json(const TrainingBench& b) {
  Json models = Json::array();
  for (const ModelBench& m : b.models) {
    Json layers = Json::array();
    const double steps = double(std::max<std::int64_t>(m.layers.steps, 1));
    for (std::size_t i = 0; i < m.layers.names.size(); ++i)
      layers.push_back({{"layer", m.layers.names[i]},
                        {"forward_ms", 1e3 * m.layers.forward[i] / steps},
                        {"backward_ms", 1e3 * m.layers.backward[i] / steps}});
    Json twin = m.twin.ran ? Json{{"torch", m.twin.torch_version}, {"samples_per_s", m.twin.samples_per_s},
                                  {"test_accuracy", m.twin.accuracy}}
                           : Json{{"note", m.twin.note}};
    models.push_back({{"model", m.model},
                      {"train_images", m.train_images},
                      {"test_images", m.test_images},
                      {"epochs", m.epochs},
                      {"batch", m.batch},
                      {"optimizer", "adam"},
                      {"lr", kLr},
                      {"samples_per_s", m.samples_per_s},
                      {"test_accuracy", m.accuracy},
                      {"layers", layers},
                      {"pytorch", twin}});
  }
  Json step_profiles = Json::array();
  for (const StepProfileComparison& c : b.step_profiles) step_profiles.push_back(step_profile_json(c));
  return {{"python", b.python},
          {"models", models},
          {"layer_profiles", layer_profiles_json(b.layer_profiles)},
          {"step_profiles", step_profiles}};
}

}  // namespace flopslab::bench
