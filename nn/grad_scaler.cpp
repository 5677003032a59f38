// GradScaler's rules: scale the loss, unscale and check the gradients, grow or back off.
#include "nn/grad_scaler.h"

#include "nn/cuda/ops.h"

#include <cmath>
#include <stdexcept>

namespace flopslab::nn {

bool GradScaler::unscale(const std::vector<Parameter*>& params, int threads) const {
  const float inverse = float(1.0 / scale_);
  bool finite = true;
  std::vector<std::pair<float*, std::int64_t>> on_gpu;
  for (Parameter* p : params) {
    if (p->frozen) continue;
    if (p->grad.on_cuda()) {  // below: one kernel per tensor, one flag read back for all
      on_gpu.emplace_back(p->grad.data(), p->grad.size());
      continue;
    }
    float* g = p->grad.data();
    const std::int64_t n = p->grad.size();
    bool ok = true;
#pragma omp parallel for num_threads(threads) if (n > (1 << 15)) reduction(&& : ok)
    for (std::int64_t i = 0; i < n; ++i) {
      g[i] *= inverse;
      ok = ok && std::isfinite(g[i]);
    }
    finite = finite && ok;
  }
  if (!on_gpu.empty()) finite = gpu::scale_and_check_finite(on_gpu, inverse) && finite;
  return finite;
}

void GradScaler::update(bool overflowed) {
  if (overflowed) {
    scale_ *= s_.backoff_factor;
    clean_ = 0;
    ++skipped_;
  } else if (++clean_ == s_.growth_interval) {
    scale_ *= s_.growth_factor;
    clean_ = 0;
  }
}

ScheduleJson GradScaler::state() const { return {{"scale", scale_}, {"clean_steps", clean_}, {"skipped", skipped_}}; }

void GradScaler::load_state(const ScheduleJson& j) {
  if (!j.is_object() || !j.contains("scale") || !j.contains("clean_steps") || !j.contains("skipped"))
    throw std::runtime_error("loss scaler state: 'scale', 'clean_steps' or 'skipped' is missing");
  scale_ = j["scale"].get<double>();
  clean_ = j["clean_steps"].get<long>();
  skipped_ = j["skipped"].get<long>();
}

}  // namespace flopslab::nn
