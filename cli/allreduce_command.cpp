// `flopslab allreduce [--ranks N] [--max-bytes SIZE] [--json FILE]`: the all-reduce between ranks,
// fitted as alpha + n beta, beside the ring all-reduce's model.
#include "cli/command.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>

#include <fmt/format.h>

#include "bench/scaling/allreduce_bench.h"
#include "harness/files.h"
#include "bench/scaling/mpi_launch.h"
#include "harness/progress.h"
#include "report/report.h"
#include "bench/scaling/scale_model.h"
#include "bench/training/step_timing.h"
#include "cli/args.h"
#include "nn/distributed.h"
#include "nn/train.h"
#include "harness/external.h"
#include "harness/format.h"
#include "harness/fit.h"

namespace flopslab::cli {
namespace {

namespace fs = std::filesystem;

struct AllreduceArgs {
  std::string ranks = "2", max_bytes, json, device = "cpu";
  bool quick = false, no_progress = false;
};

int run_allreduce(const AllreduceArgs& a) {
  const int ranks = int(parse_integer("--ranks", a.ranks, 2, 1024));
  const std::int64_t max_bytes =
      a.max_bytes.empty() ? (a.quick ? std::int64_t(1) << 20 : std::int64_t(64) << 20)
                          : parse_bytes("--max-bytes", a.max_bytes, 4096, std::int64_t(1) << 32);
  check_output_file("--json", a.json);
  if (a.device != "cpu" && a.device != "cuda")
    throw UsageError(fmt::format("allreduce: --device: '{}' is not a device (valid: cpu, cuda)", a.device));
  if (!nn::launched_by_mpi()) {  // start our own ranks, as `mpirun -n N flopslab allreduce` would
    std::vector<std::string> args{"allreduce", "--max-bytes", std::to_string(max_bytes), "--device", a.device};
    if (!a.json.empty()) args.insert(args.end(), {"--json", fs::absolute(a.json).string()});
    if (a.quick) args.push_back("--quick");
    if (a.no_progress) args.push_back("--no-progress");
    std::string command;
    try {
      command = bench::mpirun_self_command(ranks, args);
    } catch (const std::runtime_error& e) {
      throw UsageError(std::string("allreduce: ") + e.what());
    }
    std::printf("Starting %d ranks: %s\n", ranks, command.c_str());
    std::fflush(stdout);
    return bench::run_shell(command, true).first;
  }
  if (!nn::have_mpi()) throw UsageError("allreduce: this build has no MPI (scripts/setup installs libopenmpi-dev)");
  auto comm = nn::mpi_communicator();
  if (comm->world() < 2) throw UsageError("allreduce: started by mpirun on 1 rank; it needs 2 or more (mpirun -n 2 ...)");
  std::unique_ptr<nn::DeviceCollectives> nccl;
  if (a.device == "cuda") {
    try {
      nccl = nn::nccl_collectives(*comm);
    } catch (const std::runtime_error& e) {  // every rank throws here together
      throw UsageError(std::string("allreduce: --device cuda: ") + e.what());
    }
  }
  const bool rank0 = comm->rank() == 0;
  bench::Progress progress(!a.no_progress && rank0);
  const bench::AllreduceStudy s =
      bench::measure_allreduce(*comm, max_bytes, a.quick, [&](const std::string& line) { progress(line); }, nccl.get());
  progress.finish();
  if (!rank0) return 0;
  std::printf("All-reduce (sum of floats, in place) over %d ranks by %s; per call, the slowest rank's time, median of "
              "%s samples:\n%s\n",
              s.world, s.backend.c_str(), a.quick ? "5" : "15", bench::allreduce_table(s).text().c_str());
  const double largest = double(s.allreduce.back().bytes);
  std::printf("Fitted to the all-reduce: %s.\n", bench::describe_fit(s.allreduce_fit).c_str());
  if (s.ring_step.empty())
    std::printf("As a ring step (from that fit, alpha / 2(N-1) and beta / (2(N-1)/N)): %s.\n", bench::describe_fit(s.link).c_str());
  else
    std::printf("Fitted to one ring step (send and receive n bytes at once): %s.\n", bench::describe_fit(s.link).c_str());
  std::printf("At %s the ring model 2(N-1) alpha + 2(N-1)/N n beta predicts %.3f ms against %.3f ms measured; its "
              "bandwidth term alone is %.3f ms.\n",
              bench::format_bytes(largest).c_str(), 1e3 * bench::ring_allreduce_seconds(s.link, s.world, largest),
              1e3 * s.allreduce.back().timing.median, 1e3 * bench::ring_bandwidth_seconds(s.link, s.world, largest));
  const double off = s.allreduce.back().timing.median / bench::ring_allreduce_seconds(s.link, s.world, largest);
  if (off > 1.5 || off < 1 / 1.5)
    std::printf("The largest message is %.1fx the line: one alpha and one beta describe a link, and beyond the caches "
                "the copies and the sum run at memory speed instead.\n",
                off);
  if (!a.json.empty()) bench::write_file_atomically(a.json, bench::to_json(s).dump(2) + "\n");
  return 0;
}

}  // namespace

CLI::App* add_allreduce_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<AllreduceArgs>();
  auto* sub = app.add_subcommand(
      "allreduce", "Time the gradient all-reduce between ranks over message sizes, fit t = alpha + n beta and set the "
                   "ring all-reduce's model beside it (starts its own ranks under mpirun unless mpirun started it)");
  sub->add_option("--ranks", a->ranks, "Ranks to start when not run by mpirun  [2]")->type_name("N");
  sub->add_option("--device", a->device, "cpu (MPI between processes) or cuda (NCCL between GPUs, one per rank)  [cpu]")
      ->type_name("DEVICE");
  sub->add_option("--max-bytes", a->max_bytes, "Largest message, e.g. 16M  [64M, --quick: 1M]")->type_name("SIZE");
  sub->add_option("--json", a->json, "Also write the measurement and both fits as JSON to FILE (flopslab scale "
                                     "--allreduce-json reads it)")
      ->type_name("FILE");
  add_quick_flag(*sub, a->quick, "Smaller messages and fewer samples");
  add_no_progress_flag(*sub, a->no_progress);
  run = [a](const std::string&) { return run_allreduce(*a); };
  return sub;
}

}  // namespace flopslab::cli
