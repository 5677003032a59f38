// The step profile against PyTorch's (bench/training/twin_profile.h): reading the twin's JSON,
// refusing what is malformed, and the table and finding built from both sides. PyTorch itself
// is never needed: its side is planted.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>

#include <fmt/format.h>

#include "bench/training/twin_profile.h"

using namespace flopslab;

namespace {

// What scripts/torch_step_profile.py --model mlp --json prints, in shape (figures invented).
Json twin_mlp_json() {
  Json layers = Json::array();
  for (const char* name : {"Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear", "ReLU", "Linear"})
    layers.push_back({{"layer", name}, {"forward_ms", 0.02}, {"backward_ms", 0.04}});
  layers[1]["forward_ms"] = 0.2, layers[1]["backward_ms"] = 0.3;
  return {{"torch", "2.15.0"}, {"model", "mlp"},         {"batch", 64},         {"threads", 2},
          {"steps", 200},      {"step_ms", 1.5},         {"backward_ms", 0.5},  {"optimizer_ms", 0.6},
          {"hooked_step_ms", 1.6}, {"layers", layers}};
}

}  // namespace

TEST_CASE("the PyTorch step profile is read from its JSON, and a malformed one is refused with what is missing") {
  const bench::TwinStepProfile t = bench::TwinStepProfile::from_json(twin_mlp_json());
  CHECK(t.ran);
  CHECK(t.torch_version == "2.15.0");
  CHECK(t.step_ms == 1.5);
  CHECK(t.optimizer_ms == 0.6);
  REQUIRE(t.layers.size() == 8);
  CHECK(t.layers[1].name == "Linear");
  CHECK(t.layers[1].backward_ms == 0.3);

  Json no_step = twin_mlp_json();
  no_step.erase("step_ms");
  CHECK_THROWS_WITH_AS(bench::TwinStepProfile::from_json(no_step), "the step profile has no number 'step_ms'",
                       std::runtime_error);
  Json no_layers = twin_mlp_json();
  no_layers["layers"] = Json::array();
  CHECK_THROWS_WITH_AS(bench::TwinStepProfile::from_json(no_layers), "the step profile lists no layers",
                       std::runtime_error);
  Json bad_layer = twin_mlp_json();
  bad_layer["layers"][2]["forward_ms"] = "fast";
  CHECK_THROWS_WITH_AS(bench::TwinStepProfile::from_json(bad_layer), "the step profile has no number 'forward_ms'",
                       std::runtime_error);
  CHECK_THROWS_WITH_AS(bench::TwinStepProfile::from_json(Json::array()),
                       "the step profile names no PyTorch version ('torch')", std::runtime_error);
}

TEST_CASE("the step profile against PyTorch: ours measured, theirs planted, layer by layer") {
  // Ours for real, at a small batch and short timing; no python, so the twin does not run.
  bench::StepProfileComparison c = bench::compare_step_profiles("", "mlp", 16, 1, true);
  CHECK_FALSE(c.twin.ran);
  CHECK(c.twin.note.find("scripts/setup-peers") != std::string::npos);
  REQUIRE(c.ours.layers.names.size() == 8);
  CHECK(c.ours.step_s > 0);
  CHECK(c.ours.update_s > 0);
  CHECK(c.ours.update_s < c.ours.step_s);
  CHECK(c.ours.backward_s < c.ours.step_s);
  const std::string alone = bench::step_profile_finding(c);
  CHECK(alone.find("The mlp's training step at batch 16 on 1 thread: ") == 0);
  CHECK(alone.find("; PyTorch did not run: no python3 with PyTorch here") != std::string::npos);
  const std::string alone_table = bench::step_profile_table(c).text();
  CHECK(alone_table.find("1 Linear(784 -> 256)") != std::string::npos);
  CHECK(alone_table.find("whole step (median)") != std::string::npos);

  // Ours in the JSON: every layer, each with its own per-step times (timings themselves are
  // not asserted: a loaded machine moves the layers' means past the step's median).
  const Json mine = bench::step_profile_json(c)["flopslab"];
  REQUIRE(mine["layers"].size() == 8);
  CHECK(mine["layers"][1]["layer"] == "Linear(784 -> 256)");
  CHECK(mine["layers"][1]["forward_ms"].get<double>() > 0);
  CHECK(mine["layers"][1]["backward_ms"].get<double>() > 0);
  CHECK(mine["optimizer_ms"].get<double>() == doctest::Approx(1e3 * c.ours.update_s));

  // With the twin planted: ratios are PyTorch's time over ours, row by row.
  c.twin = bench::TwinStepProfile::from_json(twin_mlp_json());
  const double ours_first = mine["layers"][1]["forward_ms"].get<double>() + mine["layers"][1]["backward_ms"].get<double>();
  const std::string table = bench::step_profile_table(c).text();
  CHECK(table.find(fmt::format("{:.2f}x", 0.5 / ours_first)) != std::string::npos);
  CHECK(table.find(fmt::format("{:.2f}x", 1.5 / mine["step_ms"].get<double>())) != std::string::npos);
  const std::string finding = bench::step_profile_finding(c);
  CHECK(finding.find(", 1.500 ms in PyTorch 2.15.0 (") != std::string::npos);
  CHECK(finding.find("Most of ours goes to layer 1 Linear(784 -> 256)") != std::string::npos);
  const Json both = bench::step_profile_json(c);
  CHECK(both["layers_aligned"] == true);
  CHECK(both["pytorch"]["rest_ms"].get<double>() == doctest::Approx(1.6 - (0.5 + 7 * 0.06 + 0.6)));

  // A twin whose layers are other kinds is not set beside ours layer by layer.
  Json other = twin_mlp_json();
  other["layers"][1]["layer"] = "Conv2d";
  c.twin = bench::TwinStepProfile::from_json(other);
  CHECK(bench::step_profile_finding(c).find("do not line up") != std::string::npos);
  CHECK(bench::step_profile_json(c)["layers_aligned"] == false);
}
