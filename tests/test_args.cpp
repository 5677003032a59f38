// The command line's value parsing: exact error messages for every kind of bad input.
#include <doctest/doctest.h>

#include <string>

#include "cli/args.h"

using namespace flopslab;
using flopslab::cli::UsageError;

namespace {
std::string error_of(auto&& f) {
  try {
    f();
  } catch (const UsageError& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("sizes: squares and m x n x k") {
  const auto shapes = cli::parse_sizes("--sizes", "256,1000x500x300,1");
  REQUIRE(shapes.size() == 3);
  CHECK(shapes[0].m == 256);
  CHECK(shapes[0].k == 256);
  CHECK(shapes[1].m == 1000);
  CHECK(shapes[1].n == 500);
  CHECK(shapes[1].k == 300);
  CHECK(shapes[2].n == 1);
}

TEST_CASE("sizes: bad input names the value") {
  CHECK(error_of([] { cli::parse_sizes("--sizes", "0"); }) == "--sizes: 0 is too small (at least 1)");
  CHECK(error_of([] { cli::parse_sizes("--sizes", "-5"); }) == "--sizes: -5 is too small (at least 1)");
  CHECK(error_of([] { cli::parse_sizes("--sizes", "abc"); }) == "--sizes: 'abc' is not a whole number");
  CHECK(error_of([] { cli::parse_sizes("--sizes", "2000000"); }) ==
        "--sizes: 2000000 is too large (at most 1048576)");
  CHECK(error_of([] { cli::parse_sizes("--sizes", "99999999999999999999"); }) ==
        "--sizes: 99999999999999999999 is too large (at most 1048576)");
  CHECK(error_of([] { cli::parse_sizes("--sizes", "10x20"); }) ==
        "--sizes: '10x20' is not a size; use N for N x N x N or MxNxK, e.g. 256,1000x500x300");
  CHECK(error_of([] { cli::parse_sizes("--sizes", "256,,512"); }) ==
        "--sizes: '' is not a size; use N for N x N x N or MxNxK, e.g. 256,1000x500x300");
  CHECK(error_of([] { cli::parse_sizes("--sizes", "12.5"); }) == "--sizes: '12.5' is not a whole number");
}

TEST_CASE("threads: lists, 'all', duplicates and bad values") {
  CHECK(cli::parse_threads("--threads", "1,2,2,all", 8) == std::vector<int>{1, 2, 8});
  CHECK(error_of([] { cli::parse_threads("--threads", "0", 8); }) == "--threads: 0 is too small (at least 1)");
  CHECK(error_of([] { cli::parse_threads("--threads", "-1", 8); }) == "--threads: -1 is too small (at least 1)");
  CHECK(error_of([] { cli::parse_threads("--threads", "5000", 8); }) ==
        "--threads: 5000 is too large (at most 4096)");
  CHECK(error_of([] { cli::parse_threads("--threads", "two", 8); }) == "--threads: 'two' is not a whole number");
}

TEST_CASE("variants: names from the registry, 'all', unknown names listed with the choices") {
  const auto all = cli::parse_variants("--variants", "all", Device::cpu);
  CHECK(all.size() == 12);
  const auto two = cli::parse_variants("--variants", "naive,openmp,naive", Device::cpu);
  REQUIRE(two.size() == 2);
  CHECK(two[0]->name == "naive");
  CHECK(two[1]->name == "openmp");
  CHECK(error_of([] { cli::parse_variants("--variants", "fast", Device::cpu); }) ==
        "--variants: unknown variant 'fast' (valid: naive, loop-order, blocked, packed-simd, openmp, bf16, amx-bf16, "
        "openblas, onednn, onednn-bf16, mkl, openblas-pypi, all)");
}

TEST_CASE("seconds") {
  CHECK(cli::parse_seconds("--max-call-seconds", "2.5") == 2.5);
  CHECK(error_of([] { cli::parse_seconds("--max-call-seconds", "0"); }) ==
        "--max-call-seconds: 0 must be more than 0 seconds");
  CHECK(error_of([] { cli::parse_seconds("--max-call-seconds", "soon"); }) ==
        "--max-call-seconds: 'soon' is not a number of seconds");
}

TEST_CASE("sizes in bytes with binary units") {
  CHECK(cli::parse_bytes("--max-size", "4096", 1, 1 << 30) == 4096);
  CHECK(cli::parse_bytes("--max-size", "64K", 1, 1 << 30) == 64 << 10);
  CHECK(cli::parse_bytes("--max-size", "512M", 1, 1 << 30) == 512 << 20);
  CHECK(cli::parse_bytes("--max-size", "1GiB", 1, std::int64_t(1) << 40) == std::int64_t(1) << 30);
  CHECK(error_of([] { cli::parse_bytes("--max-size", "1.5G", 1, 1 << 30); }) ==
        "--max-size: '1.5G' is not a size; use a number with K, M or G (binary), e.g. 512M or 1G");
  CHECK(error_of([] { cli::parse_bytes("--max-size", "2G", 1, 1 << 30); }) ==
        "--max-size: 2G is too large (at most 1073741824 bytes)");
  CHECK(error_of([] { cli::parse_bytes("--max-size", "1K", 1 << 20, 1 << 30); }) ==
        "--max-size: 1K is too small (at least 1048576 bytes)");
  CHECK(error_of([] { cli::parse_bytes("--max-size", "", 1, 1 << 30); }) ==
        "--max-size: '' is not a size; use a number with K, M or G (binary), e.g. 512M or 1G");
}
