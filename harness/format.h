// How every section prints its numbers: rates, ratios, percentages, byte counts and GEMM
// shapes, and a timing's statistics and a check's outcome as the same JSON fields everywhere.
#pragma once

#include <limits>
#include <string>

#include "harness/check/gemm_check.h"
#include "harness/json.h"
#include "harness/timing.h"
#include "kernels/gemm.h"

namespace flopslab::bench {

// A figure that was not measured (a peer that did not run, an empty table cell).
inline constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// "0.912", "12.3", "1562": three significant figures without exponents.
std::string format_rate(double value);
std::string format_ratio(double ratio);      // "0.93x", "12.4x", "-" for NaN
std::string format_percent(double fraction);  // "93.4%", "-" for NaN
// "1.50 GiB", "512 KiB", "17 B".
std::string format_bytes(double bytes);
// "1 core", "2 cores": a count and its noun, which takes an s unless the count is 1.
std::string plural(long long count, const std::string& noun);
// "2048x2048x2048", or "2048^3" for a cube.
std::string format_shape(gemm::Shape shape);

// A timing's statistics and a check's outcome as JSON fields, the same in every section.
void add_timing_fields(Json& row, const Timing& timing);
Json check_json(const GemmCheck& check);

}  // namespace flopslab::bench
