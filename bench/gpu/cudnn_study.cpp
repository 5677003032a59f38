// Formatting of the cuDNN study (bench/gpu/gpu_conv.h); built with or without CUDA.
#include <fmt/format.h>

#include "bench/files.h"
#include "bench/gemm_sweep.h"
#include "bench/gpu/gpu_conv.h"

namespace flopslab::bench {

Table cudnn_study_table(const CudnnStudy& s) {
  using A = Table::Align;
  Table table({{"algorithm", A::left}, {"status", A::left}, {"ms"}, {"speed vs fastest"}, {"workspace"},
               {"deterministic", A::left}, {"math", A::left}});
  double fastest = 0;
  for (const CudnnAlgorithm& a : s.algorithms)
    if (a.status == "ok" && (fastest == 0 || a.ms < fastest)) fastest = a.ms;
  for (const CudnnAlgorithm& a : s.algorithms) {
    const bool ok = a.status == "ok";
    table.add_row({a.name, a.status, ok ? fmt::format("{:.3f}", a.ms) : "-",
                   ok ? format_ratio(fastest / a.ms) : "-", ok ? format_bytes(a.workspace_bytes) : "-",
                   ok ? (a.deterministic ? "yes" : "no") : "-", a.math});
  }
  return table;
}

std::vector<std::string> cudnn_study_summary(const CudnnStudy& s) {
  if (!s.unavailable.empty()) return {"cuDNN study skipped: " + s.unavailable};
  return {
      fmt::format("heuristic pick: {}; benchmark mode (fastest found): {} {:.3f} ms; deterministic mode: {} {:.3f} ms",
                  s.heuristic, s.benchmark_choice, s.benchmark_ms, s.deterministic_choice, s.deterministic_ms),
      fmt::format("bit-identical over 5 runs: deterministic mode {}, benchmark mode {}",
                  s.deterministic_repeatable ? "yes" : "NO", s.benchmark_repeatable ? "yes" : "no"),
      fmt::format("tensor cores (context, lower precision): TF32 {} {:.3f} ms, FP16 {} {:.3f} ms", s.tf32_choice,
                  s.tf32_ms, s.fp16_choice, s.fp16_ms),
  };
}

Json cudnn_study_json(const CudnnStudy& s) {
  Json algorithms = Json::array();
  for (const CudnnAlgorithm& a : s.algorithms)
    algorithms.push_back({{"name", a.name}, {"status", a.status}, {"ms", a.ms},
                          {"workspace_bytes", a.workspace_bytes}, {"deterministic", a.deterministic},
                          {"math", a.math}});
  Json out{{"layer", conv_layer_json(s.layer)}};
  if (!s.unavailable.empty()) {
    out["unavailable"] = s.unavailable;
    return out;
  }
  out["algorithms"] = algorithms;
  out["heuristic"] = s.heuristic;
  out["benchmark"] = {{"algorithm", s.benchmark_choice}, {"ms", s.benchmark_ms}, {"repeatable", s.benchmark_repeatable}};
  out["deterministic"] = {
      {"algorithm", s.deterministic_choice}, {"ms", s.deterministic_ms}, {"repeatable", s.deterministic_repeatable}};
  out["tf32"] = {{"algorithm", s.tf32_choice}, {"ms", s.tf32_ms}};
  out["fp16"] = {{"algorithm", s.fp16_choice}, {"ms", s.fp16_ms}};
  return out;
}

}  // namespace flopslab::bench
