// nn/distributed.h's DeviceCollectives over NCCL, loaded with dlopen: NCCL ships beside the
// CUDA toolkit (or inside PyTorch's packages), not with the driver, and a binary linked to it
// would not start where it is missing.
#include <cuda_runtime.h>
#include "kernels/shared_library.h"

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "nn/device.h"
#include "nn/distributed.h"

#if __has_include(<nccl.h>)
#include <nccl.h>
#else  // NCCL 2's ABI, for toolkits without its header
typedef struct ncclComm* ncclComm_t;
typedef struct { char internal[128]; } ncclUniqueId;
typedef enum { ncclSuccess = 0 } ncclResult_t;
typedef enum { ncclSum = 0 } ncclRedOp_t;
typedef enum { ncclFloat32 = 7 } ncclDataType_t;
#endif

namespace flopslab::nn {
namespace {

struct Nccl {
  ncclResult_t (*get_unique_id)(ncclUniqueId*) = nullptr;
  ncclResult_t (*init_rank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*all_reduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*destroy)(ncclComm_t) = nullptr;
  const char* (*error_string)(ncclResult_t) = nullptr;
  ncclResult_t (*version)(int*) = nullptr;
  std::string why;  // empty when loaded

  Nccl() {
    SharedLibrary lib("libnccl.so.2");
    if (!lib.loaded()) {
      why = "NCCL not found (libnccl.so.2 comes with the CUDA toolkit's NCCL or PyTorch's nvidia-nccl package)";
      return;
    }
    lib.bind(get_unique_id, "ncclGetUniqueId");
    lib.bind(init_rank, "ncclCommInitRank");
    lib.bind(all_reduce, "ncclAllReduce");
    lib.bind(broadcast, "ncclBroadcast");
    lib.bind(destroy, "ncclCommDestroy");
    lib.bind(error_string, "ncclGetErrorString");
    lib.bind(version, "ncclGetVersion");
    if (!lib.first_missing().empty()) why = "libnccl.so.2 lacks " + lib.first_missing() + ", which flopslab uses";
  }
  void check(ncclResult_t r, const char* what) const {
    if (r != ncclSuccess) throw std::runtime_error(std::string(what) + " failed: " + error_string(r));
  }
};

const Nccl& nccl() {
  static const Nccl loaded;
  return loaded;
}

void check_cuda(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string(what) + " failed: " + cudaGetErrorString(e));
}

class NcclCollectives final : public DeviceCollectives {
 public:
  NcclCollectives(Communicator& comm, int device) : device_(device) {
    const Nccl& n = nccl();
    int v = 0;
    n.check(n.version(&v), "ncclGetVersion");
    backend_ = "nccl " + std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
    // Rank 0's id to every rank, through the host communicator (128 bytes as 32 floats: MPI
    // copies the bits).
    ncclUniqueId id;
    if (comm.rank() == 0) n.check(n.get_unique_id(&id), "ncclGetUniqueId");
    std::vector<float> words(sizeof id / sizeof(float));
    std::memcpy(words.data(), &id, sizeof id);
    comm.broadcast(words.data(), std::int64_t(words.size()), 0);
    std::memcpy(&id, words.data(), sizeof id);
    n.check(n.init_rank(&comm_, comm.world(), id, comm.rank()), "ncclCommInitRank");
    check_cuda(cudaStreamCreateWithFlags(&side_, cudaStreamNonBlocking), "cudaStreamCreate");
    check_cuda(cudaEventCreateWithFlags(&queued_, cudaEventDisableTiming), "cudaEventCreate");
    check_cuda(cudaEventCreateWithFlags(&reduced_, cudaEventDisableTiming), "cudaEventCreate");
  }
  ~NcclCollectives() override {
    cudaStreamSynchronize(side_);
    nccl().destroy(comm_);
    cudaEventDestroy(queued_);
    cudaEventDestroy(reduced_);
    cudaStreamDestroy(side_);
  }
  std::string backend() const override { return backend_; }
  int device() const override { return device_; }

  void start_allreduce_sum(float* data, std::int64_t n) override {
    auto stack = static_cast<cudaStream_t>(cuda_stream());
    check_cuda(cudaEventRecord(queued_, stack), "cudaEventRecord");  // the gradients are written
    check_cuda(cudaStreamWaitEvent(side_, queued_, 0), "cudaStreamWaitEvent");
    nccl().check(nccl().all_reduce(data, data, size_t(n), ncclFloat32, ncclSum, comm_, side_), "ncclAllReduce");
    pending_ = true;
  }
  void join() override {
    if (!pending_) return;
    check_cuda(cudaEventRecord(reduced_, side_), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(static_cast<cudaStream_t>(cuda_stream()), reduced_, 0), "cudaStreamWaitEvent");
    pending_ = false;
  }
  void broadcast(float* data, std::int64_t n, int root) override {
    auto stack = static_cast<cudaStream_t>(cuda_stream());
    check_cuda(cudaEventRecord(queued_, stack), "cudaEventRecord");
    check_cuda(cudaStreamWaitEvent(side_, queued_, 0), "cudaStreamWaitEvent");
    nccl().check(nccl().broadcast(data, data, size_t(n), ncclFloat32, root, comm_, side_), "ncclBroadcast");
    pending_ = true;
    join();
  }

 private:
  int device_;
  ncclComm_t comm_ = nullptr;
  cudaStream_t side_ = nullptr;
  cudaEvent_t queued_ = nullptr, reduced_ = nullptr;
  bool pending_ = false;
  std::string backend_;
};

}  // namespace

std::unique_ptr<DeviceCollectives> nccl_collectives(Communicator& comm) {
  // Every rank finds out what it lacks first, and all stop together if one does: a rank that
  // threw alone would leave the others waiting in ncclCommInitRank.
  std::string problem;
  int devices = 0;
  if (const char* why = cuda_unusable(); why != nullptr) problem = why;
  else if (!nccl().why.empty()) problem = nccl().why;
  else if (cudaGetDeviceCount(&devices) != cudaSuccess || comm.local_rank() >= devices)
    problem = "this machine has " + std::to_string(devices) + " GPU(s) for more ranks than that; NCCL needs one GPU per rank "
              "(start at most as many ranks per machine as it has GPUs)";
  double failed = problem.empty() ? 0 : 1;
  comm.allreduce_max(&failed, 1);
  if (!problem.empty()) throw std::runtime_error("rank " + std::to_string(comm.rank()) + ": " + problem);
  if (failed > 0) throw std::runtime_error("rank " + std::to_string(comm.rank()) + " stops: another rank cannot use NCCL (its line says why)");
  check_cuda(cudaSetDevice(comm.local_rank()), "cudaSetDevice");
  return std::make_unique<NcclCollectives>(comm, comm.local_rank());
}

}  // namespace flopslab::nn
