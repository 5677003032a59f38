// The communicator-independent parts of nn/distributed.h, and the single-process one.
#include "nn/distributed.h"
#include "nn/device.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace flopslab::nn {

void SingleProcess::exchange(const float* send, float* receive, std::int64_t n, int to, int from) {
  if (to != 0 || from != 0) throw std::invalid_argument("exchange: a single process has only rank 0");
  std::copy_n(send, n, receive);
}

void SingleProcess::abort(const std::string& message, int exit_code) {
  std::fprintf(stderr, "%s\n", message.c_str());
  std::fflush(stderr);
  std::_Exit(exit_code);
}

std::unique_ptr<Communicator> single_process() { return std::make_unique<SingleProcess>(); }

bool launched_by_mpi() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "MPI_LOCALNRANKS"})
    if (std::getenv(v) != nullptr) return true;
  return false;
}

std::string disagreement_with_rank0(Communicator& comm, const std::vector<double>& values,
                                    const std::vector<std::string>& names) {
  std::vector<double> root = values;
  comm.broadcast(root.data(), std::int64_t(root.size()), 0);
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i)
    if (root[i] != values[i]) {
      if (!out.empty()) out += "; ";
      char line[256];
      std::snprintf(line, sizeof line, "%s is %.17g on rank %d but %.17g on rank 0", names.at(i).c_str(), values[i],
                    comm.rank(), root[i]);
      out += line;
    }
  return out;
}

std::vector<std::int64_t> shard_of(const std::vector<std::int64_t>& order, int rank, int world) {
  if (world < 1 || rank < 0 || rank >= world)
    throw std::invalid_argument("shard_of: rank " + std::to_string(rank) + " of world " + std::to_string(world));
  const std::size_t total = (order.size() + std::size_t(world) - 1) / std::size_t(world) * std::size_t(world);
  std::vector<std::int64_t> shard;
  if (order.empty()) return shard;
  for (std::size_t i = std::size_t(rank); i < total; i += std::size_t(world)) shard.push_back(order[i % order.size()]);
  return shard;
}

#ifndef FLOPSLAB_HAVE_CUDA  // the CPU-only build's stand-in of the GPU half (nn/device.h's no_cuda)
std::unique_ptr<DeviceCollectives> nccl_collectives(Communicator&) { no_cuda("GPU ranks over NCCL"); }
#endif

}  // namespace flopslab::nn
