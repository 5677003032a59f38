// `flopslab train`: a model of the nn/ stack trained on Fashion-MNIST, with recipes, fine-tuning,
// mixed precision, the GPU and data-parallel ranks.
#include "cli/command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "harness/files.h"
#include "harness/machine/machine.h"
#include "harness/progress.h"
#include "bench/training/train_run.h"
#include "bench/training/twin_profile.h"
#include "cli/args.h"
#include "kernels/cpu/gemm/packed.h"
#include "nn/checkpoint.h"
#include "nn/device.h"
#include "nn/distributed.h"
#include "harness/external.h"

namespace flopslab::cli {
namespace {

namespace fs = std::filesystem;

struct TrainArgs {
  std::string model = "mlp", optimizer = "adam", data = nn::kFashionMnistDir, out, threads, epochs = "5", batch = "64",
              lr = "0.003", weight_decay = "0", seed = "0", train_limit = "0", test_limit = "0", patience = "0",
              workers = "1", crop_padding = "0", jitter, mixup = "0", recipe, accumulate = "1", precision = "fp32",
              loss_scale, segments = "0", lr_mult, freeze, init_from, classes, device = "cpu", backend;
  bool graph = false, data_on_gpu = false, distributed = false, no_overlap = false, sync_bn = false;
  std::string bucket_kb;
  bool resume = false, force = false, no_plots = false, no_progress = false, flip = false, new_head = false,
       profile = false, against_pytorch = false;
};

int run_train(const TrainArgs& a, const CLI::App& sub) {
  bench::TrainRunOptions o{.model = a.model, .optimizer = a.optimizer, .data = a.data, .out = a.out, .recipe = a.recipe};
  if (!a.recipe.empty())
    for (const char* name : {"--optimizer", "--lr", "--epochs", "--weight-decay"})
      if (sub.get_option(name)->count() > 0)
        throw UsageError(fmt::format("train: {}: the recipe {} sets it in each phase; leave {} out or drop --recipe",
                                     name, a.recipe, name));
  o.epochs = int(parse_integer("--epochs", a.epochs, 1, 100000));
  // With a recipe and no --batch, the recipe's batch size (or 64).
  o.trainer.batch = !a.recipe.empty() && sub.get_option("--batch")->count() == 0 ? 0 : parse_integer("--batch", a.batch, 1, 1 << 20);
  o.trainer.threads = threads_or_cores("--threads", a.threads);
  o.trainer.seed = std::uint64_t(parse_integer("--seed", a.seed, 0, std::numeric_limits<long long>::max()));
  o.train_limit = parse_integer("--train-limit", a.train_limit, 0, 1LL << 40);
  o.test_limit = parse_integer("--test-limit", a.test_limit, 0, 1LL << 40);
  o.patience = int(parse_integer("--patience", a.patience, 0, 100000));
  o.lr = parse_number("--lr", a.lr, 0, 1e6);
  o.weight_decay = parse_number("--weight-decay", a.weight_decay, 0, 1e6);
  o.resume = a.resume, o.force = a.force, o.plots = !a.no_plots, o.trainer.profile = a.profile;
  o.trainer.workers = int(parse_integer("--workers", a.workers, 0, 256));
  o.trainer.transforms.flip = a.flip;
  o.trainer.transforms.crop_padding = parse_integer("--crop-padding", a.crop_padding, 0, 64);
  o.trainer.transforms.mixup_alpha = float(parse_number("--mixup", a.mixup, 0, 100));
  if (!a.jitter.empty()) {
    const auto [low, high] = parse_range("--jitter", a.jitter, 0.01, 100);
    o.trainer.transforms.jitter_low = float(low), o.trainer.transforms.jitter_high = float(high);
  }
  o.trainer.accumulate = int(parse_integer("--accumulate", a.accumulate, 1, 1 << 16));
  try {
    o.trainer.device = nn::parse_device_tag(a.device);
  } catch (const std::invalid_argument& e) {
    throw UsageError(std::string("train: --device: ") + e.what());
  }
  if (!a.backend.empty()) {
    if (o.trainer.device != nn::DeviceTag::cuda) throw UsageError("train: --backend: only with --device cuda");
    if (a.backend != "own" && a.backend != "vendor")
      throw UsageError("train: --backend: '" + a.backend + "' is not a backend (valid: own, vendor)");
    o.trainer.gpu_backend = a.backend == "vendor" ? nn::GpuBackend::vendor : nn::GpuBackend::own;
  }
  o.trainer.graph = a.graph, o.trainer.data_on_device = a.data_on_gpu;
  if (!a.distributed)
    for (const char* name : {"--no-overlap", "--sync-bn", "--bucket-kb"})
      if (sub.get_option(name)->count() > 0) throw UsageError(fmt::format("train: {}: only with --distributed", name));
  o.trainer.overlap = !a.no_overlap, o.sync_bn = a.sync_bn;
  if (!a.bucket_kb.empty()) {
    const std::int64_t kb = parse_integer("--bucket-kb", a.bucket_kb, 1, 1 << 22);
    o.trainer.buckets = {.first_bytes = kb * 1024, .bytes = kb * 1024};
  }
  o.trainer.precision = parse_precision("--precision", a.precision);
  // Dynamic loss scaling is what fp16 needs (its gradients underflow); bf16 has float32's range.
  const std::string scaling = a.loss_scale.empty() ? (o.trainer.precision == nn::Precision::fp16 ? "dynamic" : "none") : a.loss_scale;
  if (scaling == "dynamic") {
    o.trainer.loss_scaling = nn::GradScaler::Settings{};
  } else if (scaling != "none") {
    nn::GradScaler::Settings s;
    s.init_scale = parse_number("--loss-scale", scaling, 1e-30, 1e38);
    o.trainer.loss_scaling = s;
  }
  if (!a.lr_mult.empty()) o.trainer.lr_mult = parse_part_multipliers("--lr-mult", a.lr_mult);
  if (!a.freeze.empty()) o.trainer.freeze = parse_parts("--freeze", a.freeze);
  if (!a.classes.empty()) o.classes = parse_classes("--classes", a.classes);
  o.init_from = a.init_from;
  if (a.new_head) {
    if (a.init_from.empty()) throw UsageError("train: --new-head: only with --init-from (a head new to the loaded body)");
    o.new_parts = {"head"};
  }
  const auto& models = nn::model_names();
  if (std::find(models.begin(), models.end(), o.model) != models.end()) {  // else train_run_problem names it
    std::mt19937_64 rng(0);
    const int layers = int(nn::make_model(o.model, rng)->layers.size());
    o.trainer.checkpoint_segments = parse_segments("--checkpoint-segments", a.segments, layers);
  }
  if (o.out.empty())
    o.out = a.recipe.empty() ? fmt::format("runs/{}-{}-seed{}", o.model, o.optimizer, o.trainer.seed)
                             : fmt::format("runs/{}-{}-seed{}", o.model, fs::path(a.recipe).stem().string(), o.trainer.seed);
  std::unique_ptr<nn::Communicator> comm;
  if (a.distributed) {
    if (!nn::have_mpi()) throw UsageError("train: --distributed: this build has no MPI (scripts/setup installs libopenmpi-dev)");
    comm = nn::mpi_communicator();
    o.trainer.comm = comm.get();
  }
  if (a.against_pytorch) {
    if (o.trainer.device != nn::DeviceTag::cpu)
      throw UsageError("train: --against-pytorch: the CPU only (PyTorch's side times its layers on the host clock)");
    if (a.model != "mlp" && a.model != "cnn")
      throw UsageError("train: --against-pytorch: '" + a.model + "' has no step-profile twin (mlp, cnn)");
    if (o.trainer.batch == 0) throw UsageError("train: --against-pytorch: give --batch (the recipe's is not read here)");
  }
  if (const std::string problem = bench::train_run_problem(o); !problem.empty()) throw UsageError("train: " + problem);
  const bool rank0 = comm == nullptr || comm->rank() == 0;
  if (comm != nullptr && rank0) {
    if (comm->world() == 1)
      std::printf("--distributed: world size 1 (not started by mpirun: mpirun -np N flopslab train --distributed ... "
                  "trains on N ranks); training as one rank.\n");
    else
      std::printf("Data-parallel over %s: rank 0 of %d (local rank %d); per-rank batch %lld, global batch %lld; "
                  "gradients averaged in buckets of %s%s.\n",
                  comm->backend().c_str(), comm->world(), comm->local_rank(), static_cast<long long>(o.trainer.batch),
                  static_cast<long long>(o.trainer.batch) * comm->world(),
                  fmt::format("{:g} KiB first, {:g} KiB after", double(o.trainer.buckets.first_bytes) / 1024,
                              double(o.trainer.buckets.bytes) / 1024)
                      .c_str(),
                  o.trainer.overlap ? ", each all-reduce started during backward" : ", reduced after backward (--no-overlap)");
    std::fflush(stdout);
  }
  bench::Progress progress(!a.no_progress && rank0);
  o.progress = [&](const std::string& line) { progress(line); };
  bench::TrainRunResult r;
  try {
    r = bench::run_training(o);
  } catch (const bench::RanksDisagree& e) {  // every rank stops here together: a clean exit 2
    throw UsageError(std::string("train: ") + e.what());
  } catch (const std::exception& e) {
    // One rank failing alone would leave the others waiting in an all-reduce: stop them all.
    if (comm != nullptr && comm->world() > 1)
      comm->abort(fmt::format("flopslab: train: rank {} of {}: {}", comm->rank(), comm->world(), e.what()),
                  dynamic_cast<const std::invalid_argument*>(&e) != nullptr ? 2 : 1);
    if (dynamic_cast<const std::invalid_argument*>(&e) != nullptr)  // what only the data, recipe or checkpoint could tell
      throw UsageError(std::string("train: ") + e.what());
    throw;
  }
  progress.finish();
  if (!rank0) return 0;  // rank 0 reports for all
  if (comm != nullptr && comm->world() > 1 && !r.history.empty())
    std::printf("Gradient all-reduce per step (rank 0, last epoch): %.3f ms starting and progressing buckets inside "
                "backward, %.3f ms waiting for them after it%s.\n",
                1e3 * r.history.back().allreduce_hook_seconds, 1e3 * r.history.back().allreduce_wait_seconds,
                o.trainer.overlap ? "" : " (--no-overlap: all of the all-reduce)");
  if (o.trainer.device == nn::DeviceTag::cuda) {
    const bool bf16 = o.trainer.precision == nn::Precision::bf16, own = o.trainer.gpu_backend == nn::GpuBackend::own;
    std::printf("On the GPU, GEMMs by %s; convolutions by %s%s; batches %s.\n",
                own ? (bf16 ? "the CUDA ladder's bf16 tensor-core rung" : "the CUDA ladder's top rung")
                    : (bf16 ? "cuBLASLt (bf16)" : "cuBLAS"),
                own ? "the CUDA implicit GEMM" : "cuDNN", bf16 ? " (float32)" : "",
                o.trainer.data_on_device ? "gathered and augmented on the GPU from the resident images"
                                 : "copied through pinned memory on their own stream, one batch ahead");
    if (!r.history.empty())
      std::printf("GPU kernel launches in the last step: %lld%s.\n", static_cast<long long>(r.history.back().launches_per_step),
                  o.trainer.graph ? " (forward, loss and backward replayed as one CUDA graph, then the optimizer)" : "");
  }
  if (o.recipe.empty())
    std::printf("Trained %s with %s (lr %g, batch %lld) on %s, %d thread(s), seed %llu\n", o.model.c_str(),
                o.optimizer.c_str(), o.lr, static_cast<long long>(o.trainer.batch), o.data.c_str(), o.trainer.threads,
                static_cast<unsigned long long>(o.trainer.seed));
  else
    std::printf("Trained %s with %s, batch %lld, on %s, %d thread(s), seed %llu\n", o.model.c_str(), r.recipe.c_str(),
                static_cast<long long>(r.batch), o.data.c_str(), o.trainer.threads, static_cast<unsigned long long>(o.trainer.seed));
  if (o.trainer.accumulate > 1)
    std::printf("Gradient accumulation: %d batches of %lld per step (an effective batch of %lld).\n", o.trainer.accumulate,
                static_cast<long long>(r.batch), static_cast<long long>(r.batch * o.trainer.accumulate));
  if (o.trainer.precision != nn::Precision::fp32)
    std::printf("Mixed precision: %s operands%s, float32 sums and master weights; GEMM: %s%s.\n",
                nn::precision_name(o.trainer.precision), o.trainer.device == nn::DeviceTag::cuda ? "" : " and saved activations",
                o.trainer.device == nn::DeviceTag::cuda ? "bfloat16 tensor cores, float32 accumulators"
                : o.trainer.precision == nn::Precision::bf16 ? gemm::packed::describe_bf16_choice().c_str()
                                                   : "fp16 operands rounded while packing, float32 micro-kernel",
                o.trainer.loss_scaling ? fmt::format("; dynamic loss scaling from {:g}, {} step(s) skipped", o.trainer.loss_scaling->init_scale,
                                             r.skipped_steps)
                                     .c_str()
                               : "");
  for (const std::string& note : r.init_notes) std::printf("--init-from: %s\n", note.c_str());
  std::printf("%s\n", bench::epoch_table(r.history).text().c_str());
  if (!r.history.empty()) {
    std::printf("Per class on the test set after the last epoch:\n%s\n",
                bench::class_table(r.history.back().test, o.classes).text().c_str());
    std::printf("Confusion matrix:\n%s\n", bench::confusion_table(r.history.back().test, o.classes).text().c_str());
  }
  if (o.trainer.profile)
    std::printf("Time per step in each layer (%lld steps):\n%s\n", static_cast<long long>(r.layer_times.steps),
                bench::layer_time_table(r.layer_times).text().c_str());
  if (a.against_pytorch) {
    progress(fmt::format("profiling one step of the {} against PyTorch's", a.model));
    const bench::StepProfileComparison c = bench::compare_step_profiles(bench::torch_python(), a.model, o.trainer.batch,
                                                                        o.trainer.threads, false);
    std::printf("\n%s\n\n%s\n", bench::step_profile_finding(c).c_str(), bench::step_profile_table(c).text().c_str());
  }
  if (r.stopped_early) std::printf("Stopped early: the test loss did not improve for %d epochs.\n", o.patience);
  if (!r.plot_note.empty()) std::printf("%s\n", r.plot_note.c_str());
  std::printf("Wrote %s/: %s\n", o.out.c_str(), fmt::format("{}", fmt::join(r.files, ", ")).c_str());
  return 0;
}

}  // namespace

CLI::App* add_train_command(CLI::App& app, CommandRun& run) {
  auto a = std::make_shared<TrainArgs>();
  auto* train = app.add_subcommand(
      "train", "Train a model of the nn/ stack on Fashion-MNIST: progress per epoch, CSV logs, checkpoints, curves");
  train->add_option("--model", a->model, "mlp (784-256-128-64-10), mlp-dropout, cnn (two conv+BN+ReLU+pool blocks), cnn-nobn or inception (an Inception and a residual block)  [mlp]")
      ->type_name("NAME");
  train->add_option("--recipe", a->recipe,
                    "A recipe of training phases (JSON; see recipes/): optimizer, learning-rate and momentum curves, "
                    "augmentation per phase. Replaces --optimizer, --lr, --epochs and --weight-decay")
      ->type_name("FILE");
  train->add_option("--epochs", a->epochs, "Epochs to train (with --resume: the total)  [5]")->type_name("N");
  train->add_option("--batch", a->batch, "Samples per step (per forward when accumulating)  [64, or the recipe's]")
      ->type_name("N");
  train->add_option("--optimizer", a->optimizer, "sgd (momentum 0.9), nesterov, adam, adamw or rmsprop  [adam]")
      ->type_name("NAME");
  train->add_option("--lr", a->lr, "Learning rate  [0.003]")->type_name("X");
  train->add_option("--weight-decay", a->weight_decay, "Weight decay  [0]")->type_name("X");
  train->add_option("--lr-mult", a->lr_mult,
                    "Learning-rate multipliers per part, e.g. body=0.1,head=1 (parts: body, head, all, or layers "
                    "such as 0-3, 4-); a recipe's phase may set its own")
      ->type_name("PART=X,...");
  train->add_option("--freeze", a->freeze, "Parts without gradients or updates, e.g. body")->type_name("PARTS");
  train->add_option("--init-from", a->init_from,
                    "Start from another run's checkpoint: load every tensor whose name and shape match (fine-tuning)")
      ->type_name("FILE");
  train->add_flag("--new-head", a->new_head, "With --init-from: leave the head as initialised (a new random head)");
  train->add_option("--classes", a->classes, "Train and test on these classes only, relabelled 0, 1, ...: e.g. 0-4 or 5,7,9")
      ->type_name("LIST");
  train->add_option("--accumulate", a->accumulate,
                    "Gradient accumulation: sum N batches per optimizer step (the same update as batch N x --batch)  [1]")
      ->type_name("N");
  train->add_option("--precision", a->precision,
                    "fp32, or mixed precision: bf16 or fp16 operands and saved activations, float32 sums and master "
                    "weights (bf16 uses the AVX512_BF16 GEMM rung where the CPU has it)  [fp32]")
      ->type_name("P");
  train->add_option("--loss-scale", a->loss_scale,
                    "dynamic (PyTorch's GradScaler: 65536, x2 after 2000 clean steps, x0.5 and skip on overflow), "
                    "none, or the initial scale of a dynamic one  [dynamic for fp16, none otherwise]")
      ->type_name("MODE");
  train->add_option("--checkpoint-segments", a->segments,
                    "Gradient checkpointing: keep K segments' inputs and recompute their forwards in backward; "
                    "K, sqrt (sqrt of the layers) or all (0: off)  [0]")
      ->type_name("K");
  train->add_flag("--profile", a->profile, "Print the time per step in each layer's forward and backward");
  train->add_flag("--against-pytorch", a->against_pytorch,
                  "After training, time one step of the model (mlp or cnn) at --batch and --threads layer by layer, "
                  "against its PyTorch twin's (scripts/torch_step_profile.py; scripts/setup-peers installs PyTorch)");
  train->add_option("--threads", a->threads, "Threads for the kernels  [physical cores]")->type_name("N");
  train->add_option("--device", a->device,
                    "cpu, or cuda: train on the GPU (any model; fp32 or bf16, cross-entropy, without --accumulate or --mixup)  [cpu]")
      ->type_name("DEVICE");
  train->add_option("--backend", a->backend,
                    "With --device cuda: own (the CUDA GEMM ladder's top rung) or vendor (cuBLAS)  [own]")
      ->type_name("NAME");
  train->add_flag("--graph", a->graph,
                  "With --device cuda: capture forward, loss and backward once as a CUDA graph and replay it every "
                  "step (one launch instead of one per kernel; fixed shapes, no dropout)");
  train->add_flag("--distributed", a->distributed,
                  "Data-parallel training over MPI: mpirun -np N flopslab train --distributed ...; each rank a shard of "
                  "every epoch, gradients averaged over the ranks (world size 1 without mpirun)");
  train->add_flag("--no-overlap", a->no_overlap,
                  "With --distributed: all-reduce the gradients after backward instead of during it (the comparison)");
  train->add_flag("--sync-bn", a->sync_bn,
                  "With --distributed: SyncBatchNorm, the batch statistics of the whole global batch (one all-reduce "
                  "per BatchNorm in forward and one in backward)");
  train->add_option("--bucket-kb", a->bucket_kb,
                    "With --distributed: gradient bucket size in KiB  [DDP's: 1024 for the first, 25600 after]")
      ->type_name("N");
  train->add_flag("--data-on-gpu", a->data_on_gpu,
                  "With --device cuda: keep the training images on the GPU as 8-bit pixels (47 MB for Fashion-MNIST) "
                  "and gather and augment each batch there");
  train->add_option("--seed", a->seed, "Seed of initialisation, shuffling and dropout  [0]")->type_name("N");
  train->add_option("--data", a->data, "Directory of MNIST-format files  [/usr/share/datasets/fashion-mnist]")
      ->type_name("DIR");
  train->add_option("--out", a->out, "Directory for log.csv, steps.csv, checkpoint.bin, curves.png  "
                                     "[runs/<model>-<optimizer or recipe>-seed<seed>]")
      ->type_name("DIR");
  train->add_option("--train-limit", a->train_limit, "Use only the first N training images (0: all)  [0]")
      ->type_name("N");
  train->add_option("--test-limit", a->test_limit, "Use only the first N test images (0: all)  [0]")->type_name("N");
  train->add_option("--patience", a->patience,
                    "Stop when the test loss has not improved for N epochs (0: never). Fashion-MNIST has no separate "
                    "validation split here, so the test set serves  [0]")
      ->type_name("N");
  train->add_option("--workers", a->workers, "Threads preparing batches ahead (0: none)  [1]")->type_name("N");
  train->add_flag("--flip", a->flip, "Augment: flip each training image left-right with probability 1/2");
  train->add_option("--crop-padding", a->crop_padding, "Augment: pad by P zeros and crop back at a random offset (0: off)  [0]")
      ->type_name("P");
  train->add_option("--jitter", a->jitter,
                    "Augment: scale brightness and contrast by factors drawn from [LOW, HIGH], e.g. 0.5,1.5")
      ->type_name("LOW,HIGH");
  train->add_option("--mixup", a->mixup, "Augment: mixup with Beta(A, A) weights and mixed labels (0: off)  [0]")
      ->type_name("A");
  train->add_flag("--resume", a->resume, "Continue --out from its checkpoint (same result as not stopping)");
  add_force_flag(*train, a->force, "Replace --out if it exists");
  add_no_plots_flag(*train, a->no_plots, "Do not draw curves.png");
  add_no_progress_flag(*train, a->no_progress);
  run = [a, train](const std::string&) { return run_train(*a, *train); };
  return train;
}

}  // namespace flopslab::cli
