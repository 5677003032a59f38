// JSON with keys kept in insertion order, so report.json reads top to bottom like report.md.
#pragma once

#include <nlohmann/json.hpp>

namespace flopslab {
using Json = nlohmann::ordered_json;
}
