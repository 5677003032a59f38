// Parsing and validation of the command line's values. Every mistake becomes a UsageError
// whose message names the option, the offending value and what would be valid; main() prints
// it on one line and exits with status 2.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/registry.h"

namespace flopslab::cli {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

constexpr std::int64_t kMaxDimension = 1 << 20;  // beyond this a size is a typo; memory decides below it
constexpr int kMaxThreads = 4096;

// "256,1024,1000x500x300": squares or m x n x k, each dimension in [1, kMaxDimension].
std::vector<gemm::Shape> parse_sizes(const std::string& option, const std::string& text);

// "1,2,8" or "all" (= all_threads); each in [1, kMaxThreads].
std::vector<int> parse_threads(const std::string& option, const std::string& text, int all_threads);

// "all" or a comma-separated list of registry names for the device.
std::vector<const GemmVariant*> parse_variants(const std::string& option, const std::string& text,
                                               Device device);

// Refuses an output file or directory that cannot be created, before any measuring starts
// and after the command's inputs have been checked; creates the missing parent directories
// (empty: no output).
void check_output_file(const std::string& option, const std::string& path);
void check_output_dir(const std::string& option, const std::string& path);

// One positive integer in [low, high].
std::string conv_variant_names(Device device);
std::vector<const ConvVariant*> parse_conv_variants(const std::string& option, const std::string& text,
                                                    Device device);
// "N,C,H,W,K,R,S[,stride[,pad[,dilation[,groups]]]]", checked with conv::shape_problem.
conv::Shape parse_conv_shape(const std::string& option, const std::string& text);
// "forward,backward-data,backward-weights" or "all".
std::vector<conv::Pass> parse_passes(const std::string& option, const std::string& text);

long long parse_integer(const std::string& option, const std::string& text, long long low, long long high);

// A size in bytes: "1GiB", "512MiB", "64M", "4096" (K, M, G are binary multiples), in
// [low, high].
std::int64_t parse_bytes(const std::string& option, const std::string& text, std::int64_t low, std::int64_t high);

// A number of seconds > 0.
double parse_seconds(const std::string& option, const std::string& text);
// A finite decimal number within [low, high].
double parse_number(const std::string& option, const std::string& text, double low, double high);
// "A,B" with low <= A <= B <= high.
std::pair<double, double> parse_range(const std::string& option, const std::string& text, double low, double high);

// Comma-joined names of the registry's variants for a device, for messages and --help.
std::string variant_names(Device device);

// Training options. Parts of a model are read by nn::parse_part_name (nn/parts.h).
// "body=0.1,head=1": parts with learning-rate multipliers > 0.
std::vector<std::pair<std::string, double>> parse_part_multipliers(const std::string& option, const std::string& text);
// "body" or "0-3,7": parts.
std::vector<std::string> parse_parts(const std::string& option, const std::string& text);
// "0-4" or "5,6,7,8,9": Fashion-MNIST classes (0 to 9), at least two, none twice.
std::vector<std::int64_t> parse_classes(const std::string& option, const std::string& text);
// "fp32", "bf16" or "fp16".
gemm::InputFormat parse_precision(const std::string& option, const std::string& text);
// Checkpoint segments for a model of `layers` layers: a number (0 to layers), "sqrt" or "all".
int parse_segments(const std::string& option, const std::string& text, int layers);

}  // namespace flopslab::cli
