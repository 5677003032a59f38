// Parsing the command line's values (sizes, lists, parts, devices) into UsageErrors when wrong.
#include "cli/args.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <limits>

#include <fmt/format.h>

#include "harness/files.h"
#include "nn/parts.h"

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

namespace {
bool parse_double(const std::string& text, double& value) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc() && end == text.data() + text.size() && std::isfinite(value);
}
}  // namespace

double parse_seconds(const std::string& option, const std::string& text) {
  double value = 0;
  if (!parse_double(text, value)) throw UsageError(fmt::format("{}: '{}' is not a number of seconds", option, text));
  if (value <= 0) throw UsageError(fmt::format("{}: {} must be more than 0 seconds", option, text));
  return value;
}

double parse_number(const std::string& option, const std::string& text, double low, double high) {
  double value = 0;
  if (!parse_double(text, value)) throw UsageError(fmt::format("{}: '{}' is not a number", option, text));
  if (value < low || value > high)
    throw UsageError(fmt::format("{}: {} is outside [{}, {}]", option, text, low, high));
  return value;
}

std::pair<double, double> parse_range(const std::string& option, const std::string& text, double low, double high) {
  const std::vector<std::string> parts = split(text, ',');
  if (parts.size() != 2) throw UsageError(fmt::format("{}: '{}' should be LOW,HIGH", option, text));
  const double a = parse_number(option, parts[0], low, high), b = parse_number(option, parts[1], low, high);
  if (a > b) throw UsageError(fmt::format("{}: {} is more than {}", option, parts[0], parts[1]));
  return {a, b};
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

namespace {

template <class Variant>
std::string names_of(std::span<const Variant* const> all, Device device) {
  std::string names;
  for (const Variant* v : all)
    if (v->device == device) names += (names.empty() ? "" : ", ") + std::string(v->name);
  return names;
}

// "all", or names from the registry for this device, each once, in the order given.
template <class Variant>
std::vector<const Variant*> parse_registry_names(const std::string& option, const std::string& text, Device device,
                                                 std::span<const Variant* const> all) {
  std::vector<const Variant*> chosen;
  auto add = [&](const Variant* v) {
    if (std::find(chosen.begin(), chosen.end(), v) == chosen.end()) chosen.push_back(v);
  };
  for (const std::string& name : split(text, ',')) {
    if (name == "all") {
      for (const Variant* v : all)
        if (v->device == device) add(v);
      continue;
    }
    const auto found = std::find_if(all.begin(), all.end(), [&](const Variant* v) { return v->name == name; });
    if (found == all.end() || (*found)->device != device)
      throw UsageError(fmt::format("{}: unknown variant '{}' (valid: {}, all)", option, name, names_of(all, device)));
    add(*found);
  }
  return chosen;
}

}  // namespace

std::string variant_names(Device device) { return names_of(gemm_variants(), device); }

std::vector<const GemmVariant*> parse_variants(const std::string& option, const std::string& text, Device device) {
  return parse_registry_names(option, text, device, gemm_variants());
}

std::string conv_variant_names(Device device) { return names_of(conv_variants(), device); }

std::vector<const ConvVariant*> parse_conv_variants(const std::string& option, const std::string& text,
                                                    Device device) {
  return parse_registry_names(option, text, device, conv_variants());
}

conv::Shape parse_conv_shape(const std::string& option, const std::string& text) {
  const std::vector<std::string> fields = split(text, ',');
  if (fields.size() < 7 || fields.size() > 11)
    throw UsageError(fmt::format("{}: '{}' should be N,C,H,W,K,R,S[,stride[,pad[,dilation[,groups]]]] "
                                 "(7 to 11 fields, e.g. 8,64,56,56,64,3,3,1,1; stride, pad and dilation "
                                 "may be HxW, e.g. 8,64,28,28,64,7,1,1,3x0)",
                                 option, text));
  // [i][0] height, [i][1] width: only stride, pad and dilation (fields 7-9) may differ.
  long long v[11][2] = {{0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {0, 0}, {1, 1}, {0, 0}, {1, 1}, {1, 1}};
  const char* names[11] = {"N", "C", "H", "W", "K", "R", "S", "stride", "pad", "dilation", "groups"};
  auto number = [&](std::size_t i, const std::string& field) {
    return parse_integer(fmt::format("{} ({})", option, names[i]), field, std::numeric_limits<int>::min(),
                         std::numeric_limits<int>::max());
  };
  for (std::size_t i = 0; i < fields.size(); ++i) {
    const std::vector<std::string> hw = split(fields[i], 'x');
    if (hw.size() == 2 && i >= 7 && i <= 9 && !hw[0].empty() && !hw[1].empty())
      v[i][0] = number(i, hw[0]), v[i][1] = number(i, hw[1]);
    else if (hw.size() == 1)
      v[i][0] = v[i][1] = number(i, fields[i]);
    else
      throw UsageError(fmt::format("{} ({}): '{}' should be {}", option, names[i], fields[i],
                                   i >= 7 && i <= 9 ? "a whole number or HxW, e.g. 3x0" : "a whole number"));
  }
  const conv::Shape shape{.n = v[0][0], .c = v[1][0], .h = v[2][0], .w = v[3][0], .k = v[4][0], .r = v[5][0],
                          .s = v[6][0], .stride_h = v[7][0], .stride_w = v[7][1], .pad_h = v[8][0],
                          .pad_w = v[8][1], .dilation_h = v[9][0], .dilation_w = v[9][1], .groups = v[10][0]};
  if (const std::string problem = conv::shape_problem(shape); !problem.empty())
    throw UsageError(fmt::format("{}: {}: {}", option, text, problem));
  return shape;
}

std::vector<conv::Pass> parse_passes(const std::string& option, const std::string& text) {
  std::vector<conv::Pass> passes;
  for (const std::string& name : split(text, ',')) {
    bool known = false;
    for (conv::Pass p : {conv::Pass::forward, conv::Pass::backward_data, conv::Pass::backward_weights})
      if (name == conv::pass_name(p) || name == "all") {
        known = true;
        if (std::find(passes.begin(), passes.end(), p) == passes.end()) passes.push_back(p);
      }
    if (!known)
      throw UsageError(fmt::format("{}: unknown pass '{}' (valid: forward, backward-data, backward-weights, all)",
                                   option, name));
  }
  return passes;
}

}  // namespace flopslab::cli

namespace flopslab::cli {

std::vector<std::pair<std::string, double>> parse_part_multipliers(const std::string& option, const std::string& text) {
  std::vector<std::pair<std::string, double>> out;
  for (const std::string& item : split(text, ',')) {
    const auto eq = item.find('=');
    if (eq == std::string::npos)
      throw UsageError(fmt::format("{}: '{}' should be PART=X, e.g. body=0.1,head=1", option, item));
    const std::string part = item.substr(0, eq);
    if (!nn::parse_part_name(part))
      throw UsageError(fmt::format("{}: '{}' is not a part ({})", option, part, nn::kPartGrammar));
    const double m = parse_number(option, item.substr(eq + 1), 0, 1e6);
    if (m <= 0) throw UsageError(fmt::format("{}: the multiplier of {} must be more than 0", option, part));
    out.emplace_back(part, m);
  }
  return out;
}

std::vector<std::string> parse_parts(const std::string& option, const std::string& text) {
  std::vector<std::string> out;
  for (const std::string& part : split(text, ',')) {
    if (!nn::parse_part_name(part))
      throw UsageError(fmt::format("{}: '{}' is not a part ({})", option, part, nn::kPartGrammar));
    out.push_back(part);
  }
  return out;
}

std::vector<std::int64_t> parse_classes(const std::string& option, const std::string& text) {
  std::vector<std::int64_t> out;
  for (const std::string& item : split(text, ',')) {
    const auto dash = item.find('-');
    const std::int64_t first = parse_integer(option, item.substr(0, dash), 0, 9);
    const std::int64_t last = dash == std::string::npos ? first : parse_integer(option, item.substr(dash + 1), 0, 9);
    if (last < first) throw UsageError(fmt::format("{}: '{}' runs backwards", option, item));
    for (std::int64_t c = first; c <= last; ++c) {
      if (std::find(out.begin(), out.end(), c) != out.end())
        throw UsageError(fmt::format("{}: class {} is listed twice", option, c));
      out.push_back(c);
    }
  }
  if (out.size() < 2) throw UsageError(fmt::format("{}: a classifier needs at least 2 classes", option));
  return out;
}

gemm::InputFormat parse_precision(const std::string& option, const std::string& text) {
  for (gemm::InputFormat f : {gemm::InputFormat::fp32, gemm::InputFormat::bf16, gemm::InputFormat::fp16})
    if (text == gemm::input_format_name(f)) return f;
  throw UsageError(fmt::format("{}: '{}' is not a precision (valid: fp32, bf16, fp16)", option, text));
}

int parse_segments(const std::string& option, const std::string& text, int layers) {
  if (text == "all") return layers;
  if (text == "sqrt") return std::max(1, int(std::lround(std::sqrt(double(layers)))));
  return int(parse_integer(option, text, 0, layers));
}

void check_output_file(const std::string& option, const std::string& path) {
  if (path.empty()) return;
  if (std::filesystem::is_directory(path)) throw UsageError(fmt::format("{}: {} is a directory, not a file", option, path));
  if (const std::string problem = bench::output_location_problem(path); !problem.empty())
    throw UsageError(option + ": " + problem);
}

void check_output_dir(const std::string& option, const std::string& path) {
  if (path.empty()) return;
  if (std::filesystem::exists(path) && !std::filesystem::is_directory(path))
    throw UsageError(fmt::format("{}: {} is a file, not a directory", option, path));
  if (const std::string problem = bench::output_location_problem(path); !problem.empty())
    throw UsageError(option + ": " + problem);
}

}  // namespace flopslab::cli
