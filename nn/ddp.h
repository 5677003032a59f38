// PyTorch's DistributedDataParallel reducer, for the nn/ stack: the gradients averaged over
// the ranks after every backward, in buckets filled in reverse parameter order (the order
// backward produces them), each bucket's all-reduce started as soon as its last gradient is
// ready so that it crosses while backward computes the layers below. DDP's sizes: the first
// bucket up to 1 MiB (it is ready first), the others up to 25 MiB.
#pragma once

#include <cstdint>
#include <vector>

#include "nn/distributed.h"
#include "nn/module.h"
#include "nn/tensor.h"

namespace flopslab::nn {

struct BucketSizes {
  std::int64_t first_bytes = std::int64_t(1) << 20;
  std::int64_t bytes = std::int64_t(25) << 20;
};

// DDP's rule on sizes alone: given each parameter's bytes in forward order, the bucket of each
// (0 is filled first, from the last parameter back). A bucket is closed when the next
// parameter would take it past its cap; a parameter larger than a cap has a bucket of its own.
std::vector<std::size_t> assign_buckets(const std::vector<std::int64_t>& bytes_in_forward_order, BucketSizes sizes);
// The bytes of each bucket, in the order backward fills them.
std::vector<std::int64_t> bucket_bytes(const std::vector<std::int64_t>& bytes_in_forward_order, BucketSizes sizes);

class GradientReducer {
 public:
  // `params`: the model's, in forward order; frozen ones are left out. overlap false: every
  // bucket is reduced after backward, one blocking all-reduce each (--no-overlap). GPU
  // gradients go through `device` (NCCL: buckets on the GPU, each all-reduce on its side
  // stream); CPU ones through `comm`.
  GradientReducer(Communicator& comm, const std::vector<Parameter*>& params, BucketSizes sizes, bool overlap,
                  DeviceCollectives* device = nullptr);
  // Before each backward: every bucket empty.
  void begin_backward();
  // After a layer's backward: its parameters' gradients are final (repeats are ignored).
  void ready(Module& layer);
  // After backward: waits for (or, without overlap, runs) every bucket's all-reduce, and
  // writes the mean over the ranks into each gradient. Throws std::logic_error naming a
  // parameter whose gradient was never reported ready.
  void finish();

  std::size_t buckets() const { return buckets_.size(); }
  // Seconds of the last finish(): waiting for the all-reduces (overlap) or running them.
  double last_finish_seconds() const { return finish_seconds_; }
  // Seconds of the last backward spent starting and progressing all-reduces inside ready().
  double last_hook_seconds() const { return hook_seconds_; }

 private:
  struct Bucket {
    std::vector<Parameter*> params;
    std::vector<float> buffer;
    Tensor device_buffer;  // GPU gradients: the bucket on the GPU
    std::size_t waiting = 0;  // parameters not yet ready this backward
    int request = -1;         // the running all-reduce, -1: not started
  };
  void start(Bucket& b);
  Communicator& comm_;
  DeviceCollectives* device_;
  bool overlap_;
  std::vector<Bucket> buckets_;
  std::vector<std::pair<Parameter*, std::size_t>> bucket_of_;  // sorted by pointer
  std::vector<char> is_ready_;                                  // per entry of bucket_of_
  double finish_seconds_ = 0, hook_seconds_ = 0;
};

// Rank 0's parameter values and buffers on every rank (DDP's start): after this every rank
// holds the same model. A model on the GPU goes through `device`.
void broadcast_model(Communicator& comm, Module& model, DeviceCollectives* device = nullptr);

}  // namespace flopslab::nn
