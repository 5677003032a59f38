// Running the GEMM sweep: variants x shapes x threads, checked and timed against the peers.
#include "bench/sweeps/gemm_sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "bench/probes/last_level.h"
#include "harness/files.h"
#include "harness/format.h"
#include "kernels/cpu/gemm/packed.h"

namespace flopslab::bench {
namespace {


bool same_shape(gemm::Shape a, gemm::Shape b) { return a.m == b.m && a.n == b.n && a.k == b.k; }

}  // namespace

double GemmRow::gflops() const {
  if (!timing || timing->median <= 0) return kNaN;
  return variant->flops(shape) / timing->median * 1e-9;
}

const GemmRow* GemmSweep::find(std::string_view variant, gemm::Shape shape, int threads) const {
  for (const GemmRow& r : rows)
    if (r.variant->name == variant && same_shape(r.shape, shape) && r.threads == threads) return &r;
  return nullptr;
}

double GemmSweep::peak_gflops(int threads) const {
  for (const PeakMeasurement& p : peaks)
    if (p.threads == threads) return p.gflops();
  return kNaN;
}

double GemmSweep::peak_for(const GemmRow& row) const {
  return row.variant->device == Device::cuda ? gpu_peak_gflops : peak_gflops(row.threads);
}

double GemmSweep::best_peer_gflops(const GemmRow& row) const {
  double best = kNaN;
  for (const GemmRow& r : rows)
    if (r.variant->role == Role::peer && r.variant->device == row.variant->device && r.threads == row.threads &&
        r.variant->input_roundoff == row.variant->input_roundoff &&  // a peer of the same precision
        same_shape(r.shape, row.shape) && r.timing && r.passed() && !(r.gflops() <= best))
      best = r.gflops();
  return best;
}

double GemmSweep::naive_gflops(const GemmRow& row) const {
  for (const GemmRow& r : rows)
    if (r.variant->device == row.variant->device && r.variant->role == Role::ladder && r.variant->step == 1 &&
        r.threads == 1 && same_shape(r.shape, row.shape) && r.timing)
      return r.gflops();
  return kNaN;
}

bool GemmSweep::all_checks_passed() const {
  return std::all_of(rows.begin(), rows.end(), [](const GemmRow& r) { return !r.skipped.empty() || r.passed(); });
}

GemmSweepOptions default_gemm_sweep(int physical_cores, bool quick) {
  GemmSweepOptions o;
  const std::vector<std::int64_t> sizes = quick ? std::vector<std::int64_t>{64, 127}
                                                : std::vector<std::int64_t>{256, 512, 1024, 2048};
  for (std::int64_t s : sizes) o.shapes.push_back({s, s, s});
  o.threads = {1};
  if (physical_cores > 1) o.threads.push_back(physical_cores);
  for (const GemmVariant* v : gemm_variants())
    if (v->device == Device::cpu) o.variants.push_back(v);
  if (quick) {
    o.timing = quick_timing();
    o.max_call_seconds = 0.5;
    o.interleave_rounds = 1;
  } else {
    o.max_call_seconds = 1.5;
  }
  return o;
}

std::string gemm_sweep_problem(const GemmSweepOptions& o) {
  if (o.shapes.empty()) return "no sizes to run";
  if (o.threads.empty()) return "no thread counts to run";
  if (o.variants.empty()) return "no variants to run";
  const std::int64_t available = available_memory_bytes();
  for (const gemm::Shape& s : o.shapes) {
    // A, B, C plus the checker's float64 rows: about the matrices' size again at most.
    const double need = gemm::compulsory_bytes(s) * 1.1 + 64.0 * (s.n + s.k);
    if (available > 0 && need > 0.9 * double(available))
      return fmt::format("size {} needs {} for A, B and C but only {} of memory is available; "
                         "choose smaller --sizes",
                         format_shape(s), format_bytes(need), format_bytes(double(available)));
  }
  return {};
}

GemmSweep run_gemm_sweep(const GemmSweepOptions& o) {
  GemmSweep sweep;
  sweep.variants = o.variants;
  if (o.progress && gemm::packed::last_level_implausible(gemm::packed::cache_geometries()))
    o.progress("gemm: measuring the last cache level (the OS reports one no CPU has)");
  sweep.cache_note = size_gemm_blocks_from_measured_caches();
  const probes::FmaLoop& peak_loop = probes::widest_fma_loop(probes::Precision::fp32);
  if (peak_loop.supported())
    for (int t : o.threads) {
      if (o.progress) o.progress(fmt::format("peak: {} on {} thread(s)", probes::loop_label(peak_loop), t));
      sweep.peaks.push_back(measure_fma_peak(peak_loop, t, o.timing));
    }

  // Smallest problems first, so every variant's rate is known before the big ones.
  std::vector<gemm::Shape> shapes = o.shapes;
  std::stable_sort(shapes.begin(), shapes.end(),
                   [](gemm::Shape a, gemm::Shape b) { return gemm::flop_count(a) < gemm::flop_count(b); });

  int total = 0, done = 0;
  for (int t : o.threads)
    for (const GemmVariant* v : o.variants) total += (t == 1 || v->multithreaded) ? 1 : 0;
  total *= static_cast<int>(shapes.size());

  std::map<std::pair<std::string_view, int>, double> last_rate;  // GFLOP/s by (variant, threads)
  for (const gemm::Shape& shape : shapes) {
    GemmProblem problem(shape, o.seed);
    const gemm::Operands op = problem.operands();
    for (int t : o.threads) {
      const RunContext ctx{.threads = t};
      // First every variant once: the checked call (which also warms up), or the reason to skip.
      struct Pending {
        std::size_t row;
        const GemmVariant* variant;
        double first_call;
      };
      std::vector<Pending> pending;
      for (const GemmVariant* v : o.variants) {
        if (t != 1 && !v->multithreaded) continue;  // one-thread rungs appear once per shape
        GemmRow row{.variant = v, .shape = shape, .threads = t};
        ++done;
        if (!v->available()) {
          row.skipped = v->unavailable();
          sweep.rows.push_back(row);
          continue;
        }
        if (auto it = last_rate.find({v->name, t}); it != last_rate.end()) {
          const double estimate = v->flops(shape) * 1e-9 / it->second;
          if (estimate > o.max_call_seconds) {
            row.skipped = fmt::format("one call would take about {:.1f} s (limit {:.1f} s)", estimate, o.max_call_seconds);
            sweep.rows.push_back(row);
            continue;
          }
        }
        if (o.progress)
          o.progress(fmt::format("gemm {}/{}: {} {} on {} thread(s)", done, total, v->name, format_shape(shape), t));
        problem.poison_c();
        const auto started = std::chrono::steady_clock::now();
        v->run(op, ctx);
        const double first_call = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        row.check = check_gemm(op, std::int64_t(1) << 27, 7, v->input_roundoff);
        pending.push_back({sweep.rows.size(), v, first_call});
        sweep.rows.push_back(row);
      }
      // Then the timing, in interleaved rounds (see measure_interleaved).
      std::vector<ComparedWork> works;
      for (const Pending& p : pending) works.push_back({[&, v = p.variant] { v->run(op, ctx); }, p.first_call});
      const std::vector<Timing> timings = measure_interleaved(works, o.timing, o.interleave_rounds);
      for (std::size_t i = 0; i < pending.size(); ++i) {
        GemmRow& row = sweep.rows[pending[i].row];
        row.timing = timings[i];
        last_rate[{row.variant->name, t}] = row.gflops();
        // The counters follow this thread only: one-thread CPU rows (OpenMP's workers and the
        // libraries' pools would go uncounted).
        if (t == 1 && row.variant->device == Device::cpu && row.timing->median < 0.5)
          row.counted = Counters::instance().count([&, v = row.variant] { v->run(op, ctx); });
      }
    }
  }
  sweep.counters = Counters::instance().available() ? "perf_event" : Counters::instance().reason();
  // Measure the ceiling again now that the machine is warm; keep the better of the two.
  for (PeakMeasurement& p : sweep.peaks) {
    if (o.progress) o.progress(fmt::format("peak again: {} on {} thread(s)", probes::loop_label(*p.loop), p.threads));
    PeakMeasurement again = measure_fma_peak(*p.loop, p.threads, o.timing);
    if (again.gflops() > p.gflops()) p = std::move(again);
  }
  return sweep;
}

Table gemm_sweep_table(const GemmSweep& sweep) {
  using A = Table::Align;
  Table table({{"variant", A::left},
               {"step"},
               {"size"},
               {"threads"},
               {"GFLOP/s"},
               {"spread"},
               {"% peak"},
               {"vs best peer"},
               {"vs naive"},
               {"check", A::left}});
  for (const GemmRow& r : sweep.rows) {
    const std::string step = r.variant->role == Role::ladder ? std::to_string(r.variant->step) : role_name(r.variant->role);
    if (!r.skipped.empty()) {
      table.add_row({std::string(r.variant->name), step, format_shape(r.shape), std::to_string(r.threads),
                     "-", "-", "-", "-", "-", "skipped: " + r.skipped});
      continue;
    }
    const double g = r.gflops();
    table.add_row({std::string(r.variant->name), step, format_shape(r.shape), std::to_string(r.threads),
                   format_rate(g), fmt::format("±{:.1f}%", 100 * r.timing->spread() / 2),
                   format_percent(g / sweep.peak_for(r)), format_ratio(g / sweep.best_peer_gflops(r)),
                   format_ratio(g / sweep.naive_gflops(r)),
                   r.passed() ? "ok" : !r.check.passed() ? r.check.summary() : r.vs_library->summary()});
  }
  return table;
}

std::vector<std::string> gemm_sweep_headlines(const GemmSweep& sweep) {
  std::vector<std::string> lines;
  if (sweep.rows.empty()) return lines;
  if (!sweep.cache_note.empty()) lines.push_back(sweep.cache_note);
  gemm::Shape largest = sweep.rows.front().shape;
  std::vector<int> threads;
  for (const GemmRow& r : sweep.rows) {
    if (gemm::flop_count(r.shape) > gemm::flop_count(largest)) largest = r.shape;
    if (std::find(threads.begin(), threads.end(), r.threads) == threads.end()) threads.push_back(r.threads);
  }
  // One line per thread count and precision: float32 rungs against float32 peers, 16-bit-input
  // rungs against peers of the same inputs (and against the best float32 rung).
  std::vector<double> roundoffs;
  for (const GemmRow& r : sweep.rows)
    if (std::find(roundoffs.begin(), roundoffs.end(), r.variant->input_roundoff) == roundoffs.end())
      roundoffs.push_back(r.variant->input_roundoff);
  std::sort(roundoffs.begin(), roundoffs.end());
  for (int t : threads) {
    const GemmRow* best_fp32 = nullptr;
    for (double u : roundoffs) {
      const GemmRow* best = nullptr;
      for (const GemmRow& r : sweep.rows)
        if (r.variant->role == Role::ladder && r.variant->input_roundoff == u && r.threads == t &&
            same_shape(r.shape, largest) && r.timing && r.passed() && (best == nullptr || r.gflops() > best->gflops()))
          best = &r;
      if (best == nullptr) continue;
      if (u == 0) best_fp32 = best;
      // A 16-bit rung's instructions do 2 (vdpbf16ps) to 512 (AMX) times an FMA's multiply-adds:
      // its rate is given as a multiple of the float32 peak, not a percentage of it.
      const double of_peak = best->gflops() / sweep.peak_for(*best);
      std::string line = fmt::format("{} on {} thread{}: best {}rung {} at {} GFLOP/s, {}", format_shape(largest), t,
                                     t == 1 ? "" : "s", u == 0 ? "" : "16-bit-input ", best->variant->name,
                                     format_rate(best->gflops()),
                                     u == 0 ? format_percent(of_peak) + " of the measured FMA peak"
                                            : format_ratio(of_peak) + " the measured float32 FMA peak");
      if (u > 0 && best_fp32 != nullptr)
        line += fmt::format(", {} the float32 rung {}", format_ratio(best->gflops() / best_fp32->gflops()),
                            best_fp32->variant->name);
      for (const GemmRow& r : sweep.rows)
        if (r.variant->role != Role::ladder && r.variant->input_roundoff == u && r.threads == t &&
            same_shape(r.shape, largest) && r.timing)
          line += fmt::format(", {} of {}{} ({} GFLOP/s)", format_percent(best->gflops() / r.gflops()),
                              r.variant->name, r.variant->role == Role::context ? " (context)" : "",
                              format_rate(r.gflops()));
      lines.push_back(line + ".");
    }
  }
  return lines;
}

Json gemm_sweep_json(const GemmSweep& sweep) {
  auto finite_or_null = [](double x) { return std::isfinite(x) ? Json(x) : Json(nullptr); };
  Json peaks = Json::array();
  for (const PeakMeasurement& p : sweep.peaks)
    peaks.push_back({{"loop", p.loop->name}, {"isa", p.loop->isa}, {"precision", probes::precision_name(p.loop->precision)},
                     {"operation", probes::operation_name(*p.loop)}, {"threads", p.threads},
                     {"gflops", p.gflops()}, {"min_s", p.timing.min}, {"median_s", p.timing.median},
                     {"spread", p.timing.spread()}});
  Json rows = Json::array();
  for (const GemmRow& r : sweep.rows) {
    Json row{{"variant", r.variant->name},
             {"detail", r.variant->detail != nullptr && r.variant->available() ? r.variant->detail() : ""},
             {"step", r.variant->step},
             {"role", role_name(r.variant->role)},
             {"device", device_name(r.variant->device)},
             {"m", r.shape.m},
             {"n", r.shape.n},
             {"k", r.shape.k},
             {"threads", r.threads},
             {"flops", r.variant->flops(r.shape)},
             {"bytes", r.variant->bytes(r.shape)}};
    if (!r.skipped.empty()) {
      row["skipped"] = r.skipped;
    } else {
      const Timing& t = *r.timing;
      const double g = r.gflops();
      add_timing_fields(row, t);
      row["gflops"] = g;
      row["gbytes_per_s"] = r.variant->bytes(r.shape) / t.median * 1e-9;
      row["fraction_of_peak"] = finite_or_null(g / sweep.peak_for(r));
      row["vs_best_peer"] = finite_or_null(g / sweep.best_peer_gflops(r));
      row["vs_naive"] = finite_or_null(g / sweep.naive_gflops(r));
      if (r.vs_library)
        row["vs_cublas"] = {{"passed", r.vs_library->passed()}, {"compared", r.vs_library->compared},
                            {"over", r.vs_library->over},       {"non_finite", r.vs_library->non_finite},
                            {"atol", r.vs_library->atol},       {"rtol", r.vs_library->rtol},
                            {"max_abs_diff", r.vs_library->max_abs_diff}};
      row["check"] = check_json(r.check);
      if (r.counted) {
        if (r.variant->device == Device::cpu) row["llc_misses"] = r.counted->llc_misses;
        row["measured_dram_bytes"] = r.counted->dram_bytes;
      }
    }
    rows.push_back(row);
  }
  return Json{{"peaks", peaks}, {"gpu_peak_gflops", finite_or_null(sweep.gpu_peak_gflops)}, {"rows", rows},
              {"counters", sweep.counters}, {"last_level", sweep.cache_note}};
}

}  // namespace flopslab::bench
