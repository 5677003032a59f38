// Writing results without ever leaving a half-written file behind.
#pragma once

#include <cstdint>
#include <string>
#include <map>
#include <stdexcept>
#include <utility>
#include <vector>

#include "harness/format.h"  // format_bytes, which every caller of these wants

namespace flopslab::bench {

// An output the user named that cannot be written: the command line maps it to exit 2, its
// message one line naming the path as the user gave it ("cannot create /proc/x: ...").
struct OutputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Whether `path` (a file or directory to be written) can be created, checked before any
// measuring and without leaving anything behind: no file stands in the way, and a probe
// entry can be made (and is removed) in the deepest of its directories that exists. Empty
// when it can; otherwise why not, naming the path as given. The writer creates the missing
// directories (create_output_dir, or write_file_atomically for a file).
std::string output_location_problem(const std::string& path);


// An output directory, made empty: `path` removed if it exists, then created with its parents.
// Throws OutputError naming `path`.
void create_output_dir(const std::string& path);

// Writes to "<path>.tmp-<pid>" and renames it over <path>; the rename is atomic, so a reader
// (or a crash) sees either the old file or the complete new one. Throws OutputError naming
// <path> (not the temporary) when either step fails.
void write_file_atomically(const std::string& path, const std::string& content);

// The whole file; throws std::runtime_error("cannot read PATH").
std::string read_file(const std::string& path);

// A CSV file with a header row (no quoting, as flopslab writes them): one map per row from the
// column's name to its cell. Throws std::runtime_error("cannot read PATH") or naming the row
// whose cells do not match the header.
std::vector<std::map<std::string, std::string>> read_csv(const std::string& path);

// Bytes of memory the OS can still hand out (MemAvailable), or -1 when unknown.
std::int64_t available_memory_bytes();
// Total memory the OS sees (MemTotal), or -1 when unknown.
std::int64_t total_memory_bytes();

}  // namespace flopslab::bench
