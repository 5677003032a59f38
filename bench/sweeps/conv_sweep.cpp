// Running the convolution sweep: variants x layers x passes x threads, checked and timed.
#include "bench/sweeps/conv_sweep.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "harness/check/conv_check.h"
#include "harness/files.h"
#include "bench/sweeps/gemm_sweep.h"
#include "kernels/cpu/conv/channel_shuffle.h"
#include "harness/format.h"

namespace flopslab::bench {
namespace {

conv::Shape layer(std::int64_t n, std::int64_t c, std::int64_t hw, std::int64_t k, std::int64_t r, std::int64_t s,
                  std::int64_t groups = 1, std::int64_t stride = 1) {
  return {.n = n, .c = c, .h = hw, .w = hw, .k = k, .r = r, .s = s, .stride_h = stride, .stride_w = stride,
          .pad_h = r / 2, .pad_w = s / 2, .groups = groups};
}
}  // namespace

std::vector<ConvLayer> default_conv_layers(bool quick) {
  const std::int64_t n = quick ? 2 : 8, c = quick ? 16 : 64, hw = quick ? 14 : 56;
  return {
      {"3x3, C=K=" + std::to_string(c) + ", " + std::to_string(hw) + "x" + std::to_string(hw), layer(n, c, hw, c, 3, 3)},
      {"3x3, C=K=" + std::to_string(2 * c) + ", " + std::to_string(hw / 2) + "x" + std::to_string(hw / 2),
       layer(n, 2 * c, hw / 2, 2 * c, 3, 3)},
      {"1x1, " + std::to_string(4 * c) + "->" + std::to_string(c), layer(n, 4 * c, hw / 2, c, 1, 1)},
      {"7x7, C=K=" + std::to_string(c), layer(n, c, hw / 2, c, 7, 7)},
      {"1x7, C=K=" + std::to_string(c), layer(n, c, hw / 2, c, 1, 7)},
      {"7x1, C=K=" + std::to_string(c), layer(n, c, hw / 2, c, 7, 1)},
      {"3x3 grouped, g=8", layer(n, 2 * c, hw / 2, 2 * c, 3, 3, 8)},
      {"3x3 depthwise", layer(n, 2 * c, hw / 2, 2 * c, 3, 3, 2 * c)},
  };
}

double ConvSweep::gflops(const ConvRow& row) const {
  return row.timing ? conv::flop_count(layers[row.layer].shape) / row.timing->median * 1e-9 : kNaN;
}

double ConvSweep::best_peer_seconds(const ConvRow& row) const {
  double best = kNaN;
  for (const ConvRow& r : rows)
    if (r.timing && r.variant->role == Role::peer && r.layer == row.layer && r.pass == row.pass &&
        r.threads == row.threads && r.variant->device == row.variant->device && r.check.passed())
      best = std::isnan(best) ? r.seconds() : std::min(best, r.seconds());
  return best;
}

const ConvRow* ConvSweep::best_ladder(std::size_t layer, conv::Pass pass, int threads, Device device) const {
  const ConvRow* best = nullptr;
  for (const ConvRow& r : rows)
    if (r.timing && r.variant->role == Role::ladder && r.layer == layer && r.pass == pass && r.threads == threads &&
        r.variant->device == device && r.check.passed() && (best == nullptr || r.seconds() < best->seconds()))
      best = &r;
  return best;
}

bool ConvSweep::all_checks_passed() const {
  return std::all_of(rows.begin(), rows.end(), [](const ConvRow& r) { return !r.timing || r.check.passed(); });
}

const ConvRow* ConvSweep::find(std::string_view variant, std::size_t layer, conv::Pass pass, int threads) const {
  for (const ConvRow& r : rows)
    if (r.timing && r.variant->name == variant && r.layer == layer && r.pass == pass && (threads == 0 || r.threads == threads))
      return &r;
  return nullptr;
}

double ConvSweep::seconds(std::string_view variant, std::size_t layer, conv::Pass pass) const {
  const ConvRow* r = find(variant, layer, pass);
  return r != nullptr ? r->seconds() : kNaN;
}

std::string conv_sweep_problem(const ConvSweepOptions& o) {
  for (const ConvLayer& l : o.layers)
    if (std::string p = conv::shape_problem(l.shape); !p.empty()) return "layer " + l.name + ": " + p;
  double largest = 0;
  for (const ConvLayer& l : o.layers)
    largest = std::max(largest, 4.0 * double(l.shape.x_size() + l.shape.w_size() + l.shape.y_size()) * 3);
  const double available = available_memory_bytes();
  if (available > 0 && largest > 0.8 * available)
    return fmt::format("the largest layer needs about {} with its workspaces; the OS has {} available",
                       format_bytes(largest), format_bytes(available));
  return "";
}

std::string conv_skip_reason(const ConvVariant& v, const conv::Shape& shape, conv::Pass pass, double known_rate,
                             double max_call_seconds) {
  if (const char* why = v.why_not(shape); why != nullptr) return why;
  if (v.pass(pass) == nullptr) return std::string("no ") + conv::pass_name(pass) + " pass";
  if (known_rate > 0 && conv::flop_count(shape) / known_rate > max_call_seconds)
    return fmt::format("one call would take about {:.1f} s (limit {:.1f} s)", conv::flop_count(shape) / known_rate,
                       max_call_seconds);
  return {};
}

ConvSweep run_conv_sweep(const ConvSweepOptions& o) {
  ConvSweep sweep;
  sweep.layers = o.layers;
  int total = 0, done = 0;
  for (int t : o.threads)
    for (const ConvVariant* v : o.variants) total += (t == 1 || v->multithreaded) ? 1 : 0;
  total *= int(o.layers.size() * o.passes.size());
  std::map<std::tuple<std::string_view, conv::Pass, int>, double> last_rate;  // FLOP/s seen so far
  for (std::size_t li = 0; li < o.layers.size(); ++li) {
    const conv::Shape& shape = o.layers[li].shape;
    ConvProblem problem(shape, o.seed + li);
    const conv::Operands op = problem.operands();
    for (conv::Pass pass : o.passes)
      for (int t : o.threads) {
        const RunContext ctx{.threads = t};
        std::vector<ComparedWork> works;
        std::vector<std::size_t> measured;
        for (const ConvVariant* v : o.variants) {
          if (t != 1 && !v->multithreaded) continue;
          ++done;
          ConvRow row{.variant = v, .layer = li, .pass = pass, .threads = t};
          const ConvVariant::Pass run = v->pass(pass);
          const auto known = last_rate.find({v->name, pass, t});
          row.skipped = conv_skip_reason(*v, shape, pass, known == last_rate.end() ? 0 : known->second, o.max_call_seconds);
          if (!row.skipped.empty()) {
            sweep.rows.push_back(row);
            continue;
          }
          if (o.progress)
            o.progress(fmt::format("conv {}/{}: {} {} {} on {} thread(s)", done, total, v->name, o.layers[li].name,
                                   conv::pass_name(pass), t));
          problem.poison(pass);
          const auto started = std::chrono::steady_clock::now();
          run(op, ctx);
          const double first = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
          row.check = check_conv(op, pass, *v);
          works.push_back({[run, op, ctx] { run(op, ctx); }, first});
          measured.push_back(sweep.rows.size());
          sweep.rows.push_back(row);
        }
        const std::vector<Timing> timings = measure_interleaved(works, o.timing, o.interleave_rounds);
        for (std::size_t i = 0; i < measured.size(); ++i) {
          ConvRow& row = sweep.rows[measured[i]];
          row.timing = timings[i];
          last_rate[{row.variant->name, pass, t}] = conv::flop_count(shape) / row.timing->median;
          if (t == 1 && row.variant->device == Device::cpu && row.timing->median < 0.5)
            row.counted = Counters::instance().count(works[i].run);  // this thread's counters only
        }
      }
  }
  sweep.counters = Counters::instance().available() ? "perf_event" : Counters::instance().reason();
  return sweep;
}

Table conv_sweep_table(const ConvSweep& sweep) {
  using A = Table::Align;
  Table table({{"layer", A::left},
               {"pass", A::left},
               {"variant", A::left},
               {"threads"},
               {"ms"},
               {"spread"},
               {"GFLOP/s"},
               {"speed vs best peer"},
               {"check", A::left}});
  for (const ConvRow& r : sweep.rows) {
    const std::string layer = sweep.layers[r.layer].name;
    std::string variant(r.variant->name);
    if (r.variant->ran != nullptr && r.skipped.empty())
      variant += " (" + r.variant->ran(sweep.layers[r.layer].shape, r.pass) + ")";
    if (!r.skipped.empty()) {
      table.add_row({layer, conv::pass_name(r.pass), variant, std::to_string(r.threads), "-", "-", "-", "-",
                     "skipped: " + r.skipped});
      continue;
    }
    const double peer = sweep.best_peer_seconds(r);
    table.add_row({layer, conv::pass_name(r.pass), variant,
                   std::to_string(r.threads), fmt::format("{:.3f}", 1e3 * r.seconds()),
                   fmt::format("±{:.1f}%", 100 * r.timing->spread() / 2), format_rate(sweep.gflops(r)),
                   format_ratio(peer / r.seconds()), r.check.passed() ? "ok" : r.check.summary()});
  }
  return table;
}

std::vector<std::string> conv_sweep_headlines(const ConvSweep& sweep) {
  std::vector<std::string> out;
  for (std::size_t li = 0; li < sweep.layers.size(); ++li)
    for (conv::Pass pass : {conv::Pass::forward, conv::Pass::backward_data, conv::Pass::backward_weights})
      for (Device device : {Device::cpu, Device::cuda}) {
        int threads = 0;
        for (const ConvRow& r : sweep.rows)
          if (r.layer == li && r.pass == pass && r.variant->device == device && r.timing) threads = std::max(threads, r.threads);
        const ConvRow* best = threads > 0 ? sweep.best_ladder(li, pass, threads, device) : nullptr;
        if (best == nullptr) continue;
        const double peer = sweep.best_peer_seconds(*best);
        out.push_back(fmt::format("{} {} on {}{}: best own {} {:.3f} ms ({} GFLOP/s){}", sweep.layers[li].name,
                                  conv::pass_name(pass), device_name(device),
                                  device == Device::cpu ? fmt::format(", {} thread(s)", threads) : "", best->variant->name,
                                  1e3 * best->seconds(), format_rate(sweep.gflops(*best)),
                                  std::isfinite(peer) ? fmt::format(", {} the speed of the best peer", format_ratio(peer / best->seconds()))
                                                      : ""));
      }
  return out;
}

Json conv_layer_json(const ConvLayer& l) {
  const conv::Shape& s = l.shape;
  return {{"name", l.name},         {"n", s.n},           {"c", s.c},
          {"h", s.h},               {"w", s.w},           {"k", s.k},
          {"r", s.r},               {"s", s.s},           {"stride_h", s.stride_h},
          {"stride_w", s.stride_w}, {"pad_h", s.pad_h},   {"pad_w", s.pad_w},
          {"dilation_h", s.dilation_h}, {"dilation_w", s.dilation_w}, {"groups", s.groups},
          {"p", s.p()},             {"q", s.q()},         {"flops", conv::flop_count(s)},
          {"description", conv::describe(s)}};
}

Json conv_sweep_json(const ConvSweep& sweep) {
  Json layers = Json::array(), rows = Json::array();
  for (const ConvLayer& l : sweep.layers) layers.push_back(conv_layer_json(l));
  for (const ConvRow& r : sweep.rows) {
    Json row{{"variant", r.variant->name},
             {"ran", r.variant->ran != nullptr ? r.variant->ran(sweep.layers[r.layer].shape, r.pass) : std::string()},
             {"role", role_name(r.variant->role)},
             {"device", device_name(r.variant->device)},
             {"step", r.variant->step},
             {"layer", r.layer},
             {"layer_name", sweep.layers[r.layer].name},
             {"pass", conv::pass_name(r.pass)},
             {"threads", r.threads}};
    if (!r.skipped.empty()) {
      row["skipped"] = r.skipped;
    } else {
      add_timing_fields(row, *r.timing);
      row["gflops"] = sweep.gflops(r);
      const double peer = sweep.best_peer_seconds(r);
      row["speed_vs_best_peer"] = std::isfinite(peer) ? Json(peer / r.seconds()) : Json(nullptr);
      row["check"] = check_json(r.check);
      if (r.counted) {
        if (r.variant->device == Device::cpu) row["llc_misses"] = r.counted->llc_misses;
        row["measured_dram_bytes"] = r.counted->dram_bytes;
      }
    }
    rows.push_back(row);
  }
  return {{"layers", layers}, {"rows", rows}, {"counters", sweep.counters}};
}

bool is_channel_shuffle(const std::vector<float>& x, const std::vector<float>& y, std::int64_t n, std::int64_t c,
                        std::int64_t plane, std::int64_t groups) {
  const std::int64_t per_group = c / groups;
  for (std::int64_t img = 0; img < n; ++img)
    for (std::int64_t ch = 0; ch < c; ++ch) {
      const std::int64_t source = ch % groups * per_group + ch / groups;
      if (std::memcmp(y.data() + (img * c + ch) * plane, x.data() + (img * c + source) * plane,
                      std::size_t(plane) * sizeof(float)) != 0)
        return false;
    }
  return true;
}

ShuffleMeasurement measure_channel_shuffle(std::int64_t n, std::int64_t c, std::int64_t plane, std::int64_t groups,
                                           int threads, const TimingOptions& timing) {
  ShuffleMeasurement m{.n = n, .c = c, .plane = plane, .groups = groups, .threads = threads};
  const std::size_t count = std::size_t(n * c * plane);
  std::vector<float> x(count), y(count, -1.0f);
  for (std::size_t i = 0; i < count; ++i) x[i] = float(i % 1000003);
  conv::channel_shuffle(x.data(), y.data(), n, c, plane, groups, threads);
  m.correct = is_channel_shuffle(x, y, n, c, plane, groups);
  // The yardstick: the same bytes copied by the same threads in one contiguous piece each.
  auto copy = [&] {
#pragma omp parallel num_threads(threads)
    {
      const std::size_t parts = std::size_t(omp_get_num_threads()), me = std::size_t(omp_get_thread_num());
      const std::size_t begin = count * me / parts, end = count * (me + 1) / parts;
      std::memcpy(y.data() + begin, x.data() + begin, (end - begin) * sizeof(float));
    }
  };
  const std::vector<Timing> t = measure_interleaved(
      {{[&] { conv::channel_shuffle(x.data(), y.data(), n, c, plane, groups, threads); }, 0}, {copy, 0}}, timing, 3);
  m.shuffle = t[0];
  m.copy = t[1];
  return m;
}

Json shuffle_json(const ShuffleMeasurement& m) {
  Json shuffle, copy;
  add_timing_fields(shuffle, m.shuffle);
  add_timing_fields(copy, m.copy);
  return {{"n", m.n},           {"c", m.c},
          {"plane", m.plane},   {"groups", m.groups},
          {"threads", m.threads}, {"bytes", m.bytes()},
          {"correct", m.correct}, {"shuffle_gbytes_per_s", m.shuffle_gbps()},
          {"copy_gbytes_per_s", m.copy_gbps()}, {"shuffle", shuffle},
          {"copy", copy}};
}

}  // namespace flopslab::bench
