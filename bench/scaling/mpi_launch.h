// Starting this program again on several ranks of this machine under Open MPI's mpirun, for
// the commands that measure between ranks without asking the user to type mpirun: lesson 21
// and `flopslab allreduce` / `flopslab scale` when run on their own.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace flopslab::bench {

// The shell command that runs this executable with `args` on `ranks` ranks: --oversubscribe
// where the machine has fewer cores than ranks, and as root the two variables Open MPI asks
// for before it runs as root (set for this child only). Throws std::runtime_error naming what
// is missing when there is no mpirun or the build has no MPI.
std::string mpirun_self_command(int ranks, const std::vector<std::string>& args);
// Runs it and returns its exit status and its output (stdout and stderr together); with
// `stream` the output also goes to this process's stdout as it comes.
std::pair<int, std::string> run_self_under_mpirun(int ranks, const std::vector<std::string>& args, bool stream = false);

}  // namespace flopslab::bench
