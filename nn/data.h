// Data: MNIST-format IDX files (gzip-compressed or not), Fashion-MNIST from Debian's
// dataset-fashion-mnist package by default, and a loader that batches with seeded shuffling.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "nn/tensor.h"

namespace flopslab::nn {

constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// An IDX file's unsigned bytes and its dimensions. Throws std::runtime_error naming the file
// and what is wrong: unreadable, bad magic, not unsigned bytes, fewer bytes than the
// dimensions promise, or bytes left over.
struct IdxArray {
  std::vector<std::int64_t> dims;
  std::vector<std::uint8_t> bytes;
};
IdxArray read_idx(const std::string& path);
// The same from bytes already in memory (what read_idx does after gunzipping); `what` names
// the source in errors.
IdxArray parse_idx(const std::vector<std::uint8_t>& data, const std::string& what);

struct Dataset {
  Tensor images;                    // N x 1 x H x W, pixel / 255
  std::vector<std::int64_t> labels;  // N, each in [0, classes)
  std::int64_t classes = 10;
  std::int64_t size() const { return std::int64_t(labels.size()); }
};

// train-images-idx3-ubyte.gz and friends from `dir`; split is "train" or "t10k". A missing
// directory or file names the Debian package and the --data option.
Dataset load_mnist_format(const std::string& dir, const std::string& split);
// Why `dir` is not an MNIST-format dataset (no directory, a split's file missing), without
// reading the files; empty when all four are there.
std::string mnist_format_problem(const std::string& dir);

// The first `count` samples (a small subset for quick runs and tests).
Dataset take(const Dataset& data, std::int64_t count);

struct Batch {
  Tensor x;
  std::vector<std::int64_t> y;
  Tensor soft_targets;  // N x classes after mixup (mixed labels); empty otherwise
  // x's first non-finite value (flat index), or -1: checked where the batch is made, on a
  // prefetch worker, not on the training thread, whose threads would wait for it
  std::int64_t first_non_finite = -1;
};

// What the loader does to each batch, in this order, on pixels in [0, 1]: random horizontal
// flip, random crop after zero padding, brightness and contrast each scaled by a factor drawn
// from [jitter_low, jitter_high], mixup with a Beta(alpha, alpha) weight, then normalisation.
struct Transforms {
  bool flip = false;
  std::int64_t crop_padding = 0;  // 0: no crop
  float jitter_low = 1, jitter_high = 1;
  float mixup_alpha = 0;  // 0: no mixup
  float mean = 0, stddev = 1;
};

// One sample's random choices under a set of transforms, drawn in the loader's order (flip,
// crop offsets, brightness, contrast; only those the transforms use), so that the CPU loader
// and the GPU-resident dataset (nn/device_data.h) make the same batch from the same seed.
struct SampleAugment {
  bool flip = false;
  std::int64_t dy = 0, dx = 0;  // the crop window's offset in the zero-padded image
  bool jitter = false;
  float brightness = 1, contrast = 1;
};
// Flip, crop and jitter of one channels x h x w image in place (pixels in [0, 1]).
void apply_augment(float* x, std::int64_t channels, std::int64_t h, std::int64_t w, const SampleAugment& augment);

// What batch i of an epoch is, before any pixel is touched: its samples, the transforms, each
// sample's random choices, and the generator in the state mixup continues from.
struct BatchPlan {
  std::vector<std::int64_t> samples;
  Transforms transforms;
  std::vector<SampleAugment> augments;
  std::mt19937_64 mixup_rng;
};

// Batches in a fresh seeded order each epoch (seed + epoch), the last short batch dropped
// when drop_last. Every random choice of batch i in epoch e is drawn from (seed, e, i), so the
// same seed gives the same batches whatever the number of worker threads.
class DataLoader {
 public:
  DataLoader(const Dataset& data, std::int64_t batch, bool shuffle, bool drop_last, std::uint64_t seed,
             Transforms transforms = {});
  // The loader keeps a reference to the dataset: a temporary would dangle.
  DataLoader(Dataset&& data, std::int64_t batch, bool shuffle, bool drop_last, std::uint64_t seed,
             Transforms transforms = {}) = delete;
  void start_epoch(int epoch);  // DistributedSampler's set_epoch, too
  // Data-parallel training: this rank's shard of every epoch's order (nn/distributed.h's
  // shard_of: padded to a multiple of world, every world-th sample from rank). The order
  // itself is the same on every rank (the same seed).
  void set_shard(int rank, int world);
  std::int64_t samples() const { return std::int64_t(order_.size()); }  // this rank's, per epoch
  std::int64_t batches() const;
  Batch batch(std::int64_t index) const;  // index < batches()
  bool reads_bytes() const { return bytes_ != nullptr; }  // gathers from a byte copy of the images
  BatchPlan plan(std::int64_t index) const;  // what batch(index) gathers and applies
  // The transforms of batch `index` of the current epoch, instead of one set for every batch
  // (a recipe's phase without augmentation at the end). Called from the prefetcher's worker
  // threads: it must only read.
  void set_batch_transforms(std::function<Transforms(std::int64_t index)> transforms_of);

 private:
  const Dataset& data_;
  std::int64_t batch_;
  bool shuffle_, drop_last_;
  std::uint64_t seed_;
  Transforms transforms_;
  std::function<Transforms(std::int64_t)> transforms_of_;
  int epoch_ = 0;
  int rank_ = 0, world_ = 1;
  std::vector<std::int64_t> order_;
  // The images as bytes k where every value is k / 255 (as load_mnist_format makes them), for
  // shuffled batches; else null. A copy: the dataset as it was when the loader was made.
  std::shared_ptr<const std::uint8_t[]> bytes_;
  static std::shared_ptr<const std::uint8_t[]> as_bytes(const Tensor& images);  // null unless every value is k / 255
};

// Pixels in [0, 1] as bytes: out[i] = k where images[i] is k / 255, exactly the float that
// load_mnist_format computes (tolerance 0) or with k within `tolerance` of images[i] * 255.
// Returns the index of the first value that is neither, or -1 when all are.
std::int64_t pixels_as_bytes(const Tensor& images, float tolerance, std::uint8_t* out);

// Prepares the batches of one epoch ahead of the training step on `workers` threads (0: in
// the caller's thread), at most `ahead` batches before the one being consumed; next() hands
// them out in order.
class BatchPrefetcher {
 public:
  BatchPrefetcher(const DataLoader& loader, int workers, int ahead = 4);
  ~BatchPrefetcher();
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;
  Batch next();

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The batch's transforms, for tests and lessons: flip, crop, jitter, mixup, normalise.
void apply_transforms(Batch& batch, const Transforms& transforms, std::int64_t classes, std::mt19937_64& rng);

// (x - mean) / std over a whole tensor, in place.
void normalize(Tensor& x, float mean, float stddev);

}  // namespace flopslab::nn
