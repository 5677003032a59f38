// flopslab: one command for the whole suite.
//
//   flopslab info                      what this machine is, its measured clock and peak
//   flopslab probe NAME                CPU probes: flops, latency, bandwidth, locality, threads
//   flopslab gemm [--sizes ...]        the CPU GEMM ladder against OpenBLAS and oneDNN
//   flopslab conv [--shape ...]        convolutions: direct, im2col, implicit GEMM, 1x1 vs oneDNN/cuDNN
//   flopslab train [--model mlp|cnn]   train the nn/ stack on Fashion-MNIST (cli/train_commands.cpp)
//   flopslab lr-find [--model cnn]     the learning-rate range test
//   flopslab infer [--model inception] evaluation mode unfused and fused (cli/infer_command.cpp)
//   flopslab demo [--scene cores]      the classroom race, CPU against GPU (cli/demo_command.cpp)
//   flopslab allreduce                 the all-reduce between ranks, alpha-beta fit (cli/scale_commands.cpp)
//   flopslab scale [--ranks 8,64,1024] data-parallel scaling predicted from measurements
//   flopslab report [--out DIR]        everything, written to report.md / report.json / PNGs
//   flopslab lesson N                  run lesson N of the syllabus
//   flopslab compare A B               two reports side by side, ratios B / A (cli/compare_command.cpp)
//   flopslab course [--quick]          every lesson in order, one table at the end (cli/course_command.cpp)
//
// Exit status: 0 success, 1 a measurement or check failed, 2 bad command line.
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "harness/build_info.h"
#include "harness/counters.h"
#include "harness/machine/cpu_model.h"
#include "harness/files.h"
#include "bench/sweeps/conv_sweep.h"
#include "bench/sweeps/gemm_sweep.h"
#include "bench/sweeps/gpu_conv.h"
#include "bench/sweeps/gpu_gemm.h"
#include "harness/machine/machine.h"
#include "bench/probes/probe.h"
#include "harness/progress.h"
#include "report/report.h"
#include "harness/simd_cap.h"
#include "kernels/cpu/cpu_features.h"
#include "cli/args.h"
#include "cli/compare_command.h"
#include "cli/course_command.h"
#include "cli/demo_command.h"
#include "cli/infer_command.h"
#include "cli/scale_commands.h"
#include "cli/train_commands.h"
#include "lessons/frame.h"
#include "harness/format.h"
#include "bench/sweeps/variant_table.h"

namespace flopslab::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCommandNames =
    "info, probe, gemm, conv, train, lr-find, infer, demo, allreduce, scale, report, compare, lesson, course";

std::string joined_command(int argc, char** argv) {
  std::string s = "flopslab";
  for (int i = 1; i < argc; ++i) s += std::string(" ") + argv[i];
  return s;
}

void warn_oversubscription(const std::vector<int>& threads, int logical_cpus) {
  for (int t : threads)
    if (t > logical_cpus)
      std::fprintf(stderr,
                   "flopslab: warning: %d threads is more than the %d logical CPUs here; they will share cores\n",
                   t, logical_cpus);
}

int run_info(const std::string& json_path) {
  check_output_file("--json", json_path);
  const bench::MachineInfo m = bench::describe_machine();
  const bench::ClockMeasurement clock = bench::measure_clock(m.physical_cores, bench::quick_timing());
  std::printf("%s%s", bench::machine_summary(m).c_str(), bench::cpu_peak_summary(m, clock).c_str());
  if (!json_path.empty()) {
    Json json = bench::machine_json(m);
    json["cpu_model"] = bench::cpu_peak_json(m, clock);
    bench::write_file_atomically(json_path, json.dump(2) + "\n");
  }
  return 0;
}

struct ProbeArgs {
  std::string name, threads, max_size, json;
  bool quick = false, no_progress = false, no_peers = false;
};

