// Atomic writes (a temporary file renamed into place) and the output-location checks.
#include "harness/files.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>

namespace flopslab::bench {

namespace fs = std::filesystem;

namespace {
// The first ancestor of `p` that exists but is not a directory (a path through a file), or "".
std::string file_in_the_way(const fs::path& p) {
  for (fs::path a = p; !a.empty() && a != a.root_path(); a = a.parent_path()) {
    std::error_code ec;
    if (fs::exists(a, ec) && !fs::is_directory(a, ec)) return a.string();
  }
  return {};
}
}  // namespace

std::string output_location_problem(const std::string& path) {
  if (path.empty()) return "an empty path";
  fs::path parent = fs::absolute(path).parent_path();
  if (const std::string file = file_in_the_way(parent); !file.empty())
    return fmt::format("cannot create {}: {} is a file, not a directory", path, file);
  // The deepest directory that exists: the missing ones below it are made when writing.
  std::error_code ec;
  while (!fs::exists(parent, ec) && parent.has_relative_path()) parent = parent.parent_path();
  const fs::path probe = parent / fmt::format(".flopslab-write-test-{}", ::getpid());
  if (::mkdir(probe.c_str(), 0700) != 0) {
    const int err = errno;
    // /proc and /sys answer ENOENT to any new entry.
    return err == ENOENT ? fmt::format("cannot create {}: {} takes no new files", path, parent.string())
                         : fmt::format("cannot create {}: {}", path, std::strerror(err));
  }
  ::rmdir(probe.c_str());
  return {};
}

// The missing directories above an output file; throws OutputError naming `path`.
static void create_parent_dirs(const std::string& path) {
  std::error_code ec;
  fs::create_directories(fs::absolute(path).parent_path(), ec);
  if (ec) throw OutputError(fmt::format("cannot create {}: {}", path, ec.message()));
}

void create_output_dir(const std::string& path) {
  if (const std::string file = file_in_the_way(fs::absolute(path).parent_path()); !file.empty())
    throw OutputError(fmt::format("cannot create {}: {} is a file, not a directory", path, file));
  std::error_code ec;
  fs::remove_all(path, ec);
  if (!ec) fs::create_directories(path, ec);
  if (ec) throw OutputError(fmt::format("cannot create {}: {}", path, ec.message()));
}

void write_file_atomically(const std::string& path, const std::string& content) {
  create_parent_dirs(path);
  const std::string tmp = fmt::format("{}.tmp-{}", path, ::getpid());
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw OutputError(fmt::format("cannot write {}: {}", path, std::strerror(errno)));
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    out.flush();
    if (!out) {
      const int err = errno;
      std::remove(tmp.c_str());
      throw OutputError(fmt::format("cannot write {}: {}", path, std::strerror(err)));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    std::remove(tmp.c_str());
    throw OutputError(fmt::format("cannot write {}: {}", path, std::strerror(err)));
  }
}

namespace {
std::int64_t meminfo_field(const char* field) {
  std::ifstream in("/proc/meminfo");
  std::string key, unit;
  std::int64_t value = 0;
  while (in >> key >> value) {
    std::getline(in, unit);
    if (key == field) return value * 1024;  // reported in kB
  }
  return -1;
}
}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::vector<std::map<std::string, std::string>> read_csv(const std::string& path) {
  std::istringstream in(read_file(path));
  auto cells = [](const std::string& line) {
    std::vector<std::string> out;
    std::istringstream l(line);
    for (std::string cell; std::getline(l, cell, ',');) out.push_back(cell);
    if (!line.empty() && line.back() == ',') out.emplace_back();
    return out;
  };
  std::string line;
  std::getline(in, line);
  const std::vector<std::string> header = cells(line);
  std::vector<std::map<std::string, std::string>> rows;
  for (int number = 2; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const std::vector<std::string> row = cells(line);
    if (row.size() != header.size())
      throw std::runtime_error(fmt::format("{}: row {} has {} cells for {} columns", path, number, row.size(), header.size()));
    auto& r = rows.emplace_back();
    for (std::size_t i = 0; i < row.size(); ++i) r[header[i]] = row[i];
  }
  return rows;
}

std::int64_t available_memory_bytes() { return meminfo_field("MemAvailable:"); }
std::int64_t total_memory_bytes() { return meminfo_field("MemTotal:"); }

}  // namespace flopslab::bench
