#include "cli/args.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>

#include <fmt/format.h>

namespace flopslab::cli {
namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (true) {
    const std::size_t end = text.find(sep, start);
    parts.push_back(text.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return parts;
    start = end + 1;
  }
}

}  // namespace

long long parse_integer(const std::string& option, const std::string& text, long long low, long long high) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec == std::errc::invalid_argument || end != text.data() + text.size())
    throw UsageError(fmt::format("{}: '{}' is not a whole number", option, text));
  if (ec == std::errc::result_out_of_range || value > high)
    throw UsageError(fmt::format("{}: {} is too large (at most {})", option, text, high));
  if (value < low)
    throw UsageError(fmt::format("{}: {} is too small (at least {})", option, text, low));
  return value;
}

std::int64_t parse_bytes(const std::string& option, const std::string& text, std::int64_t low, std::int64_t high) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const std::string number = text.substr(0, digits), unit = text.substr(digits);
  int shift = -1;
  for (const auto& [names, s] : {std::pair{std::vector<std::string>{"", "B"}, 0},
                                 std::pair{std::vector<std::string>{"K", "KiB", "k"}, 10},
                                 std::pair{std::vector<std::string>{"M", "MiB"}, 20},
                                 std::pair{std::vector<std::string>{"G", "GiB"}, 30}})
    if (std::find(names.begin(), names.end(), unit) != names.end()) shift = s;
  if (number.empty() || shift < 0)
    throw UsageError(fmt::format("{}: '{}' is not a size; use a number with K, M or G (binary), e.g. 512M or 1G",
                                 option, text));
  const long long value = parse_integer(option, number, 0, std::numeric_limits<long long>::max() >> 30);
  const std::int64_t bytes = std::int64_t(value) << shift;
  if (bytes < low) throw UsageError(fmt::format("{}: {} is too small (at least {} bytes)", option, text, low));
  if (bytes > high) throw UsageError(fmt::format("{}: {} is too large (at most {} bytes)", option, text, high));
  return bytes;
}

double parse_seconds(const std::string& option, const std::string& text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value))
    throw UsageError(fmt::format("{}: '{}' is not a number of seconds", option, text));
  if (value <= 0) throw UsageError(fmt::format("{}: {} must be more than 0 seconds", option, text));
  return value;
}

std::vector<gemm::Shape> parse_sizes(const std::string& option, const std::string& text) {
  std::vector<gemm::Shape> shapes;
  for (const std::string& item : split(text, ',')) {
    const std::vector<std::string> dims = split(item, 'x');
    if (item.empty() || (dims.size() != 1 && dims.size() != 3))
      throw UsageError(fmt::format("{}: '{}' is not a size; use N for N x N x N or MxNxK, e.g. 256,1000x500x300",
                                   option, item));
    std::vector<std::int64_t> v;
    for (const std::string& d : dims) v.push_back(parse_integer(option, d, 1, kMaxDimension));
    shapes.push_back(dims.size() == 1 ? gemm::Shape{v[0], v[0], v[0]} : gemm::Shape{v[0], v[1], v[2]});
  }
  return shapes;
}

std::vector<int> parse_threads(const std::string& option, const std::string& text, int all_threads) {
  std::vector<int> threads;
  for (const std::string& item : split(text, ',')) {
    const int t = item == "all" ? all_threads : static_cast<int>(parse_integer(option, item, 1, kMaxThreads));
    if (std::find(threads.begin(), threads.end(), t) == threads.end()) threads.push_back(t);
  }
  return threads;
}

std::string variant_names(Device device) {
  std::string names;
  for (const GemmVariant* v : gemm_variants())
    if (v->device == device) names += (names.empty() ? "" : ", ") + std::string(v->name);
  return names;
}

std::vector<const GemmVariant*> parse_variants(const std::string& option, const std::string& text,
                                               Device device) {
  std::vector<const GemmVariant*> chosen;
  for (const std::string& name : split(text, ',')) {
    if (name == "all") {
      for (const GemmVariant* v : gemm_variants())
        if (v->device == device && std::find(chosen.begin(), chosen.end(), v) == chosen.end()) chosen.push_back(v);
      continue;
    }
    const GemmVariant* v = find_gemm_variant(name);
    if (v == nullptr || v->device != device)
      throw UsageError(fmt::format("{}: unknown variant '{}' (valid: {}, all)", option, name, variant_names(device)));
    if (std::find(chosen.begin(), chosen.end(), v) == chosen.end()) chosen.push_back(v);
  }
  return chosen;
}

}  // namespace flopslab::cli