int run_probe(const ProbeArgs& a, const std::string& command) {
  std::vector<const bench::Probe*> probes;
  const bench::GpuStatus& gpu = bench::gpu_status();
  if (a.name == "all") {
    for (const bench::Probe& p : bench::cpu_probes()) probes.push_back(&p);
    if (gpu.usable)
      for (const bench::Probe& p : bench::gpu_probes()) probes.push_back(&p);
    else
      std::fprintf(stderr, "flopslab: no usable GPU, so the GPU probes are left out: %s\n", gpu.reason.c_str());
  } else if (const bench::Probe* p = bench::find_probe(a.name)) {
    probes.push_back(p);
  } else {
    throw UsageError(fmt::format("probe: unknown probe '{}' (valid: {}, all)", a.name, bench::probe_names()));
  }
  for (const bench::Probe* p : probes)
    if (p->needs_gpu && !gpu.usable)
      throw std::runtime_error(fmt::format("probe {} needs a usable NVIDIA GPU: {}", p->name, gpu.reason));
  const bench::MachineInfo described = bench::describe_machine();
  bench::ProbeSessionOptions options{.quick = a.quick, .peers = !a.no_peers};
  if (!a.threads.empty()) options.cores = static_cast<int>(parse_integer("--threads", a.threads, 1, kMaxThreads));
  if (!a.max_size.empty()) {
    options.max_bytes = parse_bytes("--max-size", a.max_size, 1 << 20, std::int64_t(1) << 50);
    const std::int64_t available = bench::available_memory_bytes();
    if (available > 0 && options.max_bytes > available / 2)
      throw UsageError(fmt::format("--max-size: {} is more than half of the {} of memory available; the probes "
                                   "need up to twice the working set",
                                   bench::format_bytes(double(options.max_bytes)), bench::format_bytes(double(available))));
  }
  check_output_file("--json", a.json);
  warn_oversubscription({options.cores}, described.logical_cpus);

  bench::Progress progress(!a.no_progress);
  options.progress = [&](const std::string& line) { progress(line); };
  const bench::ProbeSession session(options);
  const bench::ProbeContext& ctx = session.context;
  const bench::MachineInfo& machine = session.machine;
  const bench::ClockMeasurement& clock = session.clock;
  Json results = Json::object();
  std::string text;
  for (const bench::Probe* p : probes) {
    const bench::ProbeReport r = p->run(ctx);
    results[std::string(p->name)] = r.json;
    text += r.text();
  }
  progress.finish();
  const bench::Counters& counters = bench::Counters::instance();
  std::printf("%s\n%s%s", bench::cpu_peak_summary(machine, clock).c_str(),
              counters.available() ? "" : (counters.reason() + "\n").c_str(), ("\n" + text).c_str());
  if (!a.json.empty()) {
    const Json json{{"schema", "flopslab-probe/1"},
                    {"command", command},
                    {"machine", bench::machine_json(machine)},
                    {"cpu_model", bench::cpu_peak_json(machine, clock)},
                    {"probes", results}};
    bench::write_file_atomically(a.json, json.dump(2) + "\n");
    std::printf("Wrote %s\n", a.json.c_str());
  }
  return 0;
}

struct GemmArgs {
  std::string device = "cpu", sizes, threads, variants = "all", json, max_call_seconds;
  bool quick = false, no_progress = false;
};

// --device of gemm and conv: true for cuda, which needs a usable GPU.
bool wants_gpu(const char* command, const std::string& device, const bench::MachineInfo& machine) {
  if (device != "cpu" && device != "cuda")
    throw UsageError(fmt::format("--device: unknown device '{}' (valid: cpu, cuda)", device));
  if (device == "cuda" && !machine.gpu.usable)
    throw std::runtime_error(fmt::format("{} --device cuda needs a usable NVIDIA GPU: {}", command, machine.gpu.reason));
  return device == "cuda";
}

