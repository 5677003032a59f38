// nn/distributed.h over MPI (Debian's OpenMPI). Built when CMake finds MPI.
#include <mpi.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>

#include "nn/distributed.h"

namespace flopslab::nn {
namespace {

void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw std::runtime_error(std::string(what) + " failed: " + std::string(text, std::size_t(length)));
}

// MPI counts are ints: large buffers go in pieces.
template <class F>
void in_pieces(std::int64_t n, F f) {
  constexpr std::int64_t kPiece = std::int64_t(1) << 30;
  for (std::int64_t at = 0; at < n; at += kPiece) f(at, int(std::min(kPiece, n - at)));
}

class Mpi final : public Communicator {
 public:
  Mpi() {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) {
      int provided = 0;
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      owns_ = true;
    }
    // Errors come back as codes (and become exceptions here) instead of aborting in MPI.
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
    MPI_Comm local;
    check(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local), "MPI_Comm_split_type");
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    MPI_Get_library_version(version, &length);
    std::string v(version, std::size_t(length));
    if (const auto comma = v.find(','); comma != std::string::npos) v = v.substr(0, comma);
    backend_ = "mpi (" + v + ")";
  }
  ~Mpi() override {
    for (auto& [id, request] : pending_) MPI_Wait(&request, MPI_STATUS_IGNORE);
    if (owns_) MPI_Finalize();
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }
  int local_rank() const override { return local_rank_; }
  std::string backend() const override { return backend_; }

  void broadcast(float* data, std::int64_t n, int root) override {
    in_pieces(n, [&](std::int64_t at, int count) { check(MPI_Bcast(data + at, count, MPI_FLOAT, root, MPI_COMM_WORLD), "MPI_Bcast"); });
  }
  void broadcast(double* data, std::int64_t n, int root) override {
    in_pieces(n, [&](std::int64_t at, int count) { check(MPI_Bcast(data + at, count, MPI_DOUBLE, root, MPI_COMM_WORLD), "MPI_Bcast"); });
  }
  void allreduce_sum(float* data, std::int64_t n) override {
    in_pieces(n, [&](std::int64_t at, int count) {
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, count, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    });
  }
  void allreduce_sum(double* data, std::int64_t n) override {
    in_pieces(n, [&](std::int64_t at, int count) {
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, count, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD), "MPI_Allreduce");
    });
  }
  void allreduce_max(double* data, std::int64_t n) override {
    in_pieces(n, [&](std::int64_t at, int count) {
      check(MPI_Allreduce(MPI_IN_PLACE, data + at, count, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD), "MPI_Allreduce");
    });
  }
  int start_allreduce_sum(float* data, std::int64_t n) override {
    if (n > (std::int64_t(1) << 30)) throw std::invalid_argument("start_allreduce_sum: a bucket of more than 2^30 floats");
    MPI_Request request;
    check(MPI_Iallreduce(MPI_IN_PLACE, data, int(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD, &request), "MPI_Iallreduce");
    pending_[next_] = request;
    return next_++;
  }
  bool test(int id) override {
    auto it = pending_.find(id);
    if (it == pending_.end()) return true;
    int done = 0;
    check(MPI_Test(&it->second, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) pending_.erase(it);
    return done != 0;
  }
  void wait(int id) override {
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    check(MPI_Wait(&it->second, MPI_STATUS_IGNORE), "MPI_Wait");
    pending_.erase(it);
  }
  void exchange(const float* send, float* receive, std::int64_t n, int to, int from) override {
    in_pieces(n, [&](std::int64_t at, int count) {
      check(MPI_Sendrecv(send + at, count, MPI_FLOAT, to, 21, receive + at, count, MPI_FLOAT, from, 21, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE),
            "MPI_Sendrecv");
    });
  }
  void barrier() override { check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier"); }
  [[noreturn]] void abort(const std::string& message, int exit_code) override {
    std::fprintf(stderr, "%s\n", message.c_str());
    std::fflush(stderr);
    if (world_ == 1 && owns_) {  // nobody else to stop: leave as a normal failing process does
      MPI_Finalize();
      std::_Exit(exit_code);
    }
    MPI_Abort(MPI_COMM_WORLD, exit_code);
    std::_Exit(exit_code);
  }

 private:
  int rank_ = 0, world_ = 1, local_rank_ = 0, next_ = 1;
  bool owns_ = false;
  std::string backend_;
  std::map<int, MPI_Request> pending_;
};

}  // namespace

bool have_mpi() { return true; }
std::unique_ptr<Communicator> mpi_communicator() { return std::make_unique<Mpi>(); }

}  // namespace flopslab::nn
