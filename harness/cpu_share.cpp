// The CPU time this process got during a measurement, from getrusage and /proc/stat.
#include "harness/cpu_share.h"

#include "harness/affinity.h"

#include <sched.h>  // cpu_set_t
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

namespace flopslab::bench {

std::string CpuShare::describe() const {
  if (!known) return "CPU share unknown (/proc/stat unreadable)";
  return fmt::format("{:.2f} of {} CPUs free (steal {:.2f}, other processes {:.2f}), {:.2f} used by flopslab",
                     free_cpus(), cpus, steal_cpus, other_cpus, own_cpus);
}

Json CpuShare::to_json() const {
  if (!known) return Json{{"known", false}};
  return Json{{"known", true},       {"wall_s", wall_s},         {"cpus", cpus},
              {"steal_cpus", steal_cpus}, {"other_cpus", other_cpus}, {"own_cpus", own_cpus},
              {"free_cpus", free_cpus()}};
}

CpuShare CpuShare::from_json(const Json& j) {
  CpuShare s;
  if (!j.is_object() || !j.value("known", false)) return s;
  s.known = true;
  s.wall_s = j.value("wall_s", 0.0);
  s.cpus = j.value("cpus", 0);
  s.steal_cpus = j.value("steal_cpus", 0.0);
  s.other_cpus = j.value("other_cpus", 0.0);
  s.own_cpus = j.value("own_cpus", 0.0);
  return s;
}

CpuShareMeter::CpuShareMeter() : start_(read()) {}

CpuShareMeter::Counters CpuShareMeter::read() {
  Counters c;
  c.wall = std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  // The CPUs the process may use (cpu_order), not the calling thread's mask: a measuring
  // thread is often pinned to one CPU while its team runs on the others.
  cpu_set_t mask;
  CPU_ZERO(&mask);
  for (int cpu : cpu_order())
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_SET(cpu, &mask);

  std::ifstream stat("/proc/stat");
  std::string line;
  while (std::getline(stat, line)) {
    // Per-CPU lines only: "cpuN user nice system idle iowait irq softirq steal ...".
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') continue;
    std::istringstream in(line.substr(3));
    int cpu = -1;
    long long user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
    in >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal;
    if (!in || cpu < 0 || cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &mask)) continue;
    c.busy += user + nice + system + irq + softirq;
    c.steal += steal;
    ++c.cpus;
  }
  std::ifstream self("/proc/self/stat");
  std::string all((std::istreambuf_iterator<char>(self)), std::istreambuf_iterator<char>());
  // The command name may hold spaces; the fields after its closing ')' start at field 3 (state).
  const std::size_t close = all.rfind(')');
  if (close == std::string::npos) return c;
  std::istringstream fields(all.substr(close + 1));
  std::string field;
  long long utime = -1, stime = -1;
  for (int index = 3; fields >> field && index <= 15; ++index) {
    if (index == 14) utime = std::stoll(field);
    if (index == 15) stime = std::stoll(field);
  }
  if (utime < 0 || stime < 0 || c.cpus == 0) return c;
  c.own = utime + stime;
  c.ok = true;
  return c;
}

CpuShare CpuShareMeter::stop() const {
  const Counters end = read();
  CpuShare share;
  if (!start_.ok || !end.ok || end.cpus != start_.cpus || end.wall <= start_.wall) return share;
  const double tick = 1.0 / double(sysconf(_SC_CLK_TCK));
  share.known = true;
  share.wall_s = end.wall - start_.wall;
  share.cpus = end.cpus;
  auto per_wall = [&](long long ticks) { return double(std::max(0LL, ticks)) * tick / share.wall_s; };
  share.steal_cpus = std::min(double(share.cpus), per_wall(end.steal - start_.steal));
  share.own_cpus = per_wall(end.own - start_.own);
  share.other_cpus =
      std::clamp(per_wall((end.busy - start_.busy) - (end.own - start_.own)), 0.0, share.cpus - share.steal_cpus);
  return share;
}

TimingOptions share_timing(TimingOptions options) {
  options.min_time_s = std::max(options.min_time_s, 0.3);
  options.max_time_s = std::max(options.max_time_s, options.min_time_s);
  return options;
}

bool had_cpus_for(const CpuShare& share, int threads) {
  if (!share.known) return true;
  const double wanted = std::min(threads, share.cpus);
  // Free CPUs are not enough: the threads must also have run on them. Busy threads that shared
  // one CPU (a lost pin, a CPU taken offline) leave the other idle and use half the time.
  return share.free_cpus() >= 0.9 * wanted && share.own_cpus >= 0.75 * wanted;
}

}  // namespace flopslab::bench
