// Relaunching flopslab on several ranks under mpirun and collecting what the ranks wrote.
#include "bench/scaling/mpi_launch.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <fmt/format.h>

#include "harness/files.h"
#include "nn/distributed.h"
#include "harness/external.h"

namespace flopslab::bench {

// The path of mpirun on PATH, or "" when there is none.
static std::string find_mpirun() {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path != nullptr ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? std::string(".") : dir) + "/mpirun";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::string mpirun_self_command(int ranks, const std::vector<std::string>& args) {
  if (!nn::have_mpi()) throw std::runtime_error("this build has no MPI (scripts/setup installs libopenmpi-dev)");
  const std::string mpirun = find_mpirun();
  if (mpirun.empty()) throw std::runtime_error("mpirun is not on PATH (sudo apt-get install openmpi-bin)");
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  std::string command;
  if (::geteuid() == 0) command += "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 ";
  command += shell_quote(mpirun) + " -n " + std::to_string(ranks);
  if (int(std::thread::hardware_concurrency()) < ranks) command += " --oversubscribe";
  command += " " + shell_quote(self);
  for (const std::string& a : args) command += " " + shell_quote(a);
  return command;
}

std::pair<int, std::string> run_self_under_mpirun(int ranks, const std::vector<std::string>& args, bool stream) {
  return run_shell(mpirun_self_command(ranks, args), stream);
}

}  // namespace flopslab::bench
