// Data-parallel training's communication (seed 001: ranks, local rank, world size, the
// gradient all-reduce): one interface, over MPI for CPU ranks (Debian's OpenMPI) or a single
// process. Every rank calls the same collectives in the same order, as MPI requires.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace flopslab::nn {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  virtual int local_rank() const = 0;  // rank among the ranks on this machine
  virtual std::string backend() const = 0;  // "mpi (Open MPI 4.1.4)", "single process"

  virtual void broadcast(float* data, std::int64_t n, int root) = 0;
  virtual void broadcast(double* data, std::int64_t n, int root) = 0;
  virtual void allreduce_sum(float* data, std::int64_t n) = 0;  // in place, every rank gets the sum
  virtual void allreduce_sum(double* data, std::int64_t n) = 0;
  virtual void allreduce_max(double* data, std::int64_t n) = 0;
  // A non-blocking sum in place: returns a handle; test() lets it progress (MPI moves data
  // only inside MPI calls) and says whether it finished; wait() blocks until it has.
  virtual int start_allreduce_sum(float* data, std::int64_t n) = 0;
  virtual bool test(int request) = 0;
  virtual void wait(int request) = 0;
  // One step of a ring: sends n floats to rank `to` while receiving n from rank `from` (both
  // at once, MPI_Sendrecv), the unit the ring all-reduce repeats 2(N-1) times.
  virtual void exchange(const float* send, float* receive, std::int64_t n, int to, int from) = 0;
  virtual void barrier() = 0;
  // Ends every rank: the message on this rank's stderr, then the launcher stops the others.
  [[noreturn]] virtual void abort(const std::string& message, int exit_code) = 0;
};

// GPU ranks, one GPU per rank: collectives on device buffers over NCCL. Each runs on a side
// stream of its own, after the work already queued on the stack's stream (nn::cuda_stream()),
// so an all-reduce started during backward crosses while the layers below compute.
class DeviceCollectives {
 public:
  virtual ~DeviceCollectives() = default;
  virtual std::string backend() const = 0;  // "nccl 2.28.3"
  virtual int device() const = 0;           // the CUDA device this rank uses
  // Sums n floats at the device pointer over the ranks, in place; returns at once.
  virtual void start_allreduce_sum(float* data, std::int64_t n) = 0;
  // The stack's stream waits (on the GPU, not the host) for every all-reduce started so far.
  virtual void join() = 0;
  // Rank root's n floats into every rank's `data` (device), then join().
  virtual void broadcast(float* data, std::int64_t n, int root) = 0;
};
// Takes the GPU of this rank's local rank and builds NCCL's communicator over the ranks of
// `comm` (rank 0's NCCL id sent through it). NCCL is loaded at run time (libnccl.so.2), so the
// program starts without it. Collective: every rank calls it. Throws std::runtime_error, on
// every rank, when the build has no CUDA, a rank finds no usable GPU or no NCCL, or a machine
// has fewer GPUs than ranks on it (NCCL needs a GPU per rank), naming which.
std::unique_ptr<DeviceCollectives> nccl_collectives(Communicator& comm);

// World size 1, no launcher needed: every collective is a no-op.
// One process, world size 1: every collective leaves the data as it is. Tests derive from it
// to fake a larger world without MPI.
class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int world() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string backend() const override { return "single process"; }
  void broadcast(float*, std::int64_t, int) override {}
  void broadcast(double*, std::int64_t, int) override {}
  void allreduce_sum(float*, std::int64_t) override {}
  void allreduce_sum(double*, std::int64_t) override {}
  void allreduce_max(double*, std::int64_t) override {}
  int start_allreduce_sum(float*, std::int64_t) override { return 0; }
  bool test(int) override { return true; }
  void wait(int) override {}
  void exchange(const float* send, float* receive, std::int64_t n, int to, int from) override;
  void barrier() override {}
  [[noreturn]] void abort(const std::string& message, int exit_code) override;
};
std::unique_ptr<Communicator> single_process();
// MPI_Init_thread (funneled: only the training thread calls MPI). Without an MPI launcher MPI
// starts a singleton, world size 1. Throws std::runtime_error when the build has no MPI.
std::unique_ptr<Communicator> mpi_communicator();
bool have_mpi();  // whether this build links MPI
// Whether the process was started by mpirun (Open MPI's or a PMI launcher's variables).
bool launched_by_mpi();

// One line per disagreement between this rank's `values` and rank 0's (empty when all ranks
// agree), each naming the entry in `names`: the start-up check that ranks train the same model
// on the same data. Collective: every rank must call it with the same number of values.
std::string disagreement_with_rank0(Communicator& comm, const std::vector<double>& values,
                                    const std::vector<std::string>& names);

// PyTorch's DistributedSampler: the epoch's shuffled order (the same on every rank), padded
// by repeating its start to a multiple of `world`, then every world-th index from `rank`.
std::vector<std::int64_t> shard_of(const std::vector<std::int64_t>& order, int rank, int world);

}  // namespace flopslab::nn
