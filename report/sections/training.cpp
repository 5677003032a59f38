// The report's training section (lessons 12-17): the MLP and the CNN trained for one short
// epoch by the stack in nn/ and by their PyTorch twin in the same run, with ours per layer.
#include <fmt/format.h>

#include "bench/training/train_run.h"
#include "bench/training/training_bench.h"
#include "harness/table.h"
#include "report/section.h"

namespace flopslab::bench {
namespace {

std::string training_markdown(const TrainingBench& b) {
  std::string md = "## Training (lessons 12-17)\n\n";
  if (b.models.empty()) return md;
  const ModelBench& first = b.models.front();
  md += fmt::format("One epoch of Adam (lr {}, batch {}) on {} Fashion-MNIST images, tested on {}, by the stack in nn/ "
                    "and by its PyTorch twin (`scripts/torch_twin.py`: the same models, data, optimizer, batch and "
                    "threads) in the same run. Samples per second count the training steps' wall time.\n\n",
                    kTrainingBenchLr, first.batch, first.train_images, first.test_images);
  Table t({{"model", Table::Align::left}, {"flopslab samples/s"}, {"PyTorch samples/s"}, {"ratio"}, {"flopslab accuracy"},
           {"PyTorch accuracy"}});
  std::string version;
  for (const ModelBench& m : b.models) {
    if (m.twin.ran) version = m.twin.torch_version;
    t.add_row({m.model, fmt::format("{:.0f}", m.samples_per_s), m.twin.ran ? fmt::format("{:.0f}", m.twin.samples_per_s) : "-",
               m.twin.ran ? fmt::format("{:.2f}x", m.samples_per_s / m.twin.samples_per_s) : "-",
               fmt::format("{:.2f}%", 100 * m.accuracy), m.twin.ran ? fmt::format("{:.2f}%", 100 * m.twin.accuracy) : "-"});
  }
  md += t.markdown() + "\n";
  md += version.empty() ? "PyTorch did not run: " + first.twin.note + ".\n\n"
                        : fmt::format("PyTorch {} ({}).\n\n", version, b.python);
  md += "![training throughput](training.png)\n\n";
  for (const ModelBench& m : b.models) {
    md += fmt::format("Time per step in each layer of the {} (the training loop's own timers; `flopslab train --profile` "
                      "prints the same):\n\n",
                      m.model);
    md += layer_time_table(m.layers).markdown() + "\n";
  }
  for (const StepProfileComparison& c : b.step_profiles) {
    md += fmt::format("### Where the {}'s step goes, against PyTorch\n\n", c.model);
    md += step_profile_finding(c) + " Both train on one fixed batch of random images with Adam; `scripts/"
          "torch_step_profile.py` is PyTorch's side.\n\n";
    md += step_profile_table(c).markdown() + "\n";
  }
  return md;
}

class Training final : public ReportSection {
 public:
  void measure(const SectionInputs& in, Json& sections) override {
    bench_ = run_training_bench(
        {.quick = in.options.quick, .threads = in.session.machine.physical_cores, .progress = in.options.progress});
    sections["training"] = training_bench_json(bench_);
  }
  std::string markdown(const std::string&) const override { return training_markdown(bench_); }

 private:
  TrainingBench bench_;
};

}  // namespace

std::unique_ptr<ReportSection> training_section() { return std::make_unique<Training>(); }

}  // namespace flopslab::bench
