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

// Freed blocks kept by size class for reuse, in front of a raw allocator (the CPU's
// aligned_alloc, cudaMalloc). Blocks of `cached_from` bytes and more are rounded up to a size
// class, a quarter of a power of two (at most 25% lost to rounding), and parked on release
// until `cap` bytes are parked; smaller ones go straight to the raw allocator, or, with
// Small::rounded_up, are rounded up to `cached_from` and cached like the rest. When the raw
// allocator fails, the parked blocks are handed back to it and it is tried once more. Thread
// safe. A much simplified PyTorch CUDACachingAllocator: no splitting of blocks, no streams.
class BlockCache {
 public:
  struct Raw {
    void* (*allocate)(std::size_t bytes);  // null on failure
    void (*release)(void* p);
  };
  struct Stats {
    std::int64_t parked_bytes = 0;     // in the cache, not live
    std::int64_t raw_allocations = 0;  // calls of Raw::allocate
    std::int64_t reuses = 0;           // allocations served from the cache
  };
  enum class Small { raw, rounded_up };  // what becomes of blocks under cached_from
  BlockCache(Raw raw, std::size_t cached_from, std::size_t cap, Small small = Small::raw);
  ~BlockCache();
  BlockCache(const BlockCache&) = delete;
  BlockCache& operator=(const BlockCache&) = delete;
  // Null when the raw allocator fails even with the cache emptied. `bytes` must be passed
  // again to release().
  void* allocate(std::size_t bytes);
  void release(void* p, std::size_t bytes);
  void empty();  // hands every parked block back
  std::size_t size_class(std::size_t bytes) const;
  Stats stats() const;

  // A private pool (PyTorch's graph pools): while one is open, every block allocated comes
  // from the raw allocator or from blocks this pool got back, and a block it handed out
  // returns to it, never to the shared cache, until the pool is closed. A CUDA graph bakes
  // the addresses its capture used into the graph; the pool keeps them from being handed to
  // anyone else while the graph may replay. One pool is open at a time (begin..end); closing
  // it (after end) hands its parked blocks to the shared cache and its live ones return there.
  int begin_pool();
  void end_pool();
  void close_pool(int pool);
  std::int64_t pool_bytes(int pool) const;  // allocated through the pool, live or parked

 private:
  struct State;
  Raw raw_;
  std::size_t cached_from_, cap_;
  Small small_;
  State* state_;
};

// Storage for CPU tensors, 64-byte aligned. Blocks of 256 KiB and more are rounded up to a
// size class (a quarter of a power of two) and kept for reuse when freed, up to a cap: a
// training step frees and allocates the same large activations every time, and handing them
// back to the OS would cost a page fault per 4 KiB on the next step. `live` counts the bytes
// asked for; the cache is not live.
float* allocate_floats(std::int64_t floats);
void free_floats(float* p, std::int64_t floats);

// The GPU's cache over `raw` (cudaMalloc, cudaFree): every size is cached, the smallest rounded
// up to 512 bytes (a label vector, a loss scaler's flag), since cudaMalloc and cudaFree
// synchronise the device, which a training loop must not do every step; up to 8 GiB parked.
BlockCache* make_device_cache(BlockCache::Raw raw);

// Storage for CUDA tensors through make_device_cache over cudaMalloc. Counted as
// DeviceTag::cuda. Throws std::runtime_error naming the size asked
// for and the GPU's free memory when it does not fit; without CUDA in the build, naming that.
float* allocate_device_floats(std::int64_t floats);
void free_device_floats(float* p, std::int64_t floats);
BlockCache::Stats device_cache_stats();
// The device cache's private pools (BlockCache::begin_pool and friends), for CUDA graphs.
int begin_device_pool();
void end_device_pool();
void close_device_pool(int pool);

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
