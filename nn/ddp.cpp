// The DDP reducer: gradients packed into buckets and averaged over ranks while backward runs.
#include "nn/ddp.h"

#include "nn/cuda/ops.h"
#include "nn/device.h"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace flopslab::nn {
namespace {
double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }
}  // namespace

std::vector<std::size_t> assign_buckets(const std::vector<std::int64_t>& bytes, BucketSizes sizes) {
  std::vector<std::size_t> bucket(bytes.size());
  std::size_t count = 0;
  std::int64_t filled = 0;
  for (std::size_t i = bytes.size(); i-- > 0;) {
    const std::int64_t cap = count <= 1 ? sizes.first_bytes : sizes.bytes;
    if (count == 0 || (filled > 0 && filled + bytes[i] > cap)) ++count, filled = 0;
    bucket[i] = count - 1;
    filled += bytes[i];
  }
  return bucket;
}

std::vector<std::int64_t> bucket_bytes(const std::vector<std::int64_t>& bytes, BucketSizes sizes) {
  const std::vector<std::size_t> bucket = assign_buckets(bytes, sizes);
  std::vector<std::int64_t> total;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bucket[i] >= total.size()) total.resize(bucket[i] + 1, 0);
    total[bucket[i]] += bytes[i];
  }
  return total;
}

GradientReducer::GradientReducer(Communicator& comm, const std::vector<Parameter*>& params, BucketSizes sizes,
                                 bool overlap, DeviceCollectives* device)
    : comm_(comm), device_(device), overlap_(overlap) {
  std::vector<Parameter*> trained;
  std::vector<std::int64_t> bytes;
  for (Parameter* p : params)
    if (!p->frozen) trained.push_back(p), bytes.push_back(p->value.size() * std::int64_t(sizeof(float)));
  const std::vector<std::size_t> bucket = assign_buckets(bytes, sizes);
  for (std::size_t i = trained.size(); i-- > 0;) {  // each bucket in the order backward fills it
    if (bucket[i] >= buckets_.size()) buckets_.resize(bucket[i] + 1);
    buckets_[bucket[i]].params.push_back(trained[i]);
  }
  for (std::size_t b = 0; b < buckets_.size(); ++b) {
    std::int64_t floats = 0;
    for (Parameter* p : buckets_[b].params) {
      bucket_of_.emplace_back(p, b);
      floats += p->value.size();
    }
    if (!buckets_[b].params.empty() && buckets_[b].params.front()->grad.on_cuda()) {
      if (device_ == nullptr) throw std::invalid_argument("GradientReducer: GPU gradients go through NCCL, not MPI");
      buckets_[b].device_buffer = Tensor::uninitialized_on(DeviceTag::cuda, {floats});
    } else {
      buckets_[b].buffer.resize(std::size_t(floats));
    }
  }
  std::sort(bucket_of_.begin(), bucket_of_.end());
  is_ready_.assign(bucket_of_.size(), 0);
}

void GradientReducer::begin_backward() {
  std::fill(is_ready_.begin(), is_ready_.end(), 0);
  for (Bucket& b : buckets_) b.waiting = b.params.size(), b.request = -1;
  hook_seconds_ = 0;
}

void GradientReducer::start(Bucket& b) {
  std::int64_t at = 0;
  if (!b.device_buffer.empty()) {  // copies and all-reduce queued on the GPU, in stream order
    for (Parameter* p : b.params) {
      copy_floats(CopyDirection::device_to_device, b.device_buffer.data() + at, p->grad.data(), p->grad.size());
      at += p->grad.size();
    }
    device_->start_allreduce_sum(b.device_buffer.data(), b.device_buffer.size());
    b.request = -2;
    return;
  }
  for (Parameter* p : b.params) {
    if (p->grad.on_cuda()) throw std::invalid_argument("GradientReducer: GPU gradients go through NCCL, not MPI");
    std::copy_n(p->grad.data(), p->grad.size(), b.buffer.data() + at);
    at += p->grad.size();
  }
  b.request = comm_.start_allreduce_sum(b.buffer.data(), std::int64_t(b.buffer.size()));
}

void GradientReducer::ready(Module& layer) {
  const double started = now();
  for (Parameter* p : layer.parameter_list()) {
    const auto it = std::lower_bound(bucket_of_.begin(), bucket_of_.end(), std::make_pair(p, std::size_t(0)));
    if (it == bucket_of_.end() || it->first != p) continue;  // frozen
    char& flag = is_ready_[std::size_t(it - bucket_of_.begin())];
    if (flag) continue;
    flag = 1;
    Bucket& b = buckets_[it->second];
    if (--b.waiting == 0 && overlap_) start(b);
  }
  if (overlap_)  // MPI moves a non-blocking collective's data only inside MPI calls
    for (Bucket& b : buckets_)
      if (b.request >= 0 && comm_.test(b.request)) b.request = -2;  // -2: done
  hook_seconds_ += now() - started;
}

void GradientReducer::finish() {
  const double started = now();
  for (std::size_t i = 0; i < bucket_of_.size(); ++i)
    if (!is_ready_[i]) throw std::logic_error("GradientReducer: the gradient of " + bucket_of_[i].first->name + " was never reported ready");
  const float inverse = 1.0f / float(comm_.world());
  for (Bucket& b : buckets_) {
    if (!b.device_buffer.empty()) {
      if (!overlap_) start(b);
      device_->join();  // the stack's stream waits for the sums, the host does not
      std::int64_t at = 0;
      for (Parameter* p : b.params) {
        copy_floats(CopyDirection::device_to_device, p->grad.data(), b.device_buffer.data() + at, p->grad.size());
        gpu::scale(p->grad.data(), p->grad.size(), inverse);
        at += p->grad.size();
      }
      continue;
    }
    if (!overlap_) {
      start(b);
      comm_.wait(b.request);
    } else if (b.request >= 0) {
      comm_.wait(b.request);
    }
    std::int64_t at = 0;
    for (Parameter* p : b.params) {
      float* g = p->grad.data();
      for (std::int64_t e = 0; e < p->grad.size(); ++e) g[e] = b.buffer[std::size_t(at + e)] * inverse;
      at += p->grad.size();
    }
  }
  finish_seconds_ = now() - started;
}

void broadcast_model(Communicator& comm, Module& model, DeviceCollectives* device) {
  auto send = [&](Tensor& t) {
    if (!t.on_cuda()) return comm.broadcast(t.data(), t.size(), 0);
    if (device == nullptr) throw std::invalid_argument("broadcast_model: the model is on the GPU (NCCL's broadcast)");
    device->broadcast(t.data(), t.size(), 0);
  };
  for (Parameter* p : model.parameter_list()) send(p->value);
  for (const Buffer& b : model.buffers()) send(*b.value);
}

}  // namespace flopslab::nn
