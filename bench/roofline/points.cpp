// The roofline's points from a report's sections: every GEMM rung and peer, convolution variant
// and pass (CPU and CUDA), channel shuffle, and the training stack's layers and steps.
#include <cstdio>

#include <fmt/format.h>

#include "bench/roofline/report_fields.h"
#include "bench/roofline/roofline.h"
#include "kernels/conv.h"
#include "kernels/registry.h"

namespace flopslab::bench::roofline {
namespace {

using namespace detail;

std::string format_shape(double m, double n, double k) {
  return m == n && n == k ? fmt::format("{}^3", m) : fmt::format("{}x{}x{}", m, n, k);
}

conv::Shape conv_shape(const Json& l) {
  conv::Shape s;
  s.n = std::int64_t(number(l, "n", 1)), s.c = std::int64_t(number(l, "c", 1)), s.h = std::int64_t(number(l, "h", 1));
  s.w = std::int64_t(number(l, "w", 1)), s.k = std::int64_t(number(l, "k", 1)), s.r = std::int64_t(number(l, "r", 1));
  s.s = std::int64_t(number(l, "s", 1));
  s.stride_h = std::int64_t(number(l, "stride_h", 1)), s.stride_w = std::int64_t(number(l, "stride_w", 1));
  s.pad_h = std::int64_t(number(l, "pad_h", 0)), s.pad_w = std::int64_t(number(l, "pad_w", 0));
  s.dilation_h = std::int64_t(number(l, "dilation_h", 1)), s.dilation_w = std::int64_t(number(l, "dilation_w", 1));
  s.groups = std::int64_t(number(l, "groups", 1));
  return s;
}

void add_gemm_points(const Json& rows, std::vector<Point>& out) {
  for (const Json& r : rows) {
    const double seconds = number(r, "median_s");
    if (r.contains("skipped") || !(seconds > 0)) continue;
    const std::string variant = text(r, "variant");
    out.push_back({.name = variant + " " + format_shape(number(r, "m"), number(r, "n"), number(r, "k")),
                   .family = text(r, "device") + " gemm " + format_shape(number(r, "m"), number(r, "n"), number(r, "k")),
                   .order = int(number(r, "step", 0)),
                   .kind = "gemm",
                   .precision = precision_of_variant(variant),
                   .device = text(r, "device"),
                   .threads = int(number(r, "threads", 1)),
                   .flops = number(r, "flops"),
                   .bytes = number(r, "bytes"),
                   .seconds = seconds,
                   // timed call after call on the same operands, as the convolutions are
                   .input_may_be_cached = true,
                   .cached_by = "read by the call before",
                   .measured_bytes = number(r, "measured_dram_bytes", 0)});
  }
}

// Winograd computes a convolution with fewer multiplies than the direct count; so does the
// per-shape variant where it ran a Winograd step ("step 9").
bool winograd(const std::string& variant, const std::string& ran) {
  if (variant.find("winograd") != std::string::npos) return true;
  int step = 0;
  if (std::sscanf(ran.c_str(), "step %d", &step) != 1) return false;
  for (const ConvVariant* v : conv_variants())
    if (v->step == step && v->role == Role::ladder) return v->name.find("winograd") != std::string_view::npos;
  return false;
}

// `device`: of the section (the report's "conv" or "gpu_conv"), for rows that do not say.
void add_conv_points(const Json& conv, const std::string& device, std::vector<Point>& out) {
  const Json& layers = list(conv, "layers");
  for (const Json& r : list(conv, "rows")) {
    const double seconds = number(r, "median_s");
    const double index = number(r, "layer");
    if (r.contains("skipped") || !(seconds > 0) || !(index >= 0) || index >= double(layers.size())) continue;
    const conv::Shape shape = conv_shape(layers[std::size_t(index)]);
    const std::string variant = text(r, "variant"), ran = text(r, "ran");
    const std::string layer = text(r, "layer_name"), pass = text(r, "pass");
    out.push_back({.name = fmt::format("{}{} {} {}", variant, ran.empty() ? "" : " (" + ran + ")", layer, pass),
                   .family = fmt::format("{} conv {} {}", text(r, "device"), layer, pass),
                   .order = int(number(r, "step", 0)),
                   .kind = "conv",
                   .precision = precision_of_variant(variant),
                   .device = text(r, "device").empty() ? device : text(r, "device"),
                   .threads = int(number(r, "threads", 1)),
                   .flops = conv::useful_flop_count(shape),
                   .bytes = conv::compulsory_bytes(shape),
                   .seconds = seconds,
                   .effective_rate = winograd(variant, ran),
                   // timed call after call on the same operands
                   .input_may_be_cached = true,
                   .cached_by = "read by the call before",
                   .measured_bytes = number(r, "measured_dram_bytes", 0)});
  }
  for (const Json& s : list(conv, "channel_shuffle")) {
    const double seconds = number(member(s, "shuffle"), "median_s");
    if (!(seconds > 0) || !(number(s, "bytes") > 0)) continue;
    out.push_back({.name = fmt::format("channel shuffle {}x{}x{}, {} groups", number(s, "n"), number(s, "c"),
                                       number(s, "plane"), number(s, "groups")),
                   .family = device + " shuffle",
                   .kind = "shuffle",
                   .device = device,
                   .threads = int(number(s, "threads", 1)),
                   .flops = 0,
                   .bytes = number(s, "bytes"),
                   .seconds = seconds});
  }
}

// Each counted layer's forward and backward at each batch, joined by batch (the path a layer
// takes across the ridge), and the whole step: the layers' FLOPs and bytes summed, plus the
// optimizer's traffic, over the step's median time. A step with an uncounted layer is left out.
void add_training_points(const Json& profiles, std::vector<Point>& out) {
  for (const Json& p : profiles) {
    const std::string model = text(p, "model"), device = text(p, "device").empty() ? "cpu" : text(p, "device");
    const int threads = int(number(p, "threads", 1)), batch = int(number(p, "batch", 0));
    double flops = 0, bytes = number(p, "optimizer_bytes"), largest = 0;
    bool all_counted = true;
    int index = -1;
    for (const Json& l : list(p, "layers")) {
      ++index;  // "#3 ReLU": a model has several layers of one kind
      if (!l.contains("forward_bytes")) {
        all_counted = false;
        continue;
      }
      for (const char* pass : {"forward", "backward"}) {
        const double f = number(l, fmt::format("{}_flops", pass).c_str()), b = number(l, fmt::format("{}_bytes", pass).c_str());
        const double seconds = 1e-3 * number(l, fmt::format("{}_ms", pass).c_str());
        flops += f, bytes += b, largest = std::max(largest, b);
        if (!(b > 0) || !(seconds > 0)) continue;  // a view, or a pass that did not run
        out.push_back({.name = fmt::format("{} #{} {} {}, batch {}", model, index, text(l, "layer"), pass, batch),
                       .family = fmt::format("{} {} #{} {} {}", device, model, index, text(l, "layer"), pass),
                       .order = batch,
                       .kind = "layer",
                       .device = device,
                       .threads = threads,
                       .flops = f,
                       .bytes = b,
                       .seconds = seconds,
                       .input_may_be_cached = true});
      }
    }
    const double step = 1e-3 * number(p, "step_ms");
    if (all_counted && step > 0 && flops > 0)
      out.push_back({.name = fmt::format("{} training step, batch {}", model, batch),
                     .family = fmt::format("{} {} training step", device, model),
                     .order = batch,
                     .kind = "step",
                     .device = device,
                     .threads = threads,
                     .flops = flops,
                     .bytes = bytes,
                     .seconds = step,
                     .working_set = largest,  // one layer's set is live at a time
                     // A GPU step receives its batch from the host: the images and the labels.
                     .link_bytes = device == "cpu" ? 0 : number(p, "batch_bytes", 0)});
  }
}

}  // namespace

std::string precision_of_variant(const std::string& variant) {
  for (const char* p : {"bf16", "tf32", "fp16"})
    if (variant.find(p) != std::string::npos) return p;
  return "fp32";
}

std::vector<Point> points_from_sections(const Json& sections) {
  std::vector<Point> points;
  add_gemm_points(list(member(sections, "gemm"), "rows"), points);
  add_conv_points(member(sections, "conv"), "cpu", points);
  add_gemm_points(list(member(sections, "gpu_gemm"), "rows"), points);
  add_conv_points(member(sections, "gpu_conv"), "cuda", points);
  add_training_points(list(member(sections, "training"), "layer_profiles"), points);
  return points;
}

}  // namespace flopslab::bench::roofline
