// See inference_bench.h.
#include "bench/training/inference_bench.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <random>

#include <fmt/format.h>

#include "harness/files.h"
#include "bench/training/training_bench.h"
#include "kernels/cpu/conv/fused.h"
#include "nn/checkpoint.h"
#include "nn/memory.h"
#include "nn/train.h"
#include "harness/external.h"
#include "harness/format.h"

namespace flopslab::bench {
namespace {

bool is_model(const std::string& name) {
  const auto& names = nn::model_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

// The model with its trained weights, or freshly initialised with its batch-norm statistics
// set by a few training-mode passes (a fresh BatchNorm's are 0 and 1, which would leave
// folding nothing to do). Returns how it was made.
std::string build_model(const InferenceOptions& o, std::unique_ptr<nn::Sequential>& model) {
  std::mt19937_64 rng(0);
  model = nn::make_model(o.model, rng);
  if (!o.checkpoint.empty()) {
    const std::string bytes = read_file(o.checkpoint);
    const nn::CheckpointInfo info = nn::read_checkpoint_info(bytes, o.checkpoint);
    const std::vector<std::string> missing = nn::load_matching_parameters(bytes, o.checkpoint, *model);
    if (!missing.empty()) throw std::runtime_error(o.checkpoint + ": " + missing.front());
    return fmt::format("checkpoint {} (epoch {})", o.checkpoint, info.epoch);
  }
  if (model->buffers().empty()) return "freshly initialised";
  const int passes = 8;
  for (int i = 0; i < passes; ++i) {
    const nn::Tensor x = normalised_images(32, 100 + std::uint64_t(i));
    std::mt19937_64 drop(1);
    model->forward(x, nn::Context{.training = true, .threads = o.threads, .rng = &drop, .input_gradient = false});
    model->release_cache();
  }
  return fmt::format("freshly initialised, batch-norm statistics from {} training-mode passes over random images",
                     passes);
}

bool has_twin(const std::string& model) { return model == "cnn" || model == "inception"; }

TorchInference run_torch_twin(const InferenceOptions& o) {
  TorchInference t;
  if (!has_twin(o.model)) {
    t.note = "scripts/twin_models.py has no inference twin of '" + o.model + "'";
    return t;
  }
  const std::optional<Json> j =
      run_torch_script(torch_python(), "torch_infer_twin.py",
                       fmt::format("--model {} --batches 1,{} --threads {} --seconds {}", o.model, o.batch, o.threads,
                                   o.quick ? 0.1 : 0.5),
                       t.note);
  if (!j) return t;
  try {
    t.torch_version = (*j)["torch"].get<std::string>();
    t.note = (*j)["frozen_note"].get<std::string>();
    for (const Json& row : (*j)["rows"])
      t.rows.push_back({.batch = row["batch"].get<std::int64_t>(),
                        .eager_ms = row["eager_ms"].get<double>(),
                        .frozen_ms = row.value("frozen_ms", 0.0),
                        .eager_spread = row["eager_spread"].get<double>(),
                        .frozen_spread = row.value("frozen_spread", 0.0)});
    t.ran = true;
  } catch (const std::exception& e) {
    t.note = std::string("the PyTorch twin's output was not understood: ") + e.what();
  }
  return t;
}

}  // namespace

nn::Tensor normalised_images(std::int64_t n, std::uint64_t seed) {
  nn::Tensor x({n, 1, 28, 28});
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  for (std::int64_t i = 0; i < x.size(); ++i) x[i] = d(rng);
  return x;
}

bool InferenceResult::passed() const { return failing_step().empty() && relative <= kFusionBound; }

std::string InferenceResult::failing_step() const {
  for (const auto& s : steps)
    if (!(s.relative <= kFusionBound)) return s.step;
  return {};
}

std::string inference_problem(const InferenceOptions& o) {
  if (!is_model(o.model)) return "--model: '" + o.model + "' is not a model (valid: " + nn::model_names_text() + ")";
  if (o.batch < 1) return "--batch: must be at least 1, got " + std::to_string(o.batch);
  if (!o.checkpoint.empty()) {
    if (!std::filesystem::is_regular_file(o.checkpoint))
      return "--checkpoint: " + o.checkpoint + " is not a file (a checkpoint.bin of `flopslab train`)";
    nn::CheckpointInfo info;
    try {
      info = nn::read_checkpoint_info(read_file(o.checkpoint), o.checkpoint);
    } catch (const std::exception& e) {
      return std::string("--checkpoint: ") + e.what();
    }
    if (info.model != o.model)
      return "--checkpoint: " + o.checkpoint + " holds a '" + info.model + "' model, not '" + o.model +
             "' (use --model " + info.model + ")";
  }
  // One image's activations, measured on the unfused model; the run holds the unfused and the
  // fused outputs of a batch and the layers' saved inputs at once: allow three times that.
  std::mt19937_64 rng(0);
  auto model = nn::make_model(o.model, rng);
  nn::memory::reset_peak();
  const std::int64_t before = nn::memory::usage().live;
  {
    const nn::Tensor one = normalised_images(1, 1);
    model->forward(one, nn::Context{.training = false, .threads = 1});
    model->release_cache();
  }
  const double per_image = double(nn::memory::usage().peak - before);
  const double need = 3.0 * per_image * double(o.batch);
  const double available = double(available_memory_bytes());
  if (available > 0 && need > 0.8 * available)
    return fmt::format("--batch: {} images need about {} of activations, more than the {} available here", o.batch,
                       format_bytes(need), format_bytes(available));
  return {};
}

InferenceResult run_inference_bench(const InferenceOptions& o) {
  if (const std::string problem = inference_problem(o); !problem.empty()) throw std::invalid_argument(problem);
  const auto say = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  InferenceResult r;
  r.model = o.model, r.threads = o.threads;
  std::unique_ptr<nn::Sequential> own;
  r.source = o.trained != nullptr ? "trained in this run" : build_model(o, own);
  nn::Sequential* const model = o.trained != nullptr ? o.trained : own.get();
  nn::InferencePlan plan(*model);
  r.plan = plan.describe(), r.counts = plan.counts();

  say("checking the fused plan against the unfused layers");
  const nn::Tensor x = normalised_images(o.batch, 7);
  const nn::Context eval{.training = false, .threads = o.threads};
  const nn::Tensor unfused = model->forward(x, eval);
  model->release_cache();
  const nn::Tensor fused = plan.forward(x, o.threads);
  const nn::OutputDifference d = nn::output_difference(fused, unfused);
  r.max_abs = d.max_abs, r.relative = d.relative;
  r.steps = plan.compare_steps(x, o.threads);
  const char* onednn_missing = conv::cpu::onednn_fused_unavailable();
  const bool onednn = o.peers && onednn_missing == nullptr;
  if (!o.peers) r.onednn_note = "peers not asked for";
  else if (!onednn) r.onednn_note = onednn_missing;
  else r.onednn_relative = nn::output_difference(plan.forward(x, o.threads, nn::ConvEngine::onednn), unfused).relative;

  const TimingOptions timing = o.quick ? quick_timing() : TimingOptions{};
  for (const std::int64_t batch : {std::int64_t(1), o.batch}) {
    if (batch == 1 && o.batch == 1 && !r.rows.empty()) break;
    say(fmt::format("timing batch {}", batch));
    const nn::Tensor input = normalised_images(batch, 11);
    const auto run_unfused = [&] {
      model->forward(input, eval);
      model->release_cache();
    };
    const auto run_fused = [&] { plan.forward(input, o.threads); };
    const auto run_onednn = [&] { plan.forward(input, o.threads, nn::ConvEngine::onednn); };
    const auto first = [](const std::function<void()>& f) {
      const auto t0 = std::chrono::steady_clock::now();
      f();
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    };
    const double first_unfused = first(run_unfused), first_fused = first(run_fused);
    std::vector<ComparedWork> contestants = {{run_unfused, first_unfused}, {run_fused, first_fused}};
    if (onednn) contestants.push_back({run_onednn, first(run_onednn)});
    const std::vector<Timing> t = measure_interleaved(contestants, timing, o.quick ? 2 : 5);
    r.rows.push_back({batch, t[0], t[1], onednn ? t[2] : Timing{}});
  }
  say(fmt::format("timing each step at batch {}", o.batch));
  {
    nn::Tensor input = x;
    for (std::size_t i = 0; i < plan.step_count(); ++i) {
      const auto run_unfused = [&] { plan.run_step_unfused(i, input, o.threads); };
      const auto run_fused = [&] { plan.run_step(i, input, o.threads); };
      const auto run_onednn = [&] { plan.run_step(i, input, o.threads, nn::ConvEngine::onednn); };
      std::vector<ComparedWork> contestants = {{run_unfused, 0}, {run_fused, 0}};
      if (onednn) contestants.push_back({run_onednn, 0});
      for (auto& c : contestants) c.run();  // warm-up (oneDNN builds its primitives here)
      const std::vector<Timing> t = measure_interleaved(contestants, quick_timing(), 2);
      r.step_times.push_back({r.steps[i].step, t[0], t[1], onednn ? t[2] : Timing{}});
      input = plan.run_step(i, input, o.threads);
    }
  }
  if (o.peers) {
    say("timing the PyTorch twin");
    r.torch = run_torch_twin(o);
  } else {
    r.torch.note = "peers not asked for";
  }
  return r;
}

Table inference_error_table(const InferenceResult& r) {
  Table errors({{"step", Table::Align::right}, {"fused step", Table::Align::left},
                       {"max |fused - unfused|", Table::Align::right}, {"relative", Table::Align::right}});
  for (std::size_t i = 0; i < r.steps.size(); ++i) {
    std::string name = r.steps[i].step;
    if (name.size() > 70) name = name.substr(0, 67) + "...";
    errors.add_row({std::to_string(i), name, fmt::format("{:.2e}", r.steps[i].max_abs), fmt::format("{:.2e}", r.steps[i].relative)});
  }
  return errors;
}

Table inference_time_table(const InferenceResult& r) {
  const auto milliseconds = [](double s) { return fmt::format("{:.3f}", s * 1e3); };
  Table times({{"batch", Table::Align::right}, {"unfused ms", Table::Align::right},
                      {"fused ms", Table::Align::right}, {"unfused ms/image", Table::Align::right},
                      {"fused ms/image", Table::Align::right}, {"fused images/s", Table::Align::right},
                      {"speed-up", Table::Align::right}, {"spread u/f", Table::Align::right}});
  for (const InferenceRow& row : r.rows) {
    const double n = double(row.batch);
    times.add_row({std::to_string(row.batch), milliseconds(row.unfused.median), milliseconds(row.fused.median),
                   milliseconds(row.unfused.median / n), milliseconds(row.fused.median / n),
                   fmt::format("{:.0f}", n / row.fused.median), fmt::format("{:.2f}x", row.speedup()),
                   fmt::format("{:.0f}%/{:.0f}%", 100 * row.unfused.spread(), 100 * row.fused.spread())});
  }
  return times;
}

Table inference_step_table(const InferenceResult& r) {
  const auto ms = [](const Timing& t) { return t.median > 0 ? fmt::format("{:.3f}", t.median * 1e3) : std::string("-"); };
  Table steps({{"step", Table::Align::right}, {"fused step", Table::Align::left}, {"unfused ms", Table::Align::right},
               {"fused ms", Table::Align::right}, {"saved ms", Table::Align::right},
               {"oneDNN post-ops ms", Table::Align::right}});
  for (std::size_t i = 0; i < r.step_times.size(); ++i) {
    const FusionStepTiming& s = r.step_times[i];
    std::string name = s.step;
    if (name.size() > 60) name = name.substr(0, 57) + "...";
    steps.add_row({std::to_string(i), name, ms(s.unfused), ms(s.fused),
                   fmt::format("{:.3f}", (s.unfused.median - s.fused.median) * 1e3), ms(s.onednn)});
  }
  return steps;
}

Table inference_peer_table(const InferenceResult& r) {
  const auto cell = [](double ms, double ours_ms) {
    return ms > 0 ? fmt::format("{:.3f} ({:.2f}x)", ms, ms / ours_ms) : std::string("-");
  };
  Table peers({{"batch", Table::Align::right}, {"flopslab fused ms", Table::Align::right},
               {"oneDNN post-ops ms (theirs/ours)", Table::Align::right},
               {"PyTorch eager ms", Table::Align::right}, {"PyTorch frozen ms", Table::Align::right}});
  for (const InferenceRow& row : r.rows) {
    const double ours = row.fused.median * 1e3;
    double eager = 0, frozen = 0;
    for (const TorchInferenceRow& t : r.torch.rows)
      if (t.batch == row.batch) eager = t.eager_ms, frozen = t.frozen_ms;
    peers.add_row({std::to_string(row.batch), fmt::format("{:.3f}", ours), cell(row.onednn.median * 1e3, ours),
                   cell(eager, ours), cell(frozen, ours)});
  }
  return peers;
}

std::string inference_peer_notes(const InferenceResult& r) {
  std::string out;
  if (!r.onednn_note.empty()) out += "oneDNN column empty: " + r.onednn_note + "\n";
  else out += fmt::format("oneDNN post-ops plan against the unfused model: relative difference {:.2e}\n", r.onednn_relative);
  if (!r.torch.ran) out += "PyTorch columns empty: " + r.torch.note + "\n";
  else if (!r.torch.note.empty()) out += "PyTorch " + r.torch.torch_version + "; frozen form did not run: " + r.torch.note + "\n";
  else out += "PyTorch " + r.torch.torch_version + ", the same threads\n";
  return out;
}

Json to_json(const InferenceResult& r) {
  Json j{{"model", r.model},
         {"source", r.source},
         {"threads", r.threads},
         {"plan", r.plan},
         {"bound", kFusionBound},
         {"max_abs_error", r.max_abs},
         {"relative_error", r.relative},
         {"passed", r.passed()}};
  j["counts"] = {{"folded_batch_norms", r.counts.folded_batch_norms},
                 {"fused_epilogues", r.counts.fused_epilogues},
                 {"passes_removed", r.counts.passes_removed},
                 {"stacked_gemms", r.counts.stacked_gemms},
                 {"stacked_convolutions", r.counts.stacked_convolutions},
                 {"concat_copies_removed", r.counts.concat_copies_removed},
                 {"concat_copies_left", r.counts.concat_copies_left}};
  for (const auto& s : r.steps) j["steps"].push_back({{"step", s.step}, {"max_abs", s.max_abs}, {"relative", s.relative}});
  for (const auto& row : r.rows)
    j["timings"].push_back({{"batch", row.batch},
                            {"unfused_ms", row.unfused.median * 1e3},
                            {"fused_ms", row.fused.median * 1e3},
                            {"unfused_spread", row.unfused.spread()},
                            {"fused_spread", row.fused.spread()},
                            {"unfused_images_per_s", double(row.batch) / row.unfused.median},
                            {"fused_images_per_s", double(row.batch) / row.fused.median},
                            {"speedup", row.speedup()},
                            {"onednn_postops_ms", row.onednn.median * 1e3},
                            {"onednn_postops_spread", row.onednn.spread()}});
  for (const auto& s : r.step_times)
    j["step_timings"].push_back({{"step", s.step},
                                 {"unfused_ms", s.unfused.median * 1e3},
                                 {"fused_ms", s.fused.median * 1e3},
                                 {"onednn_postops_ms", s.onednn.median * 1e3}});
  j["onednn"] = {{"note", r.onednn_note}, {"relative_error", r.onednn_relative}};
  j["torch"] = {{"ran", r.torch.ran}, {"version", r.torch.torch_version}, {"note", r.torch.note}};
  for (const auto& t : r.torch.rows)
    j["torch"]["rows"].push_back({{"batch", t.batch},
                                  {"eager_ms", t.eager_ms},
                                  {"frozen_ms", t.frozen_ms},
                                  {"eager_spread", t.eager_spread},
                                  {"frozen_spread", t.frozen_spread}});
  return j;
}

}  // namespace flopslab::bench
