// The roofline as SVG, for report.html: the same picture as scripts/plot's roofline.png (log-log,
// memory roofs as diagonals, compute roofs as horizontals, one panel per device and thread count)
// drawn in the page itself, each point carrying a <title> that the browser shows on hover: its
// name, intensity, GFLOP/s, bound and the share of it reached. Nothing is fetched or scripted.
#pragma once

#include <string>

#include "harness/json.h"

namespace flopslab::bench {

// `roofline` is report.json's "roofline" (bench::roofline::roofline_json). Empty when it holds
// no placed point with FLOPs.
std::string roofline_svg(const Json& roofline);

// The hover text of one point of that JSON, as the SVG carries it.
std::string roofline_hover_text(const Json& point);

}  // namespace flopslab::bench
