// Live bytes of the training stack, counted where memory is allocated (tensor storage and the
// few caches that are not tensors), so that peak activation memory is measured rather than
// estimated. One counter per device; the CUDA tensors of the GPU stack count on their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>

#include "nn/tensor.h"

namespace flopslab::nn::memory {

struct Usage {
  std::int64_t live = 0;  // bytes allocated now
  std::int64_t peak = 0;  // the most live at once since the last reset_peak()
};

Usage usage(DeviceTag device = DeviceTag::cpu);
// Starts a new peak from what is live now.
void reset_peak(DeviceTag device = DeviceTag::cpu);
// Called by the allocators: bytes > 0 allocated, < 0 freed.
void count(std::int64_t bytes, DeviceTag device = DeviceTag::cpu);

// A standard allocator that counts its bytes as CPU memory (max pooling's argmax indices).
template <class T>
struct CountingAllocator {
  using value_type = T;
  CountingAllocator() = default;
  template <class U>
  CountingAllocator(const CountingAllocator<U>&) {}
  T* allocate(std::size_t n) {
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T)) throw std::bad_alloc();
    T* p = static_cast<T*>(::operator new(n * sizeof(T)));
    count(std::int64_t(n * sizeof(T)));
    return p;
  }
  void deallocate(T* p, std::size_t n) {
    count(-std::int64_t(n * sizeof(T)));
    ::operator delete(p);
  }
  template <class U>
  bool operator==(const CountingAllocator<U>&) const { return true; }
};

}  // namespace flopslab::nn::memory
