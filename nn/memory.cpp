#include "nn/memory.h"

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <vector>

namespace flopslab::nn::memory {
namespace {

struct Counter {
  std::atomic<std::int64_t> live{0}, peak{0};
};
Counter& counter(DeviceTag device) {
  static Counter counters[2];
  return counters[device == DeviceTag::cpu ? 0 : 1];
}

}  // namespace

Usage usage(DeviceTag device) {
  const Counter& c = counter(device);
  return {c.live.load(std::memory_order_relaxed), c.peak.load(std::memory_order_relaxed)};
}

void reset_peak(DeviceTag device) {
  Counter& c = counter(device);
  c.peak.store(c.live.load(std::memory_order_relaxed), std::memory_order_relaxed);
}

void count(std::int64_t bytes, DeviceTag device) {
  Counter& c = counter(device);
  const std::int64_t now = c.live.fetch_add(bytes, std::memory_order_relaxed) + bytes;
  std::int64_t peak = c.peak.load(std::memory_order_relaxed);
  while (now > peak && !c.peak.compare_exchange_weak(peak, now, std::memory_order_relaxed)) {
  }
}

namespace {

constexpr std::size_t kCachedFrom = 256 << 10, kCacheCap = std::size_t(512) << 20;

// The size class of a large block: the next of 2^k, 1.25 * 2^k, 1.5 * 2^k, 1.75 * 2^k.
std::size_t size_class(std::size_t bytes) {
  std::size_t power = kCachedFrom;
  while (power * 2 <= bytes) power *= 2;
  for (std::size_t quarter = 0; quarter <= 4; ++quarter)
    if (power + quarter * power / 4 >= bytes) return power + quarter * power / 4;
  return power * 2;
}

struct Cache {
  std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> free;
  std::size_t bytes = 0;
};
Cache& cache() {
  static Cache* c = new Cache;  // never destroyed: tensors may outlive static destructors
  return *c;
}

void* aligned(std::size_t bytes) {
  void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

}  // namespace

float* allocate_floats(std::int64_t floats) {
  const std::size_t bytes = std::size_t(std::max<std::int64_t>(floats, 1)) * sizeof(float);
  count(floats * std::int64_t(sizeof(float)));
  if (bytes < kCachedFrom) return static_cast<float*>(aligned(bytes));
  const std::size_t size = size_class(bytes);
  Cache& c = cache();
  {
    std::lock_guard lock(c.mutex);
    auto it = c.free.find(size);
    if (it != c.free.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      c.bytes -= size;
      return static_cast<float*>(p);
    }
  }
  return static_cast<float*>(aligned(size));
}

void free_floats(float* p, std::int64_t floats) {
  const std::size_t bytes = std::size_t(std::max<std::int64_t>(floats, 1)) * sizeof(float);
  count(-floats * std::int64_t(sizeof(float)));
  if (bytes < kCachedFrom) return std::free(p);
  const std::size_t size = size_class(bytes);
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  if (c.bytes + size > kCacheCap) return std::free(p);
  c.free[size].push_back(p);
  c.bytes += size;
}

std::int64_t cached_bytes() {
  Cache& c = cache();
  std::lock_guard lock(c.mutex);
  return std::int64_t(c.bytes);
}

}  // namespace flopslab::nn::memory
