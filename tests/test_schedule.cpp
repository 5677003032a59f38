// Learning-rate schedules against PyTorch: every value of every case in
// tests/fixtures/torch_schedules.json (written by scripts/make_schedule_fixtures.py), and the
// refusals of bad descriptions.
#include <doctest/doctest.h>

#include <cmath>
#include <fstream>
#include <string>

#include "nn/schedule.h"

using namespace flopslab::nn;

namespace {

const ScheduleJson& schedule_fixtures() {
  static const ScheduleJson doc = [] {
    std::ifstream in(std::string(FLOPSLAB_SOURCE_DIR) + "/tests/fixtures/torch_schedules.json");
    REQUIRE_MESSAGE(in.good(), "tests/fixtures/torch_schedules.json is missing (scripts/make_schedule_fixtures.py)");
    return ScheduleJson::parse(in);
  }();
  return doc;
}

bool close(double ours, double torch) { return std::fabs(ours - torch) <= 1e-6 * std::fabs(torch) + 1e-15; }

}  // namespace

TEST_CASE("every schedule gives PyTorch's learning rate and momentum at every position") {
  const ScheduleJson& doc = schedule_fixtures();
  REQUIRE(doc["cases"].size() >= 15);
  std::size_t compared = 0;
  for (const ScheduleJson& c : doc["cases"]) {
    const std::string name = c["name"];
    CAPTURE(name);
    const long positions = c["positions"];
    auto schedule = make_scheduler(c["spec"], c["base_lrs"].get<std::vector<double>>(), positions);
    const bool has_metric = c.contains("metric"), has_momentum = c.contains("momentum");
    CHECK(schedule->needs_metric() == has_metric);
    for (long t = 0; t < positions; ++t) {
      CHECK(schedule->position() == t);
      for (std::size_t g = 0; g < schedule->groups(); ++g) {
        const double torch_lr = c["lr"][std::size_t(t)][g];
        if (!close(schedule->lr(g), torch_lr)) {
          FAIL_CHECK("position " << t << " group " << g << ": lr " << schedule->lr(g) << ", PyTorch " << torch_lr);
          break;
        }
        ++compared;
        if (has_momentum) {
          const double torch_m = c["momentum"][std::size_t(t)][g];
          REQUIRE(schedule->momentum(g).has_value());
          if (!close(*schedule->momentum(g), torch_m))
            FAIL_CHECK("position " << t << " group " << g << ": momentum " << *schedule->momentum(g) << ", PyTorch "
                                   << torch_m);
        } else {
          CHECK_FALSE(schedule->momentum(g).has_value());
        }
      }
      schedule->step(has_metric ? c["metric"][std::size_t(t)].get<double>() : std::nan(""));
    }
  }
  CHECK(compared > 6000);
}

TEST_CASE("a schedule's state continues the same curve after a restore") {
  for (const ScheduleJson& c : schedule_fixtures()["cases"]) {
    const std::string name = c["name"];
    CAPTURE(name);
    const long positions = c["positions"], cut = positions / 3;
    const auto base = c["base_lrs"].get<std::vector<double>>();
    auto metric = [&](long t) { return c.contains("metric") ? c["metric"][std::size_t(t)].get<double>() : std::nan(""); };
    auto first = make_scheduler(c["spec"], base, positions);
    for (long t = 0; t < cut; ++t) first->step(metric(t));
    // Through text, as a checkpoint stores it.
    const ScheduleJson saved = ScheduleJson::parse(first->state().dump());
    auto second = make_scheduler(c["spec"], base, positions);
    second->load_state(saved);
    for (long t = cut; t < positions; ++t) {
      REQUIRE(second->position() == t);
      REQUIRE(close(second->lr(0), c["lr"][std::size_t(t)][0].get<double>()));
      second->step(metric(t));
    }
  }
}

TEST_CASE("the annealing shapes of seed 003") {
  CHECK(anneal(Anneal::linear, 1e-2, 1e-3, 0.5) == doctest::Approx(5.5e-3));
  CHECK(anneal(Anneal::cosine, 1e-2, 1e-3, 0.0) == doctest::Approx(1e-2));
  CHECK(anneal(Anneal::cosine, 1e-2, 1e-3, 0.5) == doctest::Approx(5.5e-3));
  CHECK(anneal(Anneal::cosine, 1e-2, 1e-3, 1.0) == doctest::Approx(1e-3));
  CHECK(anneal(Anneal::exponential, 1e-2, 1e-4, 0.5) == doctest::Approx(1e-3));
  CHECK(anneal(Anneal::polynomial, 1.0, 0.0, 0.5, 0.9) == doctest::Approx(std::pow(0.5, 0.9)));
  CHECK(anneal(Anneal::none, 3.0, 1.0, 0.7) == 3.0);
  CHECK(anneal_from_name("cosine") == Anneal::cosine);
  CHECK_FALSE(anneal_from_name("cos").has_value());
}

TEST_CASE("bad schedule descriptions are refused with the field named") {
  auto error = [](const char* text, long length = 100) {
    try {
      make_scheduler(ScheduleJson::parse(text), {0.1}, length);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(accepted)");
  };
  CHECK(error(R"({"type": "stepp"})") ==
        "type: 'stepp' is not a schedule (valid: constant, step, multistep, exponential, cosine, polynomial, plateau, "
        "warm-restarts, onecycle)");
  CHECK(error(R"({"type": "step", "step_size": 3, "gama": 0.5})") == "unknown key 'gama' for a 'step' schedule");
  CHECK(error(R"({"type": "step"})") == "step_size: required for a 'step' schedule");
  CHECK(error(R"({"type": "step", "step_size": 0})") == "step_size: must be at least 1, got 0");
  CHECK(error(R"({"type": "cosine", "t_max": 2.5})") == "t_max: must be a whole number");
  CHECK(error(R"({"type": "exponential", "gamma": -1})") == "gamma: must be more than 0, got -1");
  CHECK(error(R"({"type": "multistep", "milestones": [5, 3]})") == "milestones: must increase");
  CHECK(error(R"({"type": "plateau", "mode": "lowest"})") == "mode: 'lowest' is not one of min, max");
  CHECK(error(R"({"type": "plateau", "factor": 1.5})") == "factor: must be more than 0 and at most 1, got 1.5");
  CHECK(error(R"({"type": "onecycle", "pct_start": 0.001})") ==
        "pct_start: 0.001 of 100 steps leaves the rising phase empty");
  CHECK(error(R"({"type": "onecycle", "total_steps": 50})") ==
        "total_steps: 50 is fewer than the 100 steps it will be stepped through");
  CHECK(error(R"({"type": "cosine", "warmup": {"type": "linear", "iters": 100}})") ==
        "warmup.iters: 100 leaves none of the 100 positions to the schedule after it");
  CHECK(error(R"({"type": "cosine", "warmup": {"type": "quadratic", "iters": 3}})") ==
        "warmup.type: 'quadratic' is not linear or exponential");
  CHECK(error(R"({"type": "cosine", "warmup": {"iters": 3, "from": 0.1}})") ==
        "warmup: unknown key 'from' (valid: type, iters, start_factor)");
  CHECK(error(R"([1, 2])") == "a schedule must be a JSON object with a \"type\"");
}