// The end of gemm and conv: the JSON file when asked for, then exit 1 if any check failed.
int finish_sweep(const std::string& json_path, const Json& json, bool all_checks_passed) {
  if (!json_path.empty()) {
    bench::write_file_atomically(json_path, json.dump(2) + "\n");
    std::printf("\nWrote %s\n", json_path.c_str());
  }
  if (!all_checks_passed) {
    std::fprintf(stderr, "flopslab: error: some results failed verification (see the check column)\n");
    return 1;
  }
  return 0;
}

int run_gemm(const GemmArgs& a, const std::string& command) {
  const bench::MachineInfo machine = bench::describe_machine();
  const bool gpu = wants_gpu("gemm", a.device, machine);
  bench::GemmSweepOptions o = gpu ? bench::default_gpu_gemm_sweep(a.quick) : bench::default_gemm_sweep(machine.physical_cores, a.quick);
  if (!a.sizes.empty()) o.shapes = parse_sizes("--sizes", a.sizes);
  if (!a.threads.empty()) {
    if (gpu) throw UsageError("--threads: applies to --device cpu only");
    o.threads = parse_threads("--threads", a.threads, machine.physical_cores);
  }
  o.variants = parse_variants("--variants", a.variants, gpu ? Device::cuda : Device::cpu);
  if (!a.max_call_seconds.empty()) o.max_call_seconds = parse_seconds("--max-call-seconds", a.max_call_seconds);
  check_output_file("--json", a.json);
  if (const std::string problem = gpu ? bench::gpu_gemm_sweep_problem(o) : bench::gemm_sweep_problem(o); !problem.empty())
    throw UsageError("gemm: " + problem);
  if (!gpu) warn_oversubscription(o.threads, machine.logical_cpus);

  bench::Progress progress(!a.no_progress);
  o.progress = [&](const std::string& line) { progress(line); };
  const bench::GemmSweep sweep = gpu ? bench::run_gpu_gemm_sweep(o) : bench::run_gemm_sweep(o);
  progress.finish();
  if (gpu) std::printf("Measured GPU FP32 peak (FMA chains on every SM): %s GFLOP/s\n", bench::format_rate(sweep.gpu_peak_gflops).c_str());

  for (const bench::PeakMeasurement& p : sweep.peaks)
    std::printf("Measured FP32 peak (%s): %s GFLOP/s on %d thread%s\n", probes::loop_label(*p.loop).c_str(),
                bench::format_rate(p.gflops()).c_str(), p.threads, p.threads == 1 ? "" : "s");
  std::printf("\n%s\n", bench::gemm_variant_table(sweep.variants).text().c_str());
  std::printf("%s\n", bench::gemm_sweep_table(sweep).text().c_str());
  for (const std::string& line : bench::gemm_sweep_headlines(sweep)) std::printf("%s\n", line.c_str());

  const Json json{{"schema", "flopslab-gemm/1"},
                  {"command", command},
                  {"machine", bench::machine_json(machine)},
                  {"gemm", bench::gemm_sweep_json(sweep)}};
  return finish_sweep(a.json, json, sweep.all_checks_passed());
}

struct ConvArgs {
  std::string device = "cpu", impl = "all", pass = "forward", threads, json, max_call_seconds;
  std::vector<std::string> shapes;
  bool quick = false, no_progress = false, study = false;
};

