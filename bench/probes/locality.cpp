// Probe "locality": the same work in a friendly and a hostile order. Row-major against
// column-major traversal of a matrix larger than the last-level cache; a stride sweep (the
// cost per element touched as the stride grows past a cache line); a naive against a
// cache-blocked transpose; and the memory mountain (working set x stride).
#include <algorithm>
#include <cmath>
#include <vector>

#include <fmt/format.h>

#include "harness/affinity.h"
#include "harness/counters.h"
#include "harness/files.h"
#include "harness/memory.h"
#include "bench/probes/probe.h"
#include "kernels/cpu/probes/locality.h"
#include "kernels/cpu/probes/stream.h"
#include "harness/format.h"

namespace flopslab::bench {

ProbeReport run_locality_probe(const ProbeContext& ctx) {
  ProbeReport report("locality", "Locality (lesson 03)");
  pin_team(1);
  std::int64_t llc = 0;
  for (int level = 1; level <= 4; ++level) llc = std::max(llc, cache_bytes(ctx.machine, level));
  // A matrix at least twice the last-level cache, so neither order can hide in it.
  // (At most 4096 x 4096, 128 MiB: beyond that the column walk alone takes seconds per pass.)
  std::int64_t n = ctx.quick ? 1024 : 2048;
  while (!ctx.quick && n * n * 8 < 2 * llc && n < 4096) n *= 2;
  while (n * n * 8 > ctx.max_bytes / 2 && n > 256) n /= 2;
  const double matrix_bytes = double(n) * double(n) * 8;
  ctx.step(fmt::format("locality: {0} x {0} matrix ({1})", n, format_bytes(matrix_bytes)));
  HugeBuffer matrix_buffer(n * n * 8);
  double* matrix = reinterpret_cast<double*>(matrix_buffer.data());
  for (std::int64_t i = 0; i < n * n; ++i) matrix[i] = double(i % 7);

  TimingOptions timing = ctx.timing;
  timing.max_time_s = std::min(timing.max_time_s, ctx.quick ? 0.2 : 2.0);
  Counters& counters = Counters::instance();
  double sink = 0;
  using A = Table::Align;
  Table traversal({{"order", A::left}, {"time"}, {"ns per element"}, {"GB/s"}, {"L1 misses per element"},
                   {"slowdown"}});
  Json traversal_json = Json::array();
  double row_time = 0;
  for (const bool by_rows : {true, false}) {
    ctx.step(fmt::format("locality: {} traversal", by_rows ? "row-major" : "column-major"));
    auto run = [&] { sink += by_rows ? probes::sum_row_major(matrix, n, n) : probes::sum_column_major(matrix, n, n); };
    const Timing t = measure(run, timing);
    const auto c = counters.count(run);
    if (by_rows) row_time = t.median;
    const double elements = double(n) * double(n);
    traversal.add_row({by_rows ? "row by row (consecutive addresses)" : fmt::format("column by column ({} B jumps)", n * 8),
                       fmt::format("{:.1f} ms", t.median * 1e3), fmt::format("{:.2f}", t.median / elements * 1e9),
                       fmt::format("{:.1f}", matrix_bytes / t.median * 1e-9),
                       c ? fmt::format("{:.3f}", c->l1d_misses / elements) : "-",
                       fmt::format("{:.1f}x", t.median / row_time)});
    traversal_json.push_back({{"order", by_rows ? "row" : "column"}, {"median_s", t.median}, {"spread", t.spread()},
                              {"ns_per_element", t.median / elements * 1e9}, {"slowdown", t.median / row_time},
                              {"l1d_misses_per_element", c ? Json(c->l1d_misses / elements) : Json(nullptr)}});
  }

  // Stride sweep: the same number of elements touched, farther and farther apart.
  const std::int64_t touched = ctx.quick ? (1 << 16) : (1 << 20);
  Table strides({{"stride", A::left}, {"bytes apart"}, {"ns per element"}, {"vs stride 1"}});
  Json stride_json = Json::array();
  double stride1 = 0;
  for (std::int64_t stride : {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024}) {
    const std::int64_t span = std::min(n * n, touched * stride);
    if (span / stride < touched / 64) break;  // too few elements left at this stride
    const Timing t = measure([&] { sink += probes::strided_sum(matrix, span, stride); }, timing);
    const double per_element = t.median / double((span + stride - 1) / stride) * 1e9;
    if (stride == 1) stride1 = per_element;
    strides.add_row({std::to_string(stride), format_bytes(double(stride) * 8), fmt::format("{:.2f}", per_element),
                     fmt::format("{:.1f}x", per_element / stride1)});
    stride_json.push_back({{"stride", stride}, {"bytes_apart", stride * 8}, {"ns_per_element", per_element}});
  }

  // Transpose, naive against blocked.
  const std::int64_t tn = ctx.quick ? 1024 : std::min<std::int64_t>(n, 4096);
  std::vector<float> in(static_cast<std::size_t>(tn * tn)), out(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = float(i % 1000);
  Table transpose({{"transpose", A::left}, {"time"}, {"GB/s (read + write)"}, {"speed-up"}});
  Json transpose_json = Json::array();
  double naive_time = 0;
  for (const std::int64_t block : {std::int64_t(0), std::int64_t(8), std::int64_t(32), std::int64_t(128)}) {
    ctx.step(fmt::format("locality: transpose {}", block == 0 ? "naive" : fmt::format("blocked {}", block)));
    auto run = [&] {
      if (block == 0)
        probes::transpose_naive(in.data(), out.data(), tn);
      else
        probes::transpose_blocked(in.data(), out.data(), tn, block);
    };
    const Timing t = measure(run, timing);
    bool correct = true;  // out must be in^T
    for (std::int64_t i = 0; i < tn && correct; i += 97)
      for (std::int64_t j = 0; j < tn && correct; j += 89) correct = out[j * tn + i] == in[i * tn + j];
    if (!correct) throw std::runtime_error("transpose gave a wrong result");
    if (block == 0) naive_time = t.median;
    const std::string name = block == 0 ? "naive (rows in, columns out)" : fmt::format("blocked {0} x {0}", block);
    transpose.add_row({name, fmt::format("{:.1f} ms", t.median * 1e3),
                       fmt::format("{:.1f}", 8.0 * double(tn * tn) / t.median * 1e-9),
                       fmt::format("{:.1f}x", naive_time / t.median)});
    transpose_json.push_back({{"block", block}, {"n", tn}, {"median_s", t.median}, {"speedup", naive_time / t.median}});
  }
  // The memory mountain: read bandwidth of the strided sum over the first `set` bytes of the
  // matrix, for working sets from 16 KiB up and strides of 1 to 16 doubles.
  const std::vector<int> mountain_strides = ctx.quick ? std::vector<int>{1, 2, 4, 8} : std::vector<int>{1, 2, 3, 4, 6, 8, 12, 16};
  const double mountain_top = std::min(matrix_bytes, ctx.quick ? 8.0 * (1 << 20) : 256.0 * (1 << 20));
  TimingOptions short_timing = timing;
  short_timing.min_time_s = std::min(timing.min_time_s, 0.02);
  short_timing.max_time_s = std::min(timing.max_time_s, 0.05);
  Json mountain = Json::array();
  for (double set = 16 << 10; set <= mountain_top; set *= 2) {
    ctx.step(fmt::format("locality: memory mountain at {}", format_bytes(set)));
    const std::int64_t elements = std::int64_t(set / 8);
    for (int stride : mountain_strides) {
      const Timing t = measure([&] { sink += probes::strided_sum(matrix, elements, stride); }, short_timing);
      const double useful = double((elements + stride - 1) / stride) * 8;
      mountain.push_back({{"bytes", set}, {"stride", stride}, {"gbytes_per_s", useful / t.median * 1e-9}});
    }
  }
  volatile double keep = sink;
  (void)keep;

  report.say(fmt::format(
      "Summing a {0} x {0} matrix of doubles ({1}, more than the last-level cache) in the order it is stored, then "
      "down its columns. Same additions, same data; only the order of addresses differs.",
      n, format_bytes(matrix_bytes)));
  report.table(std::move(traversal));
  report.say(fmt::format("Stride sweep: up to {} elements read at increasing distance (fewer at the widest strides, "
                         "where the matrix runs out). Below 8 doubles apart a cache line serves several reads; from 8 "
                         "on, each read is a new line.",
                         touched));
  report.table(std::move(strides));
  report.say(fmt::format("Transposing a {0} x {0} float matrix: the naive loop writes down columns; the blocked "
                         "one moves a tile at a time, so the lines it writes are reused before they are evicted.",
                         tn));
  report.table(std::move(transpose));
  report.say("The memory mountain (Bryant and O'Hallaron's name): read bandwidth of useful bytes for every working "
             "set (temporal locality: does it fit a cache?) and stride (spatial locality: how much of each fetched "
             "line is used?). The ridges are the cache levels; the slopes are lost spatial locality.");
  report.chart("mountain.png", "Memory mountain: read bandwidth against working set and stride");
  report.json = Json{{"matrix_n", n}, {"traversal", traversal_json}, {"strides", stride_json},
                     {"transpose", transpose_json}, {"mountain", mountain}};
  return report;
}

}  // namespace flopslab::bench
