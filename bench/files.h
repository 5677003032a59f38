// Writing results without ever leaving a half-written file behind.
#pragma once

#include <cstdint>
#include <string>
#include <map>
#include <utility>
#include <vector>

namespace flopslab::bench {

// Writes to "<path>.tmp-<pid>" and renames it over <path>; the rename is atomic, so a reader
// (or a crash) sees either the old file or the complete new one.
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

// Runs a command through /bin/sh; returns its exit status (-1 if it did not exit normally) and
// its stdout and stderr together; with `echo` the output also goes to this process's stdout as
// it comes.
std::pair<int, std::string> run_shell(const std::string& command, bool echo = false);

// A word for /bin/sh: 'it'\''s' for it's.
std::string shell_quote(const std::string& s);
// The last non-empty line of a command's output (for one-line error messages).
std::string last_line(std::string text);

// "1.50 GiB", "512 KiB", "17 B".
std::string format_bytes(double bytes);

}  // namespace flopslab::bench
