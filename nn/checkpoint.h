// Checkpoints: a model's parameters and buffers, the optimizer's state and the epoch, in a
// versioned binary format:
//
//   "FLOPSLAB" (8 bytes)  version (u32 = 2)  epoch (i64)  optimizer steps (i64)
//   model name (u32 length + bytes)  training state (u32 length + JSON text: the recipe's
//   fingerprint, the step, the schedule's and loss scaler's state)  tensor count (u32)
//   per tensor: name (u32 length + bytes), rank (u32), dims (i64 each), floats (little endian)
//   CRC-32 of everything before it (u32)
//
// Loading checks the magic, version, CRC, the model name, and every tensor's name and shape
// against the live model before it copies anything, so a bad file leaves the model untouched.
// The bytes are returned and taken as strings; writing them atomically is the caller's
// (bench::write_file_atomically).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "nn/module.h"
#include "nn/optim.h"

namespace flopslab::nn {

struct CheckpointInfo {
  std::string model;        // "mlp", "cnn"
  std::int64_t epoch = 0;   // epochs completed
  std::string state = "{}"; // the training loop's own state, as JSON text
};

std::string serialize_checkpoint(Module& model, Optimizer& optimizer, const CheckpointInfo& info);
// The header (model, epoch, state) after checking the magic, version and checksum, without
// touching any model: what a trainer reads to set up the optimizer it will restore into.
CheckpointInfo read_checkpoint_info(const std::string& bytes, const std::string& what);
// Throws std::runtime_error naming what does not match (`what` names the source); the model
// name must be `model_name`.
CheckpointInfo restore_checkpoint(const std::string& bytes, const std::string& what, const std::string& model_name,
                                  Module& model, Optimizer& optimizer);
// Fine-tuning: copies each of the checkpoint's model tensors into the model's tensor of the
// same name and shape, except names starting with one of skip_prefixes. Returns one line per
// tensor of the model that was not loaded and why ("5.weight: skipped (a new head)",
// "5.weight: 10x128 in the checkpoint, 5x128 here"), empty when everything matched.
std::vector<std::string> load_matching_parameters(const std::string& bytes, const std::string& what, Module& model,
                                                  const std::vector<std::string>& skip_prefixes = {});

}  // namespace flopslab::nn
