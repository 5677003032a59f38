// The live-byte counters and the block caches that tensors on either device allocate from.
#include "nn/memory.h"

#include <atomic>
#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <new>
#include <stdexcept>
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

struct BlockCache::State {
  mutable std::mutex mutex;
  std::map<std::size_t, std::vector<void*>> parked;
  Stats stats;
  struct Pool {
    std::map<std::size_t, std::vector<void*>> parked;
    std::int64_t bytes = 0;
    bool closed = false;
  };
  std::map<int, Pool> pools;
  std::map<void*, int> pool_of;  // blocks handed out by a pool
  int open_pool = -1, next_pool = 0;
};

BlockCache::BlockCache(Raw raw, std::size_t cached_from, std::size_t cap, Small small)
    : raw_(raw), cached_from_(std::max<std::size_t>(cached_from, 1)), cap_(cap), small_(small), state_(new State) {}

BlockCache* make_device_cache(BlockCache::Raw raw) {
  return new BlockCache(raw, 512, std::size_t(8) << 30, BlockCache::Small::rounded_up);
}

BlockCache::~BlockCache() {
  empty();
  delete state_;
}

// The next of 2^k, 1.25 * 2^k, 1.5 * 2^k, 1.75 * 2^k at or above `bytes`.
std::size_t BlockCache::size_class(std::size_t bytes) const {
  if (bytes < cached_from_) return small_ == Small::rounded_up ? cached_from_ : bytes;
  std::size_t power = cached_from_;
  while (power * 2 <= bytes) power *= 2;
  for (std::size_t quarter = 0; quarter <= 4; ++quarter)
    if (power + quarter * power / 4 >= bytes) return power + quarter * power / 4;
  return power * 2;
}

void* BlockCache::allocate(std::size_t bytes) {
  const std::size_t size = size_class(bytes);
  {
    std::lock_guard lock(state_->mutex);
    if (state_->open_pool >= 0) {
      State::Pool& pool = state_->pools[state_->open_pool];
      auto it = pool.parked.find(size);
      if (it != pool.parked.end() && !it->second.empty()) {
        void* p = it->second.back();
        it->second.pop_back();
        ++state_->stats.reuses;
        return p;
      }
      ++state_->stats.raw_allocations;
      void* p = raw_.allocate(size);
      if (p != nullptr) {
        state_->pool_of[p] = state_->open_pool;
        pool.bytes += std::int64_t(size);
      }
      return p;  // a pool does not empty the shared cache: its blocks must stay put
    }
  }
  if (size >= cached_from_) {
    std::lock_guard lock(state_->mutex);
    auto it = state_->parked.find(size);
    if (it != state_->parked.end() && !it->second.empty()) {
      void* p = it->second.back();
      it->second.pop_back();
      state_->stats.parked_bytes -= std::int64_t(size);
      ++state_->stats.reuses;
      return p;
    }
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    {
      std::lock_guard lock(state_->mutex);
      ++state_->stats.raw_allocations;
    }
    if (void* p = raw_.allocate(size)) return p;
    if (attempt == 0) empty();
  }
  return nullptr;
}

void BlockCache::release(void* p, std::size_t bytes) {
  if (p == nullptr) return;
  const std::size_t size = size_class(bytes);
  {
    std::lock_guard lock(state_->mutex);
    if (auto owner = state_->pool_of.find(p); owner != state_->pool_of.end()) {
      State::Pool& pool = state_->pools[owner->second];
      if (!pool.closed) {
        pool.parked[size].push_back(p);
        return;
      }
      pool.bytes -= std::int64_t(size);  // a closed pool's last blocks come home
      if (pool.bytes == 0) state_->pools.erase(owner->second);
      state_->pool_of.erase(owner);
    }
  }
  if (size >= cached_from_) {
    std::lock_guard lock(state_->mutex);
    if (std::size_t(state_->stats.parked_bytes) + size <= cap_) {
      state_->parked[size].push_back(p);
      state_->stats.parked_bytes += std::int64_t(size);
      return;
    }
  }
  raw_.release(p);
}

void BlockCache::empty() {
  std::map<std::size_t, std::vector<void*>> parked;
  {
    std::lock_guard lock(state_->mutex);
    parked.swap(state_->parked);
    state_->stats.parked_bytes = 0;
  }
  for (auto& [size, blocks] : parked)
    for (void* p : blocks) raw_.release(p);
}

int BlockCache::begin_pool() {
  std::lock_guard lock(state_->mutex);
  if (state_->open_pool >= 0) throw std::logic_error("BlockCache: a private pool is open already");
  state_->open_pool = state_->next_pool++;
  state_->pools[state_->open_pool];
  return state_->open_pool;
}

void BlockCache::end_pool() {
  std::lock_guard lock(state_->mutex);
  state_->open_pool = -1;
}

void BlockCache::close_pool(int id) {
  std::vector<std::pair<void*, std::size_t>> freed;
  {
    std::lock_guard lock(state_->mutex);
    auto it = state_->pools.find(id);
    if (it == state_->pools.end() || it->second.closed) return;
    if (state_->open_pool == id) state_->open_pool = -1;
    State::Pool& pool = it->second;
    for (auto& [size, blocks] : pool.parked)
      for (void* p : blocks) {
        freed.emplace_back(p, size);
        pool.bytes -= std::int64_t(size);
        state_->pool_of.erase(p);
      }
    pool.parked.clear();
    pool.closed = true;
    if (pool.bytes == 0) state_->pools.erase(it);
  }
  for (auto [p, size] : freed) release(p, size);  // into the shared cache (or the raw allocator)
}

std::int64_t BlockCache::pool_bytes(int id) const {
  std::lock_guard lock(state_->mutex);
  auto it = state_->pools.find(id);
  return it == state_->pools.end() ? 0 : it->second.bytes;
}

BlockCache::Stats BlockCache::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

namespace {

constexpr std::size_t kCachedFrom = 256 << 10, kCacheCap = std::size_t(512) << 20;

void* aligned_or_null(std::size_t bytes) { return std::aligned_alloc(64, (bytes + 63) / 64 * 64); }

BlockCache& cache() {
  // Never destroyed: tensors may outlive static destructors.
  static BlockCache* c = new BlockCache({aligned_or_null, std::free}, kCachedFrom, kCacheCap);
  return *c;
}

}  // namespace

float* allocate_floats(std::int64_t floats) {
  const std::size_t bytes = std::size_t(std::max<std::int64_t>(floats, 1)) * sizeof(float);
  void* p = cache().allocate(bytes);
  if (p == nullptr) throw std::bad_alloc();
  count(floats * std::int64_t(sizeof(float)));
  return static_cast<float*>(p);
}

void free_floats(float* p, std::int64_t floats) {
  const std::size_t bytes = std::size_t(std::max<std::int64_t>(floats, 1)) * sizeof(float);
  count(-floats * std::int64_t(sizeof(float)));
  cache().release(p, bytes);
}

[[maybe_unused]] static std::int64_t cached_bytes() { return cache().stats().parked_bytes; }

}  // namespace flopslab::nn::memory
