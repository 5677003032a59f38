// demo/demo_bus.h on the CUDA runtime (harness/gpu_tools.h's buffers and copies).
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "demo/demo_bus.h"
#include "harness/gpu_tools.h"

namespace flopslab::bench {
namespace {

struct BusLane {
  std::int64_t bytes;
  HostBuffer source;
  DeviceBuffer target;
  GpuStream stream;
  BusLane(std::int64_t n, HostMemory kind, unsigned seed) : bytes(n), source(n, kind), target(n) {
    auto* p = static_cast<unsigned char*>(source.data());
    for (std::int64_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>((i * 131 + seed) >> 3);
  }
  std::string check() const {
    std::vector<unsigned char> back(static_cast<std::size_t>(bytes));
    target.download(back.data(), bytes);
    const auto* sent = static_cast<const unsigned char*>(source.data());
    const auto bad = std::mismatch(back.begin(), back.end(), sent);
    if (bad.first == back.end()) return {};
    return fmt::format("byte {} arrived as {} instead of {}", bad.first - back.begin(), int(*bad.first), int(*bad.second));
  }
};

Contestant lane(const std::string& name, std::int64_t bytes, HostMemory kind, std::int64_t piece, unsigned seed) {
  auto l = std::make_shared<BusLane>(bytes, kind, seed);
  Contestant c{.name = name, .work_per_call = double(bytes)};
  if (piece >= bytes) {
    c.call = [l] { copy_sync(l->target.data(), l->source.data(), l->bytes, CopyKind::host_to_device); };
  } else {
    c.call = [l, piece] {  // queued back to back on one stream: each pays a copy's fixed cost
      const auto* src = static_cast<const char*>(l->source.data());
      auto* dst = static_cast<char*>(l->target.data());
      for (std::int64_t at = 0; at < l->bytes; at += piece)
        copy_async(dst + at, src + at, std::min(piece, l->bytes - at), CopyKind::host_to_device, l->stream.get());
      l->stream.synchronize();
    };
  }
  c.check = [l] { return l->check(); };
  return c;
}

}  // namespace

std::vector<Contestant> bus_contestants(std::int64_t bytes) {
  return {lane("pageable, one copy", bytes, HostMemory::pageable, bytes, 1),
          lane("pinned, one copy", bytes, HostMemory::pinned, bytes, 2),
          lane(fmt::format("pinned, {} KiB copies", kBusSmallCopy / 1024), bytes, HostMemory::pinned, kBusSmallCopy, 3)};
}

}  // namespace flopslab::bench
