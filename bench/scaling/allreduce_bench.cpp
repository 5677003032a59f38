// Timing the all-reduce across message sizes and fitting its latency and bandwidth.
#include "bench/scaling/allreduce_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

#include <fmt/format.h>

#include "harness/files.h"
#include "nn/device.h"
#include "harness/format.h"
#include "harness/fit.h"

namespace flopslab::bench {
namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// The same samples on every rank: k calls per sample, k chosen on rank 0 and broadcast.
Timing time_collective(nn::Communicator& comm, const std::function<void()>& call, int samples) {
  call();  // warm-up: connections, buffers registered, pages touched
  call();
  const double started = now();
  for (int i = 0; i < 3; ++i) call();
  double per_call = (now() - started) / 3;
  comm.broadcast(&per_call, 1, 0);
  // A sample lasts at least a millisecond, far above the clock's and the barrier's jitter.
  const int k = int(std::clamp(std::ceil(1e-3 / std::max(per_call, 1e-9)), 1.0, 10000.0));
  std::vector<double> times;
  for (int s = 0; s < samples; ++s) {
    comm.barrier();
    const double t0 = now();
    for (int i = 0; i < k; ++i) call();
    double t = (now() - t0) / k;
    comm.allreduce_max(&t, 1);  // a collective is as slow as its slowest rank
    times.push_back(t);
  }
  return summarize(times, k, true);
}

}  // namespace

double ring_allreduce_seconds(const AlphaBeta& link, int ranks, double bytes) {
  if (ranks <= 1) return 0;
  return 2.0 * (ranks - 1) * link.alpha_s + ring_bandwidth_seconds(link, ranks, bytes);
}

double ring_bandwidth_seconds(const AlphaBeta& link, int ranks, double bytes) {
  if (ranks <= 1) return 0;
  return 2.0 * (ranks - 1) / ranks * bytes * link.beta_s_per_byte;
}

double AllreduceModel::seconds_for(int ranks, double n) const {
  if (ranks <= 1) return 0;
  if (measured_world < 2 || bytes.size() < 2 || n < bytes.front() || n > bytes.back())
    return ring_allreduce_seconds(link, ranks, n);
  std::size_t i = 1;
  while (i + 1 < bytes.size() && bytes[i] < n) ++i;
  const double f = std::log(n / bytes[i - 1]) / std::log(bytes[i] / bytes[i - 1]);
  const double t = std::exp(std::log(seconds[i - 1]) + f * (std::log(seconds[i]) - std::log(seconds[i - 1])));
  const double w = measured_world, latency = 2 * (w - 1) * link.alpha_s;
  const double bandwidth = std::max(0.0, t - latency) * (2.0 * (ranks - 1) / ranks) / (2 * (w - 1) / w);
  return 2.0 * (ranks - 1) * link.alpha_s + bandwidth;
}

AllreduceModel allreduce_model(const AllreduceStudy& s) {
  const double w = s.world;
  AllreduceModel m{.link = {.alpha_s = s.allreduce_fit.alpha_s / (2 * (w - 1)),
                            .beta_s_per_byte = s.allreduce_fit.beta_s_per_byte / (2 * (w - 1) / w)},
                   .measured_world = s.world};
  for (const CollectivePoint& p : s.allreduce) m.bytes.push_back(double(p.bytes)), m.seconds.push_back(p.timing.median);
  return m;
}

