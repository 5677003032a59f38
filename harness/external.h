// Child processes a measurement hands work to: a shell command, scripts/plot (the charts) and
// the PyTorch twins (scripts/torch_twin.py, scripts/torch_infer_twin.py). Used by the report,
// training, inference, scaling and compare alike.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "harness/json.h"

namespace flopslab::bench {

// Runs a command through /bin/sh; returns its exit status (-1 if it did not exit normally) and
// its stdout and stderr together; with `echo` the output also goes to this process's stdout as
// it comes.
std::pair<int, std::string> run_shell(const std::string& command, bool echo = false);

// A word for /bin/sh: 'it'\''s' for it's.
std::string shell_quote(const std::string& s);
// The last non-empty line of a command's output (for one-line error messages).
std::string last_line(std::string text);

// Runs scripts/plot on a directory holding report.json (or a run's log.csv, a compare, a
// scale). Returns "" when it drew the charts, otherwise the reason it could not (no python3,
// no matplotlib, script missing, ...).
std::string run_plot_script(const std::string& dir);

// The python3 whose PyTorch is newest here: scripts/setup-peers's virtual environment, else
// Debian's interpreter; empty when neither has PyTorch.
std::string torch_python();

// Runs scripts/<script> under `python` (FLOPSLAB_TWIN_NO_VENV=1, so it stays on that
// interpreter) with `args` and --json, and parses its last line. On failure (no python, a
// non-zero exit, output that is not JSON) returns nothing and says why in `why`.
std::optional<Json> run_torch_script(const std::string& python, const std::string& script, const std::string& args,
                                     std::string& why);

}  // namespace flopslab::bench
