// Formatting of the cuDNN study (tables, lines, JSON); in every build, so the report and the
// CLI need no CUDA to print one.
#include <fmt/format.h>

#include "harness/files.h"
#include "bench/sweeps/gemm_sweep.h"
#include "bench/sweeps/gpu_conv.h"
#include "harness/format.h"

namespace flopslab::bench {

std::vector<Table> cudnn_algorithm_tables(const CudnnStudy& study) {
  using A = Table::Align;
  std::vector<Table> tables;
  for (const CudnnPassStudy& s : study.passes) {
    Table t({{"pass", A::left}, {"algorithm", A::left}, {"ms"}, {"workspace"}, {"deterministic", A::left},
             {"math", A::left}, {"status", A::left}});
    for (const CudnnAlgorithmRow& a : s.found)
      t.add_row({conv::pass_name(s.pass), a.name, a.status == "ok" ? fmt::format("{:.3f}", a.milliseconds) : "-",
                 format_bytes(double(a.workspace_bytes)), a.deterministic ? "yes" : "no", a.math, a.status});
    tables.push_back(std::move(t));
  }
  return tables;
}

std::vector<std::string> cudnn_study_lines(const CudnnStudy& study) {
  if (!study.unavailable.empty()) return {"cuDNN study left out: " + study.unavailable};
  std::vector<std::string> out;
  for (const CudnnPassStudy& s : study.passes) {
    out.push_back(fmt::format(
        "{}: the heuristic picks {}; benchmark mode (fastest found) runs {}, {} across {} runs; deterministic mode "
        "runs {}, {}",
        conv::pass_name(s.pass), s.heuristic_pick.empty() ? "nothing" : s.heuristic_pick, s.fastest,
        s.fastest_reproducible ? "bit-identical" : "NOT bit-identical", s.repeats, s.fastest_deterministic,
        s.deterministic_reproducible ? "bit-identical" : "**NOT bit-identical (a cuDNN determinism failure)**"));
  }
  const CudnnPrecisionRow* fp32 = study.precisions.empty() ? nullptr : &study.precisions.front();
  for (const CudnnPrecisionRow& r : study.precisions)
    out.push_back(fmt::format("forward in {}: {} {:.3f} ms, {} the time of FP32 with FMA math; {}", r.precision, r.algorithm,
                              1e3 * r.timing.median, format_ratio(r.timing.median / fp32->timing.median),
                              r.check.passed() ? "within its precision's error bound" : r.check.summary()));
  return out;
}

Json cudnn_study_json(const CudnnStudy& study) {
  Json passes = Json::array(), precisions = Json::array();
  for (const CudnnPassStudy& s : study.passes) {
    Json found = Json::array();
    for (const CudnnAlgorithmRow& a : s.found)
      found.push_back({{"algorithm", a.name}, {"id", a.id}, {"status", a.status}, {"ms", a.milliseconds},
                       {"workspace_bytes", a.workspace_bytes}, {"deterministic", a.deterministic}, {"math", a.math}});
    passes.push_back({{"pass", conv::pass_name(s.pass)}, {"found", found}, {"heuristic_pick", s.heuristic_pick},
                      {"fastest", s.fastest}, {"fastest_deterministic", s.fastest_deterministic}, {"repeats", s.repeats},
                      {"fastest_bit_identical", s.fastest_reproducible},
                      {"deterministic_bit_identical", s.deterministic_reproducible}});
  }
  for (const CudnnPrecisionRow& r : study.precisions) {
    Json row{{"precision", r.precision}, {"algorithm", r.algorithm}, {"check", check_json(r.check)}};
    add_timing_fields(row, r.timing);
    precisions.push_back(row);
  }
  return {{"unavailable", study.unavailable}, {"cudnn_version", study.version}, {"layer", conv_layer_json(study.layer)},
          {"passes", passes}, {"precisions", precisions}};
}

}  // namespace flopslab::bench
