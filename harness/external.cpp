// Running child processes: shell commands, scripts/plot and the PyTorch twins, with their last
// lines kept.
#include "harness/external.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include <fmt/format.h>

#include "harness/build_info.h"

namespace flopslab::bench {
namespace fs = std::filesystem;

std::pair<int, std::string> run_shell(const std::string& command, bool echo) {
  std::string output;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "could not start a shell"};
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe) != nullptr) {
    output += buf;
    if (echo) std::fputs(buf, stdout), std::fflush(stdout);
  }
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string last_line(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const std::size_t nl = text.rfind('\n');
  return nl == std::string::npos ? text : text.substr(nl + 1);
}

std::string run_plot_script(const std::string& dir) {
  std::string script = fmt::format("{}/scripts/plot", build_info().source_dir);
  if (const char* env = std::getenv("FLOPSLAB_PLOT_SCRIPT")) script = env;
  if (!fs::exists(script)) return fmt::format("charts not drawn: {} not found", script);
  // Debian's interpreter carries python3-matplotlib; a python3 earlier on PATH may not (or may
  // be the only one that has it, as on hosts with a Python distribution of their own).
  std::string output;
  for (const char* python : {"/usr/bin/python3", "python3"}) {
    if (python[0] == '/' && !fs::exists(python)) continue;
    const auto [status, out] = run_shell(fmt::format("{} {} {}", python, shell_quote(script), shell_quote(dir)));
    if (status == 0) return {};
    output = out;
    if (out.find("No module named 'matplotlib'") == std::string::npos) break;  // a real failure: report it
  }
  if (output.find("No module named 'matplotlib'") != std::string::npos)
    return "charts not drawn: matplotlib is missing (sudo apt-get install python3-matplotlib)";
  return fmt::format("charts not drawn: scripts/plot failed: {}", last_line(output));
}

std::optional<Json> run_torch_script(const std::string& python, const std::string& script, const std::string& args,
                                     std::string& why) {
  if (python.empty()) {
    why = "no PyTorch here (scripts/setup-peers installs the newest from PyPI; or sudo apt-get install python3-torch)";
    return std::nullopt;
  }
  const std::string path = std::string(build_info().source_dir) + "/scripts/" + script;
  const auto [status, out] =
      run_shell(fmt::format("FLOPSLAB_TWIN_NO_VENV=1 {} {} {} --json 2>&1", shell_quote(python), shell_quote(path), args));
  if (status != 0) {
    why = "the PyTorch twin failed: " + last_line(out);
    return std::nullopt;
  }
  try {
    return Json::parse(last_line(out));
  } catch (const std::exception& e) {
    why = std::string("the PyTorch twin's output was not understood: ") + e.what();
    return std::nullopt;
  }
}

std::string torch_python() {
  if (const char* chosen = std::getenv("FLOPSLAB_PYTHON"); chosen != nullptr && *chosen != '\0') return chosen;
  const std::string venv = std::string(build_info().source_dir) + "/.peers/torch/bin/python3";
  for (const std::string& python : {venv, std::string("/usr/bin/python3")}) {
    if (!fs::exists(python)) continue;
    const auto [status, out] = run_shell(shell_quote(python) + " -c 'import torch' 2>&1");
    if (status == 0) return python;
  }
  return {};
}

}  // namespace flopslab::bench
