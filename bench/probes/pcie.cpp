// Probe "pcie" (lesson 08): what moving data between CPU and GPU costs. Copies of 4 KiB to
// 1 GiB in both directions from four kinds of host memory, each direction and kind fitted to
// t = latency + bytes / bandwidth; one large transfer against many small ones; copy/compute
// overlap on 1 to 4 streams; cudaMemcpy against cudaMemcpyAsync; and zero-copy reads of host memory
// in place. The link is named by what it is: PCIe, NVLink-C2C (Grace) or none (an integrated GPU).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <memory>

#include <fmt/format.h>

#include "harness/files.h"
#include "harness/machine/gpu_runtime.h"
#include "harness/gpu_tools.h"
#include "bench/probes/probe.h"
#include "kernels/cuda/probes/gpu_probes.h"
#include "harness/format.h"

namespace flopslab::bench {

ProbeReport run_pcie_probe(const ProbeContext& ctx) {
  ProbeReport report("pcie", "The CPU-GPU bus (lesson 08)");
  if (!gpu_status().usable) throw std::runtime_error("no usable GPU: " + gpu_status().reason);
  const GpuDevice& d = gpu_status().devices.front();
  const GpuPeaks peaks = gpu_peaks(d);
  GpuStream stream;
  void* s = stream.get();
  const std::int64_t largest = ctx.quick ? 16 << 20 : std::int64_t(1) << 30;
  std::vector<std::int64_t> sizes;
  for (std::int64_t b = 4 << 10; b <= largest; b *= 4) sizes.push_back(b);
  DeviceBuffer device(largest), device2(largest);
  TimingOptions timing = ctx.timing;
  timing.max_time_s = std::min(timing.max_time_s, ctx.quick ? 0.1 : 0.5);

  using A = Table::Align;
  Json points = Json::array(), fits = Json::array();
  Table fit_table({{"host memory", A::left}, {"direction"}, {"latency µs"}, {"bandwidth GB/s"}, {"of the link"},
                   {"at 4 KiB GB/s"}, {"at largest GB/s"}});
  auto sweep = [&](const std::string& kind_name, CopyKind kind, void* host) {
    std::vector<std::pair<double, double>> samples;
    double small = 0, big = 0;
    for (std::int64_t bytes : sizes) {
      ctx.step(fmt::format("pcie: {} {} {}", kind_name, copy_kind_name(kind), format_bytes(double(bytes))));
      void* dst = kind == CopyKind::host_to_device ? device.data() : kind == CopyKind::device_to_host ? host : device2.data();
      const void* src = kind == CopyKind::host_to_device ? host : device.data();
      const Timing t = measure_gpu([&](void* st) { copy_async(dst, src, bytes, kind, st); }, s, timing);
      samples.emplace_back(double(bytes), t.median);
      const double gbps = double(bytes) / t.median * 1e-9;
      if (bytes == sizes.front()) small = gbps;
      big = gbps;
      points.push_back({{"memory", kind_name}, {"direction", copy_kind_name(kind)}, {"bytes", bytes},
                        {"median_s", t.median}, {"gbytes_per_s", gbps}});
    }
    auto [latency, bandwidth] = fit_latency_bandwidth(samples);
    bandwidth *= 1e-9;  // GB/s
    const bool over_link = kind != CopyKind::device_to_device && peaks.pcie_gbytes_per_s > 0;
    fit_table.add_row({kind_name, copy_kind_name(kind), fmt::format("{:.1f}", latency * 1e6), fmt::format("{:.1f}", bandwidth),
                       over_link ? fmt::format("{:.0f}%", 100 * bandwidth / peaks.pcie_gbytes_per_s) : "-",
                       fmt::format("{:.2f}", small), fmt::format("{:.1f}", big)});
    fits.push_back({{"memory", kind_name}, {"direction", copy_kind_name(kind)}, {"latency_s", latency},
                    {"gbytes_per_s", bandwidth}, {"fraction_of_link", over_link ? Json(bandwidth / peaks.pcie_gbytes_per_s) : Json(nullptr)}});
  };
  for (HostMemory kind : {HostMemory::pageable, HostMemory::pinned, HostMemory::write_combined, HostMemory::registered}) {
    HostBuffer host(largest, kind);
    sweep(host_memory_name(kind), CopyKind::host_to_device, host.data());
    sweep(host_memory_name(kind), CopyKind::device_to_host, host.data());
  }
  sweep("device", CopyKind::device_to_device, nullptr);

  // One transfer against many small ones, same total, pinned memory.
  const std::int64_t total = ctx.quick ? 4 << 20 : 64 << 20, piece = 4 << 10;
  HostBuffer pinned(std::max(total, largest), HostMemory::pinned);
  ctx.step("pcie: one large transfer against many small ones");
  const Timing whole = measure_gpu([&](void* st) { copy_async(device.data(), pinned.data(), total, CopyKind::host_to_device, st); },
                                   s, timing);
  const Timing pieces = measure_gpu([&](void* st) {
    for (std::int64_t off = 0; off < total; off += piece)
      copy_async(device.as<char>() + off, static_cast<char*>(pinned.data()) + off, piece, CopyKind::host_to_device, st);
  }, s, timing);
  Table many({{"transfer", A::left}, {"time (ms)"}, {"GB/s"}});
  many.add_row({fmt::format("one copy of {}", format_bytes(double(total))), fmt::format("{:.3f}", whole.median * 1e3),
                fmt::format("{:.1f}", double(total) / whole.median * 1e-9)});
  many.add_row({fmt::format("{} copies of {}", total / piece, format_bytes(double(piece))), fmt::format("{:.3f}", pieces.median * 1e3),
                fmt::format("{:.2f}", double(total) / pieces.median * 1e-9)});

  // Overlap: chunks of copy in, compute, copy out, spread over 1 to 4 streams.
  ctx.step("pcie: copy/compute overlap");
  const int chunks = 16;
  const std::int64_t chunk = total / chunks;
  const Timing one_chunk = measure_gpu([&](void* st) { copy_async(device.data(), pinned.data(), chunk, CopyKind::host_to_device, st); },
                                       s, timing);
  const std::int64_t spin = std::int64_t(one_chunk.median * d.sm_clock_max_mhz * 1e6);  // compute ~ one copy
  std::vector<std::unique_ptr<GpuStream>> streams;
  for (int i = 0; i < 4; ++i) streams.push_back(std::make_unique<GpuStream>());
  Table overlap({{"streams"}, {"time (ms)"}, {"speed-up"}});
  Json overlap_json = Json::array();
  double serial = 0;
  for (int n_streams = 1; n_streams <= 4; ++n_streams) {
    const Timing t = measure([&] {
      for (int c = 0; c < chunks; ++c) {
        void* st = streams[c % n_streams]->get();
        char* dev = device.as<char>() + c * chunk;
        char* host = static_cast<char*>(pinned.data()) + c * chunk;
        copy_async(dev, host, chunk, CopyKind::host_to_device, st);
        probes::gpu::launch_spin(spin, 1, st);
        copy_async(host, dev, chunk, CopyKind::device_to_host, st);
      }
      for (int i = 0; i < n_streams; ++i) streams[i]->synchronize();
    }, timing);
    if (n_streams == 1) serial = t.median;
    overlap.add_row({std::to_string(n_streams), fmt::format("{:.3f}", t.median * 1e3), fmt::format("{:.2f}x", serial / t.median)});
    overlap_json.push_back({{"streams", n_streams}, {"median_s", t.median}, {"speedup", serial / t.median}});
  }

  // cudaMemcpy (synchronous) against cudaMemcpyAsync + a stream sync.
  Table sync_table({{"copy", A::left}, {"host memory", A::left}, {"size"}, {"µs"}});
  Json sync_json = Json::array();
  for (HostMemory kind : {HostMemory::pageable, HostMemory::pinned}) {
    HostBuffer host(64 << 20, kind);
    for (std::int64_t bytes : {std::int64_t(4) << 10, std::int64_t(64) << 20}) {
      if (bytes > largest) continue;
      const Timing sync = measure([&] { copy_sync(device.data(), host.data(), bytes, CopyKind::host_to_device); }, timing);
      const Timing async = measure([&] {
        copy_async(device.data(), host.data(), bytes, CopyKind::host_to_device, s);
        stream.synchronize();
      }, timing);
      sync_table.add_row({"cudaMemcpy", host_memory_name(kind), format_bytes(double(bytes)), fmt::format("{:.1f}", sync.median * 1e6)});
      sync_table.add_row({"cudaMemcpyAsync + sync", host_memory_name(kind), format_bytes(double(bytes)),
                          fmt::format("{:.1f}", async.median * 1e6)});
      sync_json.push_back({{"memory", host_memory_name(kind)}, {"bytes", bytes}, {"memcpy_s", sync.median},
                           {"memcpy_async_s", async.median}});
    }
  }

  // Zero-copy: a kernel reads host memory in place, over the link, against copying it over
  // first and reading device memory. Over PCIe the in-place read runs at the link's rate and
  // pays it again on every pass; over NVLink-C2C or on an integrated GPU (one DRAM) it is the
  // way such machines are meant to be used.
  const GpuLink link = gpu_link(d);
  const std::int64_t zc_bytes = std::min<std::int64_t>(largest, ctx.quick ? 16 << 20 : 256 << 20);
  const int zc_blocks = std::max(1, d.sm_count) * 4;
  DeviceBuffer sink(std::int64_t(zc_blocks) * 256 * 4);
  Table zero_copy({{"how the kernel gets its data", A::left}, {"time (ms)"}, {"GB/s"}});
  Json zero_copy_json = Json::array();
  auto zc_row = [&](const std::string& how, const std::function<void(void*)>& work) {
    ctx.step("pcie: zero-copy, " + how);
    const Timing t = measure_gpu(work, s, timing);
    zero_copy.add_row({how, fmt::format("{:.3f}", t.median * 1e3), fmt::format("{:.1f}", double(zc_bytes) / t.median * 1e-9)});
    zero_copy_json.push_back({{"access", how}, {"bytes", zc_bytes}, {"median_s", t.median},
                              {"gbytes_per_s", double(zc_bytes) / t.median * 1e-9}});
  };
  const std::int64_t zc_floats = zc_bytes / 4;
  zc_row("read device memory", [&](void* st) { probes::gpu::launch_read(device.as<float>(), sink.as<float>(), zc_floats, 1, zc_blocks, st); });
  zc_row("copy pinned memory over, then read it", [&](void* st) {
    copy_async(device.data(), pinned.data(), zc_bytes, CopyKind::host_to_device, st);
    probes::gpu::launch_read(device.as<float>(), sink.as<float>(), zc_floats, 1, zc_blocks, st);
  });
  // With unified addressing, cudaMallocHost memory is mapped into the GPU at the same address.
  zc_row("read pinned host memory in place (zero-copy)", [&](void* st) {
    probes::gpu::launch_read(static_cast<const float*>(pinned.data()), sink.as<float>(), zc_floats, 1, zc_blocks, st);
  });
  std::unique_ptr<HostBuffer> pageable_zc;
  if (d.pageable_memory_access) {
    pageable_zc = std::make_unique<HostBuffer>(zc_bytes, HostMemory::pageable);
    zc_row("read pageable (malloc) memory in place", [&](void* st) {
      probes::gpu::launch_read(static_cast<const float*>(pageable_zc->data()), sink.as<float>(), zc_floats, 1, zc_blocks, st);
    });
  }

  report.say(fmt::format("Link: {}. Each copy is timed with CUDA events; bandwidth is bytes / time in GB/s. "
                         "Textbook (d2l): 1 MB over PCIe 3.0 takes about 80 µs; PCIe gen 3/4/5 x16 carry about "
                         "16/32/63 GB/s per direction.",
                         peaks.pcie_formula));
  if (link != GpuLink::pcie)
    report.say(fmt::format("This GPU is not on PCIe: its host link is {}, so the PCIe figures above are the "
                           "textbook's for comparison, not this machine's.",
                           gpu_link_name(link)));
  report.say("Fitted to t = latency + bytes / bandwidth per host-memory kind and direction (relative least squares "
             "over all sizes). Pageable memory is staged through a pinned bounce buffer by the driver; pinned and "
             "registered memory go straight to the copy engine; write-combined memory is fast to write from the "
             "CPU and slow to read.");
  report.table(std::move(fit_table));
  report.chart("pcie.png", "CPU-GPU copies: bandwidth against size per host-memory kind, one copy against many, overlap");
  report.say("The same bytes as one transfer or as many small ones: each copy pays the latency above.");
  report.table(std::move(many));
  report.say(fmt::format("Copy in, compute, copy out, in {} chunks; with more streams one chunk's copies overlap "
                         "another's compute (the GPU has separate copy engines for each direction).",
                         chunks));
  report.table(std::move(overlap));
  report.table(std::move(sync_table));
  report.say(fmt::format("Zero-copy, {}: a kernel reading host memory where it lies, against copying it over "
                         "first. {}",
                         format_bytes(double(zc_bytes)),
                         d.pageable_memory_access
                             ? "This GPU can also read pageable (malloc'd) memory in place."
                             : "This GPU cannot read pageable memory in place (pageableMemoryAccess = 0: PCIe "
                               "without HMM), only pinned memory."));
  report.table(std::move(zero_copy));
  report.json = Json{{"link", {{"kind", gpu_link_name(link)}, {"gen", d.pcie_gen}, {"width", d.pcie_width},
                               {"gbytes_per_s", peaks.pcie_gbytes_per_s}, {"formula", peaks.pcie_formula},
                               {"pageable_memory_access", d.pageable_memory_access}}},
                     {"zero_copy", zero_copy_json},
                     {"points", points},
                     {"fits", fits},
                     {"one_vs_many", {{"total_bytes", total}, {"piece_bytes", piece}, {"one_s", whole.median},
                                      {"many_s", pieces.median}}},
                     {"overlap", overlap_json},
                     {"memcpy_vs_async", sync_json},
                     {"textbook", {{"one_mb_pcie3_us", 80}, {"gen3_x16", 16}, {"gen4_x16", 32}, {"gen5_x16", 63}}}};
  return report;
}

}  // namespace flopslab::bench
