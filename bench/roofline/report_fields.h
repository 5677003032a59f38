// Reading a report's JSON sections leniently (the roofline's files share these): a missing key,
// or one of another type, reads as empty or as the fallback, never as an exception, so a report
// older than a field still places what it has.
#pragma once

#include <cmath>
#include <string>

#include "harness/json.h"

namespace flopslab::bench::roofline::detail {

inline double number(const Json& j, const char* key, double fallback = std::nan("")) {
  return j.is_object() && j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}
inline std::string text(const Json& j, const char* key) {
  return j.is_object() && j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : std::string();
}
inline const Json& member(const Json& j, const char* key) {
  static const Json empty = Json::object();
  return j.is_object() && j.contains(key) ? j[key] : empty;
}
inline const Json& list(const Json& j, const char* key) {
  static const Json empty = Json::array();
  return j.is_object() && j.contains(key) && j[key].is_array() ? j[key] : empty;
}

}  // namespace flopslab::bench::roofline::detail
