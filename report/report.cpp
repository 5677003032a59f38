#include "report/report.h"
#include "bench/training/training_bench.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "harness/build_info.h"
#include "harness/counters.h"
#include "harness/machine/cpu_model.h"
#include "harness/files.h"
#include "report/html_report.h"
#include "bench/sweeps/conv_sweep.h"
#include "bench/sweeps/gemm_sweep.h"
#include "bench/sweeps/gpu_conv.h"
#include "bench/sweeps/gpu_gemm.h"
#include "bench/probes/probe.h"
#include "harness/external.h"
#include "harness/format.h"
#include "bench/sweeps/variant_table.h"

namespace flopslab::bench {
namespace fs = std::filesystem;

namespace {

std::string image(const std::string& dir, const std::string& file, const std::string& alt) {
  return fs::exists(fs::path(dir) / file) ? fmt::format("![{}]({})\n\n", alt, file) : "";
}

std::string gemm_markdown(const GemmSweep& sweep, const std::string& dir, bool gpu) {
  std::string md = gpu ? "## GEMM on the GPU (lesson 07)\n\n" : "## GEMM on the CPU (lesson 05)\n\n";
  if (gpu) {
    md += "C = A·B in single precision, row-major, square sizes, on the GPU. Each rung (kernels/cuda/gemm) was checked "
          "against cuBLAS FP32's result (|c - ref| <= atol + rtol·|ref|, tolerances growing with k; no NaN) and "
          "against the float64 reference on the host, then timed with CUDA events (the L2 flushed between calls "
          "when the matrices would fit in it). *% peak* is relative to the FP32 FMA throughput measured on this GPU "
          "in the same run";
    md += std::isfinite(sweep.gpu_peak_gflops) ? fmt::format(" ({} GFLOP/s)", format_rate(sweep.gpu_peak_gflops)) : "";
    md += ". *vs best peer* divides by cuBLAS FP32 (TF32 off). cuBLAS with TF32 and BF16 tensor cores are context "
          "rows: a different precision, shown for scale.\n\n";
  } else {
    md += "C = A·B in single precision, row-major, square sizes. Each rung of the ladder (kernels/cpu/gemm) and each "
          "peer library was checked against a float64 reference before timing, with an error bound that grows with k "
          "(harness/check/gemm_check.h). GFLOP/s are 2·m·n·k over the median time per call; *spread* is half the "
          "interquartile range of the samples, relative to the median. *% peak* is relative to the FP32 FMA "
          "throughput measured in the same run (the fastest call of the FMA loop, before and after the sweep)";
    std::vector<std::string> peaks;
    for (const PeakMeasurement& p : sweep.peaks)
      peaks.push_back(fmt::format("{} GFLOP/s on {} thread{}", format_rate(p.gflops()), p.threads, p.threads == 1 ? "" : "s"));
    if (!peaks.empty()) md += fmt::format(" ({} loop: {})", sweep.peaks.front().loop->name, fmt::join(peaks, ", "));
    md += ". *vs best peer* divides by the faster of OpenBLAS and oneDNN at the same size and thread count; *vs "
          "naive* by the one-thread naive loop.\n\n";
  }
  for (const std::string& line : gemm_sweep_headlines(sweep)) md += "- " + line + "\n";
  md += "\n" + gemm_variant_table(sweep.variants).markdown() + "\n";
  md += gpu ? image(dir, "gemm_ladder_gpu.png", "CUDA GEMM ladder: GFLOP/s per rung and size")
            : image(dir, "gemm_ladder.png", "GEMM ladder: GFLOP/s per rung and size");
  md += gemm_sweep_table(sweep).markdown() + "\n";
  return md;
}

std::string conv_markdown(const ConvSweep& sweep, const std::vector<const ConvVariant*>& variants,
                          const std::vector<ShuffleMeasurement>& shuffles, const std::string& dir) {
  std::string md = "## Convolution on the CPU (lessons 09-11)\n\n";
  md += "NCHW single precision, forward pass, all physical cores. Each implementation (kernels/cpu/conv) was checked "
        "against a float64 reference with an error bound that grows with the number of products "
        "(harness/check/conv_check.h). *Speed vs best peer* is the peer's median time over this row's: a ratio of times, "
        "not of FLOP rates. oneDNN is given NCHW and converts to its own blocked layout and back inside the call. "
        "The GPU's convolutions are in the GPU part of this report.\n\n";
  for (const std::string& line : conv_sweep_headlines(sweep)) md += "- " + line + "\n";
  md += "\n" + conv_variant_table(variants).markdown() + "\n";
  md += image(dir, "conv_layers.png", "Convolution: time per layer and implementation");
  md += conv_sweep_table(sweep).markdown() + "\n";
  md += "Channel shuffle against memcpy of the same bytes (a tensor that fits in the caches and, in a full run, one "
        "four times the last-level cache that must come from memory):\n\n";
  for (const ShuffleMeasurement& shuffle : shuffles)
    md += fmt::format("- {}x{}x{} floats ({}) in {} groups: {} GB/s against {} GB/s for memcpy ({}), {} threads; {}.\n",
                      shuffle.n, shuffle.c, shuffle.plane, format_bytes(4.0 * double(shuffle.n * shuffle.c * shuffle.plane)),
                      shuffle.groups, format_rate(shuffle.shuffle_gbps()), format_rate(shuffle.copy_gbps()),
                      format_percent(shuffle.shuffle_gbps() / shuffle.copy_gbps()), shuffle.threads,
                      shuffle.correct ? "every channel checked" : "**WRONG RESULT**");
  md += "\n";
  return md;
}

// The GPU's convolutions: the sweep over all three passes, cuDNN's algorithms for the first
// layer, and the GPU channel shuffle.
struct GpuConvResults {
  ConvSweep sweep;
  std::vector<const ConvVariant*> variants;
  CudnnStudy study;
  ShuffleMeasurement shuffle;
};

std::string gpu_conv_markdown(const GpuConvResults& r, const std::string& dir) {
  std::string md = "## Convolution on the GPU (lessons 09-11)\n\n";
  md += "NCHW single precision, the same layers as on the CPU, forward and both backward passes. Each result was checked "
        "against the float64 reference on the host (NaN-poisoned output first), then timed with CUDA events. *Speed vs "
        "best peer* is cuDNN's median time (FP32 with FMA math, the faster of its fastest-found and IMPLICIT_GEMM "
        "algorithms) over this row's. cuDNN with TF32 tensor cores is a context row.\n\n";
  for (const std::string& line : conv_sweep_headlines(r.sweep)) md += "- " + line + "\n";
  md += "\n" + conv_variant_table(r.variants).markdown() + "\n";
  md += image(dir, "conv_layers_gpu.png", "Convolution on the GPU: time per layer and implementation");
  md += conv_sweep_table(r.sweep).markdown() + "\n";
  if (r.study.unavailable.empty()) {
    md += fmt::format("### cuDNN {}: its algorithms for {}\n\n", r.study.version, conv::describe(r.study.layer.shape));
    md += "cudnnFind runs every algorithm and reports its time, workspace and whether cuDNN promises the same bits on "
          "every run. *Benchmark mode* takes the fastest; *deterministic mode* the fastest of the deterministic ones. "
          "Each was run 5 times on the same inputs and the outputs compared bit for bit. Winograd and FFT algorithms do "
          "fewer multiplies than the direct count, so compare times, not FLOP rates.\n\n";
  }
  for (const std::string& line : cudnn_study_lines(r.study)) md += "- " + line + "\n";
  md += "\n";
  for (const Table& table : cudnn_algorithm_tables(r.study)) md += table.markdown() + "\n";
  md += fmt::format("GPU channel shuffle of {}x{}x{} floats in {} groups: {} GB/s against {} GB/s for a device-to-device "
                    "copy of the same bytes ({}); {}.\n\n",
                    r.shuffle.n, r.shuffle.c, r.shuffle.plane, r.shuffle.groups, format_rate(r.shuffle.shuffle_gbps()),
                    format_rate(r.shuffle.copy_gbps()), format_percent(r.shuffle.shuffle_gbps() / r.shuffle.copy_gbps()),
                    r.shuffle.correct ? "every channel checked" : "**WRONG RESULT**");
  return md;
}

}  // namespace

std::string default_report_dir(const MachineInfo& machine) {
  const std::string base = fmt::format("reports/{}-{}", machine_slug(machine), today_utc());
  std::string dir = base;
  for (int n = 2; fs::exists(dir); ++n) dir = fmt::format("{}-{}", base, n);
  return dir;
}

std::string default_course_dir(const MachineInfo& machine) {
  const std::string base = fmt::format("reports/{}-{}", machine_slug(machine), today_utc());
  std::string latest;
  for (int n = 1; fs::exists(n == 1 ? base : fmt::format("{}-{}", base, n)); ++n)
    latest = n == 1 ? base : fmt::format("{}-{}", base, n);
  if (!latest.empty() && fs::exists(latest + "/report.json") && !fs::exists(latest + "/course.md")) return latest;
  return default_report_dir(machine);
}

std::string report_problem(const ReportOptions& o) {
  if (!o.out_dir.empty() && fs::exists(o.out_dir) && !o.force)
    return fmt::format("{} already exists; pass --force to replace it or choose another --out", o.out_dir);
  if (!o.out_dir.empty())
    if (const std::string problem = output_location_problem(o.out_dir); !problem.empty()) return "--out: " + problem;
  return {};
}

ReportOutcome write_report(const ReportOptions& o) {
  const auto started = std::chrono::steady_clock::now();
  const ProbeSession session({.quick = o.quick, .progress = o.progress});
  const MachineInfo& machine = session.machine;
  ReportOutcome out;
  out.dir = o.out_dir.empty() ? default_report_dir(machine) : o.out_dir;
  if (const std::string problem = output_location_problem(out.dir); !problem.empty()) throw OutputError(problem);
  // Everything is built in a staging directory beside the report and renamed at the end.
  const std::string staging = fmt::format("{}.partial-{}", out.dir, ::getpid());
  try {
    create_output_dir(staging);
    Json json{{"schema", "flopslab-report/1"},
              {"command", o.command_line},
              {"quick", o.quick},
              {"machine", machine_json(machine)},
              {"sections", Json::object()}};

    const ProbeContext& ctx = session.context;
    const ClockMeasurement& clock = session.clock;
    json["machine"]["cpu_model"] = cpu_peak_json(machine, clock);
    std::vector<ProbeReport> probes;
    Json cpu_json = Json::object();
    for (const Probe& probe : cpu_probes()) {
      probes.push_back(probe.run(ctx));
      cpu_json[std::string(probe.name)] = probes.back().json;
    }
    json["sections"]["cpu"] = cpu_json;

    GemmSweepOptions gemm_options = default_gemm_sweep(machine.physical_cores, o.quick);
    gemm_options.progress = o.progress;
    const GemmSweep gemm = run_gemm_sweep(gemm_options);
    json["sections"]["gemm"] = gemm_sweep_json(gemm);
    json["sections"]["gemm"]["headlines"] = gemm_sweep_headlines(gemm);
    out.checks_passed = out.checks_passed && gemm.all_checks_passed();

    ConvSweepOptions conv_options{.layers = default_conv_layers(o.quick), .threads = {machine.physical_cores}};
    for (const ConvVariant* v : conv_variants())
      if (v->device == Device::cpu) conv_options.variants.push_back(v);
    if (o.quick) conv_options.timing = quick_timing(), conv_options.interleave_rounds = 1;
    conv_options.progress = o.progress;
    const ConvSweep conv = run_conv_sweep(conv_options);
    if (o.progress) o.progress("channel shuffle against memcpy");
    std::vector<ShuffleMeasurement> shuffles;
    // A ShuffleNet-sized activation that stays in the caches, and one four times the size of a
    // large last-level cache (sized from this machine's) that streams from memory.
    std::int64_t llc_bytes = 8 << 20;
    for (int level = 1; level <= 4; ++level) llc_bytes = std::max(llc_bytes, cache_bytes(machine, level));
    const std::int64_t llc_floats = llc_bytes / 4;
    shuffles.push_back(measure_channel_shuffle(o.quick ? 2 : 8, o.quick ? 32 : 128, o.quick ? 196 : 784, 8,
                                               machine.physical_cores, conv_options.timing));
    if (!o.quick)
      shuffles.push_back(measure_channel_shuffle(std::max<std::int64_t>(1, 4 * llc_floats / (256 * 3136)), 256, 3136, 8,
                                                 machine.physical_cores, conv_options.timing));
    json["sections"]["conv"] = conv_sweep_json(conv);
    json["sections"]["conv"]["headlines"] = conv_sweep_headlines(conv);
    Json shuffle_rows = Json::array();
    bool shuffles_correct = true;
    for (const ShuffleMeasurement& m : shuffles) {
      shuffle_rows.push_back(shuffle_json(m));
      shuffles_correct = shuffles_correct && m.correct;
    }
    json["sections"]["conv"]["channel_shuffle"] = shuffle_rows;
    out.checks_passed = out.checks_passed && conv.all_checks_passed() && shuffles_correct;

    // Training: the stack in nn/ against its PyTorch twin.
    const TrainingBench training = run_training_bench({.quick = o.quick, .threads = machine.physical_cores,
                                                       .progress = o.progress});
    json["sections"]["training"] = training_bench_json(training);

    // The GPU: probes, the CUDA GEMM ladder, the bus. Left out, with the reason, without one.
    const GpuStatus& gpu = gpu_status();
    Json gpu_json{{"usable", gpu.usable}, {"reason", gpu.reason}, {"probes", Json::object()}};
    std::vector<ProbeReport> gpu_reports;
    std::optional<GemmSweep> gpu_gemm;
    std::string gpu_gemm_problem, gpu_conv_problem;
    std::optional<GpuConvResults> gpu_conv;
    if (gpu.usable) {
      for (const Probe& probe : gpu_probes()) {
        gpu_reports.push_back(probe.run(ctx));
        gpu_json["probes"][std::string(probe.name)] = gpu_reports.back().json;
      }
      GemmSweepOptions gpu_options = default_gpu_gemm_sweep(o.quick);
      gpu_options.progress = o.progress;
      gpu_gemm_problem = gpu_gemm_sweep_problem(gpu_options);
      if (gpu_gemm_problem.empty()) {
        gpu_gemm = run_gpu_gemm_sweep(gpu_options);
        json["sections"]["gpu_gemm"] = gemm_sweep_json(*gpu_gemm);
        json["sections"]["gpu_gemm"]["headlines"] = gemm_sweep_headlines(*gpu_gemm);
        out.checks_passed = out.checks_passed && gpu_gemm->all_checks_passed();
      }
      ConvSweepOptions gpu_conv_options = conv_options;
      gpu_conv_options.variants = cuda_conv_variants();
      gpu_conv_options.passes = {conv::Pass::forward, conv::Pass::backward_data, conv::Pass::backward_weights};
      gpu_conv_options.threads = {1};
      gpu_conv_problem = gpu_conv_sweep_problem(gpu_conv_options);
      if (gpu_conv_problem.empty()) {
        gpu_conv = GpuConvResults{.sweep = run_gpu_conv_sweep(gpu_conv_options), .variants = gpu_conv_options.variants};
        gpu_conv->study = run_cudnn_study(gpu_conv_options.layers.front(), conv_options.timing, o.progress);
        if (o.progress) o.progress("GPU channel shuffle against a device-to-device copy");
        gpu_conv->shuffle = measure_gpu_channel_shuffle(o.quick ? 2 : 32, o.quick ? 32 : 256, o.quick ? 196 : 3136, 8,
                                                       conv_options.timing);
        Json& section = json["sections"]["gpu_conv"];
        section = conv_sweep_json(gpu_conv->sweep);
        section["device_name"] = gpu.devices.front().name;
        section["headlines"] = conv_sweep_headlines(gpu_conv->sweep);
        section["cudnn_study"] = cudnn_study_json(gpu_conv->study);
        section["channel_shuffle"] = shuffle_json(gpu_conv->shuffle);
        out.checks_passed = out.checks_passed && gpu_conv->sweep.all_checks_passed() && gpu_conv->shuffle.correct;
      }
    }
    json["sections"]["gpu"] = gpu_json;

    json["duration_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    write_file_atomically(staging + "/report.json", json.dump(2) + "\n");

    if (o.progress) o.progress("drawing charts");
    out.plot_note = o.plots ? run_plot_script(staging) : "charts not drawn: --no-plots";

    const BuildInfo& b = build_info();
    std::string md = fmt::format("# flopslab report: {}\n\n", machine.cpu_brand);
    md += fmt::format("Measured {} by `{}` (flopslab {}, commit {}{}) in {:.0f} s.{}\n\n", machine.date_utc,
                      o.command_line, b.version, b.git_commit, b.git_dirty ? " with local changes" : "",
                      json["duration_s"].get<double>(),
                      o.quick ? " **Quick mode: tiny sizes and short timing, a smoke test, not a measurement.**" : "");
    if (!out.plot_note.empty()) md += fmt::format("> {}\n\n", out.plot_note);
    md += "## Machine\n\n```\n" + machine_summary(machine) + cpu_peak_summary(machine, clock) + "```\n\n";
    md += "## CPU\n\n";
    md += "Each subsection is one `flopslab probe`; the lesson it belongs to is in its title. ";
    if (machine.hypervisor)
      md += "This machine is virtualised: the host may run another tenant on a core's SMT sibling or move it, so "
            "throughput can shift between runs by up to 2x; each row's spread shows the noise within a run. ";
    const Counters& counters = Counters::instance();
    md += counters.available() ? "Hardware counters (perf_event_open) are attached where a probe shows them.\n\n"
                               : counters.reason() + ".\n\n";
    for (const ProbeReport& probe : probes) md += probe.markdown(staging);
    md += gemm_markdown(gemm, staging, false);
    md += conv_markdown(conv, conv_options.variants, shuffles, staging);
    md += training_bench_markdown(training);
    md += "## GPU\n\n";
    if (!gpu.usable) {
      md += fmt::format("No usable GPU: {}. The GPU probes, the CUDA GEMM ladder, the CUDA and cuDNN "
                        "convolutions and the bus measurements need one.\n\n",
                        gpu.reason);
    } else {
      md += "Each subsection is one `flopslab probe`; GPU times come from CUDA events after synchronisation.\n\n";
      for (const ProbeReport& probe : gpu_reports) md += probe.markdown(staging);
      md += gpu_gemm ? gemm_markdown(*gpu_gemm, staging, true) : "GEMM on the GPU left out: " + gpu_gemm_problem + "\n\n";
      md += gpu_conv ? gpu_conv_markdown(*gpu_conv, staging)
                     : "Convolution on the GPU left out: " + gpu_conv_problem + "\n\n";
    }
    write_file_atomically(staging + "/report.md", md);
    write_file_atomically(staging + "/report.html",
                          markdown_to_html(md, staging, fmt::format("flopslab report: {}", machine.cpu_brand)));

    if (fs::exists(out.dir)) {
      if (!o.force) throw std::runtime_error(out.dir + " appeared while the report ran; nothing was replaced");
      fs::remove_all(out.dir);
    }
    fs::rename(staging, out.dir);
  } catch (const fs::filesystem_error& e) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw OutputError(fmt::format("cannot write {}: {}", out.dir, e.code().message()));
  } catch (const OutputError& e) {  // name the report's directory, not the staging one
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    std::string message = e.what();
    if (const std::size_t at = message.find(staging); at != std::string::npos) message.replace(at, staging.size(), out.dir);
    throw OutputError(message);
  } catch (...) {
    std::error_code ignored;
    fs::remove_all(staging, ignored);
    throw;
  }
  for (const auto& entry : fs::directory_iterator(out.dir)) out.files.push_back(entry.path().filename().string());
  std::sort(out.files.begin(), out.files.end());
  return out;
}

}  // namespace flopslab::bench
