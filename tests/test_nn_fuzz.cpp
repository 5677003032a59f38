// Fuzzing the two parsers of untrusted files, the IDX reader and the checkpoint loader, with
// thousands of mutated inputs. Built with AddressSanitizer and UndefinedBehaviorSanitizer
// (tests/CMakeLists.txt), so an out-of-bounds read or overflow fails the test even when it
// would not crash.
#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "nn/checkpoint.h"
#include "tests/idx_bytes.h"
#include "nn/data.h"
#include "nn/train.h"

using namespace flopslab;
using namespace flopslab::nn;

using test::idx_bytes;


TEST_CASE("the checkpoint loader and the IDX parser survive thousands of mutated inputs") {
  std::mt19937_64 rng(11);
  auto model = make_model("mlp", rng);
  auto opt = make_optimizer("sgd", model->parameters(), 0.1, 0.0);
  const std::string good = serialize_checkpoint(*model, *opt, {"mlp", 1});
  const std::vector<std::uint8_t> idx = idx_bytes({3, 4, 5}, std::vector<std::uint8_t>(60, 7));
  std::uniform_int_distribution<int> byte(0, 255);
  int refused = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string c = good;
    std::vector<std::uint8_t> i = idx;
    const int edits = 1 + trial % 4;
    for (int e = 0; e < edits; ++e) {
      std::uniform_int_distribution<std::size_t> at_c(0, c.size() - 1), at_i(0, i.size() - 1);
      switch (trial % 3) {
        case 0: c[at_c(rng)] = char(byte(rng)), i[at_i(rng)] = std::uint8_t(byte(rng)); break;
        case 1: c.resize(at_c(rng)), i.resize(at_i(rng)); break;
        default: c.insert(at_c(rng), 1, char(byte(rng))), i.insert(i.begin() + std::ptrdiff_t(at_i(rng)), std::uint8_t(byte(rng)));
      }
      if (c.empty() || i.empty()) break;
    }
    try {
      restore_checkpoint(c, "fuzz", "mlp", *model, *opt);
    } catch (const std::runtime_error&) {
      ++refused;
    }
    try {
      parse_idx(i, "fuzz");
    } catch (const std::runtime_error&) {
    }
  }
  CHECK(refused > 2900);  // a mutation that passes the CRC is possible but rare
}
