// Test data for the nn/ tests: IDX files built in memory.
#pragma once

#include <cstdint>
#include <vector>

namespace flopslab::test {

// An unsigned-byte IDX file: zero, zero, type 0x08, rank, big-endian dimensions, payload.
inline std::vector<std::uint8_t> idx_bytes(const std::vector<std::int64_t>& dims, const std::vector<std::uint8_t>& payload) {
  std::vector<std::uint8_t> out = {0, 0, 8, std::uint8_t(dims.size())};
  for (std::int64_t d : dims)
    for (int shift : {24, 16, 8, 0}) out.push_back(std::uint8_t(d >> shift));
  out.insert(out.end(), payload.begin(), payload.end());
  return out;
}

}  // namespace flopslab::test
