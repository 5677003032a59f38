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

std::vector<PeerLibraryLine> cpu_peer_libraries() {
  std::vector<PeerLibraryLine> lines;
  auto add = [&](const char* kind, const auto& v) {
    if (v.device != Device::cpu || v.role != Role::peer) return;
    const bool available = v.available();
    lines.push_back({kind, std::string(v.name),
                     !available ? v.unavailable() : v.detail != nullptr ? v.detail() : std::string(v.idea), available});
  };
  for (const GemmVariant* v : gemm_variants()) add("gemm", *v);
  for (const ConvVariant* v : conv_variants()) add("conv", *v);
  return lines;
}

}  // namespace flopslab::bench
