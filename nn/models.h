// The models of the lessons, by name: the MLPs, the CNNs and the Inception model.
#pragma once

#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nn/layers.h"

namespace flopslab::nn {

// "mlp": seed 002's 784-256-128-64-10 with ReLU; "mlp-dropout": the same with dropout 0.2
// after each hidden layer. "cnn": two (conv 3x3 + BatchNorm + ReLU + 2x2 max pool) blocks, 16
// and 32 channels, then 1568-128-10; "cnn-nobn": the same without BatchNorm. `classes` sets
// the width of the last layer (the head). Throws on another name.
std::unique_ptr<Sequential> make_model(const std::string& name, std::mt19937_64& rng, std::int64_t classes = 10);
const std::vector<std::string>& model_names();
std::string model_names_text();  // "mlp, mlp-dropout, ..."

// What training `model` at `batch` needs at once, in bytes: each parameter's value, gradient
// and two optimizer states (Adam's), plus the activations a step keeps, measured from one CPU
// forward and backward of 2 samples of `sample` shape and scaled to the batch. For refusing
// a run that cannot fit on the GPU before anything is allocated there. The model must be on
// the CPU; its gradients are overwritten, its BatchNorm statistics are not.
std::int64_t estimate_training_bytes(Sequential& model, std::int64_t batch, const std::vector<std::int64_t>& sample);

}  // namespace flopslab::nn
