// nn/distributed.h in a build without MPI: only the single process.
#include <stdexcept>

#include "nn/distributed.h"

namespace flopslab::nn {
bool have_mpi() { return false; }
std::unique_ptr<Communicator> mpi_communicator() {
  throw std::runtime_error("this build has no MPI (install libopenmpi-dev and reconfigure; scripts/setup does)");
}
}  // namespace flopslab::nn
