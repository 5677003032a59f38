// Checking a convolution Shape (every size at least 1, the output not empty) and describing it.
#include <string>

#include "kernels/conv.h"

namespace flopslab::conv {

std::string shape_problem(const Shape& s) {
  auto positive = [](std::int64_t v, const char* what) -> std::string {
    return v > 0 ? "" : std::string(what) + " must be at least 1, got " + std::to_string(v);
  };
  for (const auto& [value, what] :
       {std::pair{s.n, "batch N"}, {s.c, "input channels C"}, {s.h, "height H"}, {s.w, "width W"},
        {s.k, "filters K"}, {s.r, "filter height R"}, {s.s, "filter width S"}, {s.stride_h, "stride"},
        {s.stride_w, "stride"}, {s.dilation_h, "dilation"}, {s.dilation_w, "dilation"}, {s.groups, "groups"}})
    if (std::string p = positive(value, what); !p.empty()) return p;
  if (s.pad_h < 0 || s.pad_w < 0)
    return "padding must be 0 or more, got " + std::to_string(s.pad_h < 0 ? s.pad_h : s.pad_w);
  if (s.c % s.groups != 0)
    return "groups " + std::to_string(s.groups) + " does not divide the " + std::to_string(s.c) + " input channels";
  if (s.k % s.groups != 0)
    return "groups " + std::to_string(s.groups) + " does not divide the " + std::to_string(s.k) + " filters";
  if (s.extent_h() > s.h + 2 * s.pad_h || s.extent_w() > s.w + 2 * s.pad_w)
    return "the output would be empty: a " + std::to_string(s.r) + "x" + std::to_string(s.s) +
           " filter with dilation " + std::to_string(s.dilation_h) + " spans " + std::to_string(s.extent_h()) + "x" +
           std::to_string(s.extent_w()) + " pixels, more than the padded " + std::to_string(s.h + 2 * s.pad_h) + "x" +
           std::to_string(s.w + 2 * s.pad_w) + " input";
  // Keep every index of every tensor inside int64 arithmetic with room to spare, and one
  // tensor under 2^31 elements so 32-bit GPU indexing stays valid.
  for (double elements : {double(s.n) * s.c * s.h * s.w, double(s.k) * s.c_per_group() * s.r * s.s,
                          double(s.n) * s.k * s.p() * s.q()})
    if (elements >= 2147483648.0) return "a tensor of this shape would hold 2^31 elements or more";
  return "";
}

std::string describe(const Shape& s) {
  auto pair = [](std::int64_t a, std::int64_t b) {
    return a == b ? std::to_string(a) : std::to_string(a) + "x" + std::to_string(b);
  };
  std::string out = std::to_string(s.n) + "x" + std::to_string(s.c) + "x" + std::to_string(s.h) + "x" +
                    std::to_string(s.w) + ", " + std::to_string(s.k) + " filters " + std::to_string(s.r) + "x" +
                    std::to_string(s.s) + ", stride " + pair(s.stride_h, s.stride_w) + ", pad " + pair(s.pad_h, s.pad_w);
  if (s.dilation_h != 1 || s.dilation_w != 1) out += ", dilation " + pair(s.dilation_h, s.dilation_w);
  if (s.groups != 1) out += ", groups " + std::to_string(s.groups);
  return out;
}

}  // namespace flopslab::conv