int run_conv(const ConvArgs& a, const std::string& command) {
  const bench::MachineInfo machine = bench::describe_machine();
  const bool gpu = wants_gpu("conv", a.device, machine);
  bench::ConvSweepOptions o{.layers = bench::default_conv_layers(a.quick)};
  o.threads = {machine.physical_cores};
  if (a.quick) o.timing = bench::quick_timing(), o.interleave_rounds = 1;
  if (!a.shapes.empty()) {
    o.layers.clear();
    for (const std::string& text : a.shapes) {
      const conv::Shape shape = parse_conv_shape("--shape", text);
      o.layers.push_back({conv::describe(shape), shape});
    }
  }
  o.passes = parse_passes("--pass", a.pass);
  if (!a.threads.empty()) {
    if (gpu) throw UsageError("--threads: applies to --device cpu only");
    o.threads = parse_threads("--threads", a.threads, machine.physical_cores);
  }
  o.variants = parse_conv_variants("--impl", a.impl, gpu ? Device::cuda : Device::cpu);
  if (!a.max_call_seconds.empty()) o.max_call_seconds = parse_seconds("--max-call-seconds", a.max_call_seconds);
  check_output_file("--json", a.json);
  if (a.study && !gpu) throw UsageError("--study: studies cuDNN's algorithms; use it with --device cuda");
  if (const std::string problem = gpu ? bench::gpu_conv_sweep_problem(o) : bench::conv_sweep_problem(o); !problem.empty())
    throw UsageError("conv: " + problem);
  if (!gpu) warn_oversubscription(o.threads, machine.logical_cpus);

  bench::Progress progress(!a.no_progress);
  o.progress = [&](const std::string& line) { progress(line); };
  const bench::ConvSweep sweep = gpu ? bench::run_gpu_conv_sweep(o) : bench::run_conv_sweep(o);
  std::optional<bench::CudnnStudy> study;
  if (a.study) study = bench::run_cudnn_study(o.layers.front(), o.timing, o.progress);
  progress.finish();

  std::printf("%s\n", bench::conv_variant_table(o.variants).text().c_str());
  std::printf("%s\n", bench::conv_sweep_table(sweep).text().c_str());
  for (const std::string& line : bench::conv_sweep_headlines(sweep)) std::printf("%s\n", line.c_str());
  if (study) {
    std::printf("\ncuDNN %s, its algorithms for %s:\n", study->version.c_str(), conv::describe(study->layer.shape).c_str());
    for (const bench::Table& table : bench::cudnn_algorithm_tables(*study)) std::printf("%s\n", table.text().c_str());
    for (const std::string& line : bench::cudnn_study_lines(*study)) std::printf("%s\n", line.c_str());
  }
  Json json{{"schema", "flopslab-conv/1"},
            {"command", command},
            {"machine", bench::machine_json(machine)},
            {"conv", bench::conv_sweep_json(sweep)}};
  if (study) json["cudnn_study"] = bench::cudnn_study_json(*study);
  return finish_sweep(a.json, json, sweep.all_checks_passed());
}

struct ReportArgs {
  std::string out;
  bool force = false, quick = false, no_plots = false, no_progress = false;
};

int run_report(const ReportArgs& a, const std::string& command) {
  bench::ReportOptions o{.out_dir = a.out, .force = a.force, .quick = a.quick, .plots = !a.no_plots,
                         .command_line = command};
  if (const std::string problem = bench::report_problem(o); !problem.empty()) throw UsageError("report: " + problem);
  bench::Progress progress(!a.no_progress);
  o.progress = [&](const std::string& line) { progress(line); };
  const bench::ReportOutcome out = bench::write_report(o);
  progress.finish();
  std::printf("Wrote %s/: ", out.dir.c_str());
  for (std::size_t i = 0; i < out.files.size(); ++i) std::printf("%s%s", i ? ", " : "", out.files[i].c_str());
  std::printf("\n");
  if (!out.plot_note.empty()) std::printf("Note: %s\n", out.plot_note.c_str());
  if (!out.checks_passed) {
    std::fprintf(stderr, "flopslab: error: some kernel results failed verification; see report.md\n");
    return 1;
  }
  return 0;
}

std::string lesson_list() {
  std::string s;
  for (const lessons::Lesson& l : lessons::lessons())
    s += fmt::format("{}{:02d} ({})", s.empty() ? "" : ", ", l.number, l.title);
  return s;
}

