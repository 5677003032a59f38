// Checkpoints: a model's parameters and buffers, the optimizer's state and the epoch, in a
// versioned binary format:
//
//   "FLOPSLAB" (8 bytes)  version (u32 = 1)  epoch (i64)  optimizer steps (i64)
//   model name (u32 length + bytes)  tensor count (u32)
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

#include "nn/module.h"
#include "nn/optim.h"

namespace flopslab::nn {

struct CheckpointInfo {
  std::string model;        // "mlp", "cnn"
  std::int64_t epoch = 0;   // epochs completed
};

std::string serialize_checkpoint(Module& model, Optimizer& optimizer, const CheckpointInfo& info);
// Throws std::runtime_error naming what does not match (`what` names the source); the model
// name must be `model_name`.
CheckpointInfo restore_checkpoint(const std::string& bytes, const std::string& what, const std::string& model_name,
                                  Module& model, Optimizer& optimizer);

}  // namespace flopslab::nn
