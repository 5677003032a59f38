// `flopslab infer` and lesson 18: a model in evaluation mode run unfused (its layers one by
// one, as training runs them) and fused (nn::InferencePlan), checked against each other, and
// timed at batch 1 and at a large batch in the same run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "harness/json.h"
#include "harness/table.h"
#include "harness/timing.h"
#include "nn/fuse.h"

namespace flopslab::bench {

struct InferenceOptions {
  std::string model = "cnn";  // cnn or inception (any model of nn::model_names() runs)
  std::string checkpoint;     // a checkpoint.bin of `flopslab train`; empty: freshly initialised
  std::int64_t batch = 64;    // the large batch (batch 1 is always measured too)
  int threads = 1;
  bool quick = false;
  std::function<void(const std::string&)> progress;
  nn::Sequential* trained = nullptr;  // a model of kind `model` already in memory (lesson 18 trains one)
  bool peers = true;                  // also time oneDNN's post-ops and the PyTorch twin
};

// Fused outputs must stay this close to the unfused ones: max |fused - unfused| over
// max |unfused|, per step and for the whole model.
constexpr double kFusionBound = 1e-5;

struct InferenceRow {
  std::int64_t batch = 0;
  Timing unfused, fused;
  Timing onednn;  // the same plan with oneDNN's convolutions and post-ops; median 0 when not run
  double speedup() const { return fused.median > 0 ? unfused.median / fused.median : 0; }
};

// scripts/torch_infer_twin.py: the same model in PyTorch's evaluation mode, eager and frozen
// (torch.jit.freeze + optimize_for_inference: its conv-BN folding and oneDNN fusion).
struct TorchInferenceRow {
  std::int64_t batch = 0;
  double eager_ms = 0, frozen_ms = 0;  // medians; frozen 0 when it did not run
  double eager_spread = 0, frozen_spread = 0;
};
struct TorchInference {
  bool ran = false;
  std::string torch_version, note;  // note: why it (or its frozen form) did not run
  std::vector<TorchInferenceRow> rows;
};

// One top-level step of the plan at the large batch: the layers it replaces, fused by us,
// fused by oneDNN (median 0 when not run).
struct FusionStepTiming {
  std::string step;
  Timing unfused, fused, onednn;
};

struct InferenceResult {
  std::string model, source;  // "checkpoint runs/x/checkpoint.bin (epoch 3)" or how it was initialised
  int threads = 1;
  std::vector<std::string> plan;
  nn::FusionCounts counts;
  double max_abs = 0, relative = 0;  // whole model, at the large batch
  std::vector<nn::InferencePlan::StepError> steps;
  std::vector<InferenceRow> rows;    // batch 1, then the large batch
  std::vector<FusionStepTiming> step_times;
  std::string onednn_note;           // why the oneDNN column is empty
  double onednn_relative = 0;        // the oneDNN plan against the unfused model, at the large batch
  TorchInference torch;
  bool passed() const;
  std::string failing_step() const;  // the first step beyond the bound, or empty
};

// n random 1 x 28 x 28 images as the models see them after normalisation: N(0, 1) per pixel.
nn::Tensor normalised_images(std::int64_t n, std::uint64_t seed);

// Empty when the options can run; otherwise one line naming the option and the value (a model
// that is not one, a batch of 0, a checkpoint of another model, a batch whose activations do
// not fit in the memory available). Allocates no more than one image's activations.
std::string inference_problem(const InferenceOptions& options);
InferenceResult run_inference_bench(const InferenceOptions& options);
Json to_json(const InferenceResult& result);
// Each step's error, and the timings with images per second and the speed-up.
Table inference_error_table(const InferenceResult& result);
Table inference_time_table(const InferenceResult& result);
// Where the time goes: each step unfused, fused and with oneDNN's post-ops, at the large batch.
Table inference_step_table(const InferenceResult& result);
// Ours fused against the peers at each batch, and a note on each peer (version, why absent).
Table inference_peer_table(const InferenceResult& result);
std::string inference_peer_notes(const InferenceResult& result);

}  // namespace flopslab::bench