AllreduceStudy measure_allreduce(nn::Communicator& comm, std::int64_t max_bytes, bool quick,
                                 const std::function<void(const std::string&)>& progress, nn::DeviceCollectives* device) {
  if (comm.world() < 2)
    throw std::invalid_argument("the all-reduce needs two ranks or more (mpirun -np 2 flopslab allreduce)");
  if (max_bytes < 4096) throw std::invalid_argument(fmt::format("largest message {} B: at least 4 KiB", max_bytes));
  AllreduceStudy out{.world = comm.world(), .backend = device != nullptr ? device->backend() : comm.backend()};
  const int samples = quick ? 5 : 15;
  std::vector<float> data(device != nullptr ? 0 : std::size_t(max_bytes / 4)), receive(data.size());
  nn::Tensor on_gpu = device != nullptr ? nn::Tensor::zeros_on(nn::DeviceTag::cuda, {max_bytes / 4}) : nn::Tensor();
  const int to = (comm.rank() + 1) % comm.world(), from = (comm.rank() + comm.world() - 1) % comm.world();
  std::vector<double> bytes, reduce_s, step_s;
  for (std::int64_t b = 4; b <= max_bytes; b *= 4) {
    const std::int64_t n = b / 4;
    if (progress) progress(fmt::format("all-reduce of {} on {} ranks", format_bytes(double(b)), comm.world()));
    if (device != nullptr) {
      float* x = on_gpu.data();
      const Timing reduce = time_collective(comm, [&] {
        device->start_allreduce_sum(x, n);
        device->join();
        nn::cuda_synchronize();
      }, samples);
      out.allreduce.push_back({b, reduce});
      bytes.push_back(double(b)), reduce_s.push_back(reduce.median);
      continue;
    }
    const Timing reduce = time_collective(comm, [&] { comm.allreduce_sum(data.data(), n); }, samples);
    const Timing step = time_collective(comm, [&] { comm.exchange(data.data(), receive.data(), n, to, from); }, samples);
    out.allreduce.push_back({b, reduce});
    out.ring_step.push_back({b, step});
    bytes.push_back(double(b)), reduce_s.push_back(reduce.median), step_s.push_back(step.median);
  }
  out.allreduce_fit = fit_alpha_beta(bytes, reduce_s);
  out.link = device != nullptr ? allreduce_model(out).link : fit_alpha_beta(bytes, step_s);
  return out;
}

Table allreduce_table(const AllreduceStudy& s) {
  Table t({{"message"}, {"all-reduce"}, {"spread"}, {"alpha + n beta"}, {"ring model"}, {"its bandwidth term"},
           {"ring step (send+receive)"}});
  auto us = [](double seconds) { return fmt::format("{:.1f} us", 1e6 * seconds); };
  for (std::size_t i = 0; i < s.allreduce.size(); ++i) {
    const double b = double(s.allreduce[i].bytes);
    t.add_row({format_bytes(b), us(s.allreduce[i].timing.median), fmt::format("{:.0f}%", 100 * s.allreduce[i].timing.spread()),
               us(s.allreduce_fit.seconds(b)), us(ring_allreduce_seconds(s.link, s.world, b)),
               us(ring_bandwidth_seconds(s.link, s.world, b)),
               i < s.ring_step.size() ? us(s.ring_step[i].timing.median) : std::string("-")});
  }
  return t;
}

Json to_json(const AllreduceStudy& s) {
  auto points = [](const std::vector<CollectivePoint>& ps) {
    Json a = Json::array();
    for (const CollectivePoint& p : ps)
      a.push_back({{"bytes", p.bytes}, {"median_s", p.timing.median}, {"q1_s", p.timing.q1}, {"q3_s", p.timing.q3},
                   {"calls_per_sample", p.timing.calls_per_sample}});
    return a;
  };
  auto fit = [](const AlphaBeta& f) { return Json{{"alpha_s", f.alpha_s}, {"beta_s_per_byte", f.beta_s_per_byte}}; };
  return {{"world", s.world}, {"backend", s.backend}, {"allreduce", points(s.allreduce)},
          {"ring_step", points(s.ring_step)}, {"allreduce_fit", fit(s.allreduce_fit)}, {"link", fit(s.link)}};
}

AllreduceStudy allreduce_study_from_json(const Json& j) {
  try {
    AllreduceStudy s{.world = j.at("world").get<int>(), .backend = j.at("backend").get<std::string>()};
    auto points = [](const Json& a) {
      std::vector<CollectivePoint> ps;
      for (const Json& p : a) {
        CollectivePoint c{.bytes = p.at("bytes").get<std::int64_t>()};
        c.timing.median = p.at("median_s").get<double>(), c.timing.q1 = p.at("q1_s").get<double>();
        c.timing.q3 = p.at("q3_s").get<double>(), c.timing.calls_per_sample = p.at("calls_per_sample").get<int>();
        ps.push_back(c);
      }
      return ps;
    };
    auto fit = [](const Json& f) {
      return AlphaBeta{.alpha_s = f.at("alpha_s").get<double>(), .beta_s_per_byte = f.at("beta_s_per_byte").get<double>()};
    };
    s.allreduce = points(j.at("allreduce")), s.ring_step = points(j.at("ring_step"));
    s.allreduce_fit = fit(j.at("allreduce_fit")), s.link = fit(j.at("link"));
    return s;
  } catch (const Json::exception& e) {
    throw std::invalid_argument(std::string("not an all-reduce measurement: ") + e.what());
  }
}

}  // namespace flopslab::bench
