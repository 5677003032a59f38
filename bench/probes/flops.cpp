// Probe "flops": FMA throughput for every ISA width and precision, on one core, one thread
// per core, and every hardware thread, next to the theoretical peak (with its formula) and to
// likwid-bench's peakflops kernels measured in the same run.
#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/machine/cpu_peak.h"
#include "harness/cpu_share.h"
#include "harness/machine/likwid.h"
#include "bench/probes/probe.h"
#include "kernels/cpu/cpu_features.h"
#include "kernels/cpu/probes/fma_chains.h"

namespace flopslab::bench {
namespace {

// likwid-bench's kernel for the same ISA, precision and operation: its FMA kernels are 256-
// and 512-bit only; its scalar, SSE and AVX kernels use separate multiplies and adds, the
// experiment of our mul+add loops on a CPU without FMA.
const char* likwid_test(const probes::FmaLoop& loop) {
  if (loop.precision == probes::Precision::bf16) return nullptr;  // likwid-bench has no bf16 kernel
  const bool sp = loop.precision == probes::Precision::fp32;
  if (!loop.fused) {
    if (loop.vector_bits == 256) return sp ? "peakflops_sp_avx" : "peakflops_avx";
    if (loop.vector_bits == 128) return sp ? "peakflops_sp_sse" : "peakflops_sse";
    return sp ? "peakflops_sp" : "peakflops";
  }
  if (loop.vector_bits == 256) return sp ? "peakflops_sp_avx_fma" : "peakflops_avx_fma";
  if (loop.vector_bits == 512) return sp ? "peakflops_sp_avx512_fma" : "peakflops_avx512_fma";
  return nullptr;
}

// The x86 loops on an ARM CPU and the reverse: not "unsupported by this CPU", just not for it.
bool of_other_architecture(const probes::FmaLoop& loop) {
  const std::string isa = loop.isa;
#if defined(__aarch64__)
  return isa.rfind("sse", 0) == 0 || isa.rfind("avx", 0) == 0;
#else
  return isa.rfind("neon", 0) == 0 || isa.rfind("sve", 0) == 0;
#endif
}

// "twice", "four times", "32 times": how many multiply-adds per lane against an FMA's one.
std::string times_word(int products) {
  return products == 2 ? "twice" : products == 4 ? "four times" : fmt::format("{} times", products);
}

// The instruction a bf16 loop chains, from how many products each lane adds.
const char* bf16_instruction(const probes::FmaLoop& loop) {
#if defined(__aarch64__)
  return loop.products_per_lane == 4 ? "BFMMLA" : "BFDOT";
#else
  return loop.products_per_lane == 32 ? "TDPBF16PS" : "vdpbf16ps";
#endif
}

struct Row {
  const probes::FmaLoop* loop;
  int threads;
  PeakMeasurement m;
  CpuShare share;  // what of the CPUs the process had while it ran
};

}  // namespace

ProbeReport run_flops_probe(const ProbeContext& ctx) {
  ProbeReport report("flops", "Peak FLOPS (lesson 01)");
  const MachineInfo& machine = ctx.machine;
  std::vector<int> thread_counts{1};
  if (ctx.cores > 1) thread_counts.push_back(ctx.cores);
  if (machine.logical_cpus > ctx.cores) thread_counts.push_back(machine.logical_cpus);

  std::vector<Row> rows;
  std::vector<std::string> unsupported;
  for (const probes::FmaLoop& loop : probes::fma_loops())  // names neither twin of which runs here
    if (!probes::find_fma_loop(loop.name)->supported() && !of_other_architecture(loop) &&
        std::find(unsupported.begin(), unsupported.end(), loop.name) == unsupported.end())
      unsupported.push_back(loop.name);
  // Every loop in turn, three times over, keeping each one's fastest round: the lessons divide
  // these figures by each other (FP64 over FP32, SIMD over scalar), and a moment when the host
  // holds our vCPU would otherwise land on one loop only.
  constexpr int kRounds = 3;
  for (int round = 0; round < kRounds; ++round) {
    std::size_t index = 0;
    for (const probes::FmaLoop& loop : probes::fma_loops()) {
      if (!loop.supported()) continue;
      for (int t : thread_counts) {
        ctx.step(fmt::format("flops: {} on {} thread{} (round {} of {})", loop.name, t, t == 1 ? "" : "s", round + 1,
                             kRounds));
        const CpuShareMeter meter;
        PeakMeasurement m = measure_fma_peak(loop, t, t > 1 ? share_timing(ctx.timing) : ctx.timing);
        Row row{&loop, t, std::move(m), meter.stop()};
        if (round == 0)
          rows.push_back(std::move(row));
        else if (row.m.gflops() > rows[index].m.gflops())
          rows[index] = std::move(row);
        ++index;
      }
    }
  }

  // FMA pipes: from the table, or inferred from the one-core loop of the same width and
  // operation. Multiply+add pipe pairs are assumed 1 (every core without FMA has one of each).
  const FmaPipes table_pipes = fma_pipes(machine);
  // A figure the measurement contradicts (a loop at 1.4x or more of the peak it allows: the
  // reported model is not the real core, or a core with FMA pairs more multiplies and adds)
  // gives way to the measured pipes.
  std::vector<std::string> contradicted, more_pairs;
  auto pipes_of = [&](const probes::FmaLoop& loop) {
    int inferred = 0;
    for (const Row& r : rows)
      if (r.threads == 1 && r.loop->vector_bits == loop.vector_bits && r.loop->fused == loop.fused &&
          r.loop->products_per_lane == loop.products_per_lane)
        inferred = infer_pipes(r.m.gflops(), ctx.clock.ghz_one_core, *r.loop);
    // The tables list FMA pipes; which of them also run bf16 dot products differs by core, so
    // those come from the measurement.
    if ((!table_pipes.from_table && loop.fused) || loop.precision == probes::Precision::bf16)
      return std::max(inferred, 1);
    const int listed = pipes_for(table_pipes, loop);
    if (inferred >= 2 * listed && listed > 0) {
      std::vector<std::string>& notes = loop.fused ? contradicted : more_pairs;
      const std::string note =
          loop.fused ? fmt::format("{}-bit: the table's {} pipe{} for {}, measured {}", loop.vector_bits, listed,
                                   listed == 1 ? "" : "s", table_pipes.microarchitecture, inferred)
                     : fmt::format("{}-bit: measured {}", loop.vector_bits, inferred);
      if (std::find(notes.begin(), notes.end(), note) == notes.end()) notes.push_back(note);
      return inferred;
    }
    return listed;
  };

  using A = Table::Align;
  Table table({{"loop", A::left}, {"threads"}, {"GFLOP/s"}, {"best"}, {"theoretical"}, {"% of theoretical"},
               {"likwid-bench"}, {"vs likwid"}});
  Json points = Json::array();
  std::vector<std::string> left_out;  // likwid-bench runs that did not use the threads asked for
  for (const Row& r : rows) {
    const int cores_used = std::min(r.threads, ctx.cores);  // SMT siblings share their core's pipes
    const double ghz = r.threads == 1 ? ctx.clock.ghz_one_core : ctx.clock.ghz_all_cores;
    const TheoreticalPeak theory = theoretical_peak(*r.loop, cores_used, ghz, pipes_of(*r.loop));
    const double median = r.m.flops_per_call / r.m.timing.median * 1e-9;
    LikwidResult peer;
    if (const char* test = likwid_test(*r.loop); ctx.peers && test != nullptr && r.threads <= ctx.cores) {
      ctx.step(fmt::format("flops: likwid-bench {} on {} thread{}", test, r.threads, r.threads == 1 ? "" : "s"));
      peer = run_likwid(test, fmt::format("N:{}kB:{}", 32 * r.threads, r.threads), r.threads);
      if (!peer.ran && peer.reason.rfind("likwid-bench ran", 0) == 0)
        left_out.push_back(fmt::format("{} on {} thread(s): {}", r.loop->name, r.threads, peer.reason));
    }
    table.add_row({r.loop->fused ? std::string(r.loop->name) : std::string(r.loop->name) + " (mul+add)",
                   std::to_string(r.threads), fmt::format("{:.1f}", median),
                   fmt::format("{:.1f}", r.m.gflops()), fmt::format("{:.1f}", theory.gflops),
                   fmt::format("{:.1f}%", 100 * r.m.gflops() / theory.gflops),
                   peer.ran ? fmt::format("{:.1f}", peer.gflops) : "-",
                   peer.ran ? fmt::format("{:.3f}x", median / peer.gflops) : "-"});
    points.push_back({{"loop", r.loop->name},
                      {"isa", r.loop->isa},
                      {"operation", probes::operation_name(*r.loop)},
                      {"precision", precision_name(r.loop->precision)},
                      {"lanes", r.loop->lanes},
                      {"accumulators", r.loop->accumulators},
                      {"threads", r.threads},
                      {"flops_per_call", r.m.flops_per_call},
                      {"gflops_median", median},
                      {"gflops_best", r.m.gflops()},
                      {"spread", r.m.timing.spread()},
                      {"theoretical_gflops", theory.gflops},
                      {"theoretical_formula", theory.formula},
                      {"cpu_share", r.share.to_json()},
                      {"likwid", peer.ran ? Json{{"command", peer.command}, {"gflops", peer.gflops}}
                                          : Json{{"command", peer.command}, {"not_run", peer.reason}}}});
  }

  const probes::FmaLoop& widest = probes::widest_fma_loop(probes::Precision::fp32);
  const probes::FmaLoop* avx512 = nullptr;
  for (const probes::FmaLoop& loop : probes::fma_loops())
    if (loop.vector_bits == 512 && loop.precision == probes::Precision::fp32) avx512 = &loop;
  const std::string narrow_pipes = std::to_string(pipes_of(*probes::find_fma_loop("scalar-fp32")));
  const std::string wide_pipes = avx512 != nullptr && avx512->supported() ? std::to_string(pipes_of(*avx512))
                                                                           : std::string("none (no AVX-512)");
  const std::string clock = fmt::format(
      "Clock measured with a dependent add chain (one add per cycle): {:.2f} GHz on one core, {:.2f} GHz per core "
      "with all {} cores busy.",
      ctx.clock.ghz_one_core, ctx.clock.ghz_all_cores, ctx.cores);
  if (widest.fused)
    report.say(fmt::format("{} FMA pipes per core: {} for 256-bit and narrower operations, {} for 512-bit ({}, {}).",
                           clock, narrow_pipes, wide_pipes, table_pipes.microarchitecture,
                           table_pipes.from_table ? "from flopslab's table"
                                                  : "not in flopslab's table: inferred from this measurement"));
  else
    report.say(fmt::format("{} This CPU has no FMA{}: each loop issues a multiply and an add per lane and chain, "
                           "the same 2 FLOP, to a multiply pipe and an add pipe. Pipe pairs per core: {} (1 assumed, "
                           "as on every core without FMA; a measurement above it wins).",
                           clock, cpu_features().fma == uncapped_cpu_features().fma ? "" : " (FLOPSLAB_SIMD hides it)",
                           narrow_pipes));
  report.say(fmt::format("Theoretical FP32 peak, one core: {}.",
                         theoretical_peak(widest, 1, ctx.clock.ghz_one_core, pipes_of(widest)).formula));
  if (ctx.cores > 1)
    report.say(fmt::format("Theoretical FP32 peak, all cores: {}.",
                           theoretical_peak(widest, ctx.cores, ctx.clock.ghz_all_cores, pipes_of(widest)).formula));
  report.say("GFLOP/s is the median call; *best* is the fastest call, the ceiling used for \"% of peak\" elsewhere. "
             "Each loop keeps 12 (24 for AVX-512, NEON and SVE, which have 32 registers) independent multiply-add "
             "chains in registers, enough to cover the FMA latency on every current core. *vs likwid* divides the median by likwid-bench's peakflops kernel "
             "for the same ISA, run right after it.");
  report.table(std::move(table));
  if (!more_pairs.empty())
    report.say(fmt::format("The mul+add loops ran faster than one multiply and one add per cycle ({}): this core "
                           "issues more of them at once (a core with FMA, capped by FLOPSLAB_SIMD, may), so the "
                           "measured pairs are used.",
                           fmt::join(more_pairs, "; ")));
  if (!contradicted.empty())
    report.say(fmt::format("The measurement contradicts flopslab's table of cores ({}): the CPU is not the model it "
                           "reports (a hypervisor may pass on another model number), so the measured pipe count is "
                           "used.",
                           fmt::join(contradicted, "; ")));
  bool any_bf16 = false;
  for (const Row& r : rows)
    if (r.threads == 1 && r.loop->precision == probes::Precision::bf16) {
      report.say(fmt::format("The {} loop chains {} instructions: each fp32 lane adds {} bf16 products, {} FLOP per "
                             "lane, {} an FMA's. Its pipe count is inferred from this measurement ({}), as "
                             "flopslab's table lists FMA pipes only.",
                             r.loop->name, bf16_instruction(*r.loop), r.loop->products_per_lane,
                             2 * r.loop->products_per_lane, times_word(r.loop->products_per_lane), pipes_of(*r.loop)));
      any_bf16 = true;
    }
  if (any_bf16)
    report.say("The fastest bf16 loop is the roofline's bf16 roof, the ceiling of the GEMM ladder's bf16 rung and of "
               "oneDNN's bf16 matmul.");
  if (!unsupported.empty())
    report.say(fmt::format("Not supported by this CPU (skipped): {}.", fmt::join(unsupported, ", ")));
  if (!left_out.empty())
    report.say(fmt::format("No likwid-bench figure where it did not run on the threads flopslab used: {}.",
                           fmt::join(left_out, "; ")));
  if (!ctx.peers)
    report.say("Peers not run (quick mode).");
  else if (!likwid_available())
    report.say(fmt::format("No likwid-bench peer column: {}.", likwid_missing_reason()));

  report.json = Json{{"clock_ghz_one_core", ctx.clock.ghz_one_core},
                     {"clock_ghz_all_cores", ctx.clock.ghz_all_cores},
                     {"cores", ctx.cores},
                     {"fma_pipes", {{"narrow", table_pipes.narrow}, {"wide", table_pipes.wide},
                                    {"microarchitecture", table_pipes.microarchitecture},
                                    {"from_table", table_pipes.from_table}}},
                     {"points", points}};
  return report;
}

}  // namespace flopslab::bench