int run_lesson(const std::string& number, bool list, bool quick, const std::string& threads) {
  if (list) {
    for (const lessons::Lesson& l : lessons::lessons())
      std::printf("%02d  %-28s lessons/%s/README.md\n", l.number, l.title, l.directory);
    return 0;
  }
  if (number.empty()) throw UsageError("lesson: which lesson? available: " + lesson_list());
  const int n = static_cast<int>(parse_integer("lesson", number, 1, 99));
  const lessons::Lesson* lesson = lessons::find_lesson(n);
  if (lesson == nullptr)
    throw UsageError(fmt::format("lesson: lesson {} is not written yet; available: {}", n, lesson_list()));
  lessons::LessonOptions o{.quick = quick};
  if (!threads.empty()) o.threads = static_cast<int>(parse_integer("--threads", threads, 1, kMaxThreads));
  return lesson->run(o);
}

int run(int argc, char** argv) {
  CLI::App app{"New here? Run scripts/report first, then flopslab course --quick or flopslab lesson 1.\n"
               "The report lands in reports/<machine>-<date>/: report.html (for a browser), report.md, report.json.\n"
               "Every command is listed below; 'flopslab COMMAND --help' gives its options.\n\n"
               "flopslab measures what this machine can do for deep learning, and why. Every result is\n"
               "checked against a reference and set against the machine's measured peak and the best\n"
               "library on the same machine.",
               "flopslab"};
  app.set_version_flag("--version", std::string("flopslab ") + build_info().version + " (" +
                                        build_info().git_commit + ")");
  app.footer("Exit status: 0 success, 1 a measurement or check failed, 2 bad command line.\n"
             "Run 'flopslab COMMAND --help' for the options of a command.");

  auto* info = app.add_subcommand(
      "info", "Describe this machine: CPU, SIMD, cores, caches, memory, GPU, build; measured clock and peaks");
  std::string info_json;
  info->add_option("--json", info_json, "Also write the description as JSON to FILE")->type_name("FILE");

  GemmArgs gemm_args;
  auto* gemm = app.add_subcommand(
      "gemm", "Run a GEMM ladder: the CPU's (naive -> loop order -> blocking -> packed SIMD -> OpenMP) against "
              "OpenBLAS and oneDNN, or the CUDA one against cuBLAS");
  gemm->add_option("--device", gemm_args.device, "cpu (the CPU ladder) or cuda (the CUDA ladder against cuBLAS)  [cpu]")
      ->type_name("DEVICE");
  gemm->add_option("--sizes", gemm_args.sizes,
                   "Comma-separated sizes: N (N x N x N) or MxNxK  [cpu: 256,512,1024,2048; cuda: 1024,2048,4096]")
      ->type_name("LIST");
  gemm->add_option("--threads", gemm_args.threads, "Comma-separated thread counts, or 'all'  [1,<physical cores>]")
      ->type_name("LIST");
  gemm->add_option("--variants", gemm_args.variants,
                   "'all' or a comma-separated list of: " + variant_names(Device::cpu) +
                       (variant_names(Device::cuda).empty() ? "" : "; with --device cuda: " + variant_names(Device::cuda)))
      ->type_name("LIST");
  gemm->add_option("--json", gemm_args.json, "Also write every result, with the machine, as JSON to FILE")
      ->type_name("FILE");
  gemm->add_option("--max-call-seconds", gemm_args.max_call_seconds,
                   "Skip a variant at a size where one call is predicted to take longer  [1.5]")
      ->type_name("S");
  gemm->add_flag("--quick", gemm_args.quick, "Tiny sizes and short timing (a smoke test)");
  gemm->add_flag("--no-progress", gemm_args.no_progress, "Do not print progress on stderr");

  ConvArgs conv_args;
  auto* conv = app.add_subcommand(
      "conv", "Run the convolution ladder (direct -> im2col + GEMM -> implicit GEMM, 1x1 as a GEMM, the batch-wide GEMMs, "
      "direct on the blocked layout, the direct weight gradient, the per-shape choice, Winograd) against "
              "oneDNN, or with --device cuda the CUDA kernels against cuDNN");
  conv->add_option("--device", conv_args.device, "cpu or cuda  [cpu]")->type_name("DEVICE");
  conv->add_option("--shape", conv_args.shapes,
                   "A layer as N,C,H,W,K,R,S[,stride[,pad[,dilation[,groups]]]]; repeat for more layers  "
                   "[ResNet-like 3x3, 1x1, 7x7 and its 1x7/7x1 factors, grouped and depthwise 3x3, batch 8]")
      ->type_name("SHAPE");
  conv->add_option("--impl", conv_args.impl,
                   "'all' or a comma-separated list of: " + conv_variant_names(Device::cpu) +
                       (conv_variant_names(Device::cuda).empty() ? "" : "; with --device cuda: " + conv_variant_names(Device::cuda)))
      ->type_name("LIST");
  conv->add_option("--pass", conv_args.pass, "forward, backward-data, backward-weights (comma-separated) or all  [forward]")
      ->type_name("LIST");
  conv->add_option("--threads", conv_args.threads, "Comma-separated thread counts, or 'all'  [physical cores]")
      ->type_name("LIST");
  conv->add_option("--json", conv_args.json, "Also write every result, with the machine, as JSON to FILE")
      ->type_name("FILE");
  conv->add_option("--max-call-seconds", conv_args.max_call_seconds,
                   "Skip a variant on a layer where one call is predicted to take longer  [3]")
      ->type_name("S");
  conv->add_flag("--study", conv_args.study,
                 "With --device cuda: also list every cuDNN algorithm for the first layer (cudnnFind times, the "
                 "heuristic's pick, benchmark vs deterministic mode, TF32 and FP16)");
  conv->add_flag("--quick", conv_args.quick, "Small layers and short timing (a smoke test)");
  conv->add_flag("--no-progress", conv_args.no_progress, "Do not print progress on stderr");

  CommandRun train_run, lr_find_run;
  auto* train = add_train_command(app, train_run);
  auto* lr_find = add_lr_find_command(app, lr_find_run);
  CommandRun infer_run;
  auto* infer = add_infer_command(app, infer_run);
  CommandRun demo_run;
  auto* demo = add_demo_command(app, demo_run);
  CommandRun allreduce_run, scale_run;
  auto* allreduce = add_allreduce_command(app, allreduce_run);
  auto* scale = add_scale_command(app, scale_run);
  CommandRun course_run;
  auto* course = add_course_command(app, course_run);
  CommandRun compare_run;
  auto* compare = add_compare_command(app, compare_run);

  ReportArgs report_args;
  auto* report = app.add_subcommand("report", "Measure this machine and write report.md, report.json and charts");
  report->add_option("--out", report_args.out, "Directory to write  [reports/<machine>-<date>]")->type_name("DIR");
  report->add_flag("--force", report_args.force, "Replace --out if it exists");
  report->add_flag("--quick", report_args.quick, "Tiny sizes and short timing (a smoke test, not a measurement)");
  report->add_flag("--no-plots", report_args.no_plots, "Do not run scripts/plot");
  report->add_flag("--no-progress", report_args.no_progress, "Do not print progress on stderr");

  ProbeArgs probe_args;
  auto* probe = app.add_subcommand("probe", "Measure one property of the CPU, memory, GPU or bus: " + bench::probe_names() +
                                                ", or all");
  probe->add_option("NAME", probe_args.name, "Which probe: " + bench::probe_names() + ", all")->required();
  probe->add_option("--threads", probe_args.threads, "Threads for the all-core runs  [physical cores]")->type_name("N");
  probe->add_option("--max-size", probe_args.max_size,
                    "Largest working set of the memory probes, e.g. 512M, 2G  [1G, or 4x the last-level cache]")
      ->type_name("SIZE");
  probe->add_option("--json", probe_args.json, "Also write every raw point, with the machine, as JSON to FILE")
      ->type_name("FILE");
  probe->add_flag("--quick", probe_args.quick, "Small working sets and short timing (a smoke test)");
  probe->add_flag("--no-peers", probe_args.no_peers, "Do not run likwid-bench beside the probes");
  probe->add_flag("--no-progress", probe_args.no_progress, "Do not print progress on stderr");

  std::string lesson_number, lesson_threads;
  bool lesson_list_flag = false, lesson_quick = false;
  auto* lesson = app.add_subcommand("lesson", "Run lesson N of the syllabus: measure its claim here and check it");
  lesson->add_option("N", lesson_number, "Lesson number (see --list)");
  lesson->add_flag("--list", lesson_list_flag, "List the lessons written so far");
  lesson->add_flag("--quick", lesson_quick, "Small sizes and short timing");
  lesson->add_option("--threads", lesson_threads, "Threads for the parallel parts  [physical cores]")->type_name("N");

  // No command: the help, which starts with where to begin.
  if (argc == 1) {
    std::printf("%s", app.help().c_str());
    return 0;
  }
  // CLI11 would call an unknown command "an extra argument"; name it and the choices instead.
  if (argv[1][0] != '-') {
    bool known = false;
    for (const CLI::App* sub : app.get_subcommands({})) known = known || sub->get_name() == argv[1];
    if (!known) throw UsageError(fmt::format("unknown command '{}' (valid: {})", argv[1], kCommandNames));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::string where = "flopslab";
    const CLI::App* command = &app;
    for (const CLI::App* sub : app.get_subcommands()) where += " " + sub->get_name(), command = sub;
    // CLI11 lists the extras last first ("64 --sizes"); name the first option the command lacks.
    if (dynamic_cast<const CLI::ExtrasError*>(&e) != nullptr)
      for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i], name = arg.substr(0, arg.find('='));
        const bool option = name.size() > 1 && name[0] == '-' && (name[1] == '-' || std::isalpha(name[1]));
        if (option && command->get_option_no_throw(name) == nullptr)
          throw UsageError(fmt::format("{} is not an option of '{}' (see '{} --help')", name, where, where));
      }
    throw UsageError(fmt::format("{} (see '{} --help')", e.what(), where));
  }

  const std::string command = joined_command(argc, argv);
  if (info->parsed()) return run_info(info_json);
  if (probe->parsed()) return run_probe(probe_args, command);
  if (gemm->parsed()) return run_gemm(gemm_args, command);
  if (conv->parsed()) return run_conv(conv_args, command);
  if (report->parsed()) return run_report(report_args, command);
  if (train->parsed()) return train_run();
  if (lr_find->parsed()) return lr_find_run();
  if (infer->parsed()) return infer_run();
  if (demo->parsed()) return demo_run();
  if (allreduce->parsed()) return allreduce_run();
  if (scale->parsed()) return scale_run();
  if (course->parsed()) return course_run();
  if (compare->parsed()) return compare_run();
  if (lesson->parsed()) return run_lesson(lesson_number, lesson_list_flag, lesson_quick, lesson_threads);
  throw UsageError(fmt::format("no command given (valid: {}; see 'flopslab --help')", kCommandNames));
}

}  // namespace
}  // namespace flopslab::cli

int main(int argc, char** argv) {
  if (const std::string problem = flopslab::simd_cap_problem(); !problem.empty()) {
    std::fprintf(stderr, "flopslab: %s\n", problem.c_str());
    return 2;
  }
  flopslab::bench::apply_simd_cap_to_peers(argv);
  try {
    return flopslab::cli::run(argc, argv);
  } catch (const flopslab::cli::UsageError& e) {
    std::fprintf(stderr, "flopslab: %s\n", e.what());
    return 2;
  } catch (const flopslab::bench::OutputError& e) {  // an output the user named cannot be written
    std::fprintf(stderr, "flopslab: %s\n", e.what());
    return 2;
  } catch (const std::filesystem::filesystem_error& e) {  // the same, from a path no check foresaw
    std::fprintf(stderr, "flopslab: %s: %s\n", e.path1().c_str(), e.code().message().c_str());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "flopslab: error: %s\n", e.what());
    return 1;
  }
}
