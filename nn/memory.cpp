#include "nn/memory.h"

#include <atomic>

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

}  // namespace flopslab::nn::memory
