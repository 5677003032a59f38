// The table of a sweep's variants: step, description and chosen blocking.
#include "bench/sweeps/variant_table.h"

#include <string>

namespace flopslab::bench {

namespace {
template <class Variant>
Table variant_table(const std::vector<const Variant*>& variants) {
  using A = Table::Align;
  Table table({{"variant", A::left}, {"step"}, {"what it does", A::left}, {"here", A::left}});
  for (const Variant* v : variants) {
    const std::string here = !v->available() ? v->unavailable() : v->detail != nullptr ? v->detail() : "";
    table.add_row({std::string(v->name), v->role == Role::ladder ? std::to_string(v->step) : role_name(v->role),
                   std::string(v->idea), here});
  }
  return table;
}
}  // namespace

Table gemm_variant_table(const std::vector<const GemmVariant*>& variants) { return variant_table(variants); }
Table conv_variant_table(const std::vector<const ConvVariant*>& variants) { return variant_table(variants); }

}  // namespace flopslab::bench
