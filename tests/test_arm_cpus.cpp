// The aarch64 machine description from /proc/cpuinfo and sysfs trees of nine machines
// (tests/fixtures/arm/): cores by MIDR, big.LITTLE clusters fastest first, per-cluster peaks,
// a masked MIDR, and the core whose caches size the GEMM blocks. Pure parsing: it runs on x86.
#include <doctest/doctest.h>

#include <algorithm>

#include "harness/machine/arm_cpus.h"
#include "kernels/cpu/gemm/packed.h"

using namespace flopslab;
using namespace flopslab::bench;

namespace {
std::string fixture(const std::string& name) { return std::string(FLOPSLAB_SOURCE_DIR) + "/tests/fixtures/arm/" + name; }
}  // namespace

TEST_CASE("aarch64 cpuinfo: one entry per CPU with its MIDR fields and features") {
  const ArmCpus g3 = read_arm_cpus(fixture("graviton3-neoverse-v1"));
  REQUIRE(g3.cpus.size() == 2);
  CHECK(g3.cpus[1].cpu == 1);
  CHECK(g3.cpus[0].implementer == 0x41);
  CHECK(g3.cpus[0].part == 0xd40);
  CHECK(g3.cpus[0].variant == 1);
  CHECK(g3.cpus[0].revision == 1);
  const auto& f = g3.cpus[0].features;
  for (const char* want : {"asimd", "sve", "bf16", "i8mm", "svebf16"})
    CHECK_MESSAGE(std::find(f.begin(), f.end(), want) != f.end(), want);
  REQUIRE(g3.clusters.size() == 1);
  CHECK(g3.clusters[0].core == "Neoverse V1");
  CHECK(g3.clusters[0].max_khz == 0);  // a cloud VM has no cpufreq: no clock, so no table peak
  CHECK(g3.clusters[0].fp32_peak_gflops() == 0.0);
  CHECK(describe_arm_cpus(g3) == "2 x Neoverse V1 (CPUs 0-1)");
}

TEST_CASE("aarch64 cpuinfo: big.LITTLE clusters, fastest first") {
  const ArmCpus rk = read_arm_cpus(fixture("rk3588-a76-a55"));
  REQUIRE(rk.clusters.size() == 2);
  CHECK(rk.big_little());
  CHECK(rk.clusters[0].core == "Cortex-A76");
  CHECK(cpu_list(rk.clusters[0].cpus) == "4-7");
  CHECK(rk.clusters[0].capacity == 1024);
  CHECK(rk.clusters[1].core == "Cortex-A55");
  CHECK(rk.clusters[1].capacity == 530);
  CHECK(describe_arm_cpus(rk) ==
        "4 x Cortex-A76 @ 2.40 GHz (CPUs 4-7) + 4 x Cortex-A55 @ 1.80 GHz (CPUs 0-3), big.LITTLE: one-thread figures "
        "run on the first kind");
  // 4 cores x 2.4 GHz x 8 lanes (two 128-bit FMA pipes) x 2; the A55's lanes are not in the table.
  CHECK(rk.clusters[0].fp32_peak_gflops() == doctest::Approx(153.6));
  CHECK(rk.clusters[1].fp32_peak_gflops() == 0.0);
  CHECK(cluster_peak_formula(rk) ==
        "4 x Cortex-A76 x 2.40 GHz x 8 lanes x 2 = 153.6 GFLOP/s + 4 x Cortex-A55 (lanes not in the table); at least "
        "153.6 GFLOP/s in all");

  // No cpu_capacity (Asahi on an M1): the clock alone orders them.
  const ArmCpus m1 = read_arm_cpus(fixture("apple-m1-asahi"));
  REQUIRE(m1.clusters.size() == 2);
  CHECK(m1.clusters[0].core == "Apple M1 Firestorm");
  CHECK(cpu_list(m1.clusters[0].cpus) == "4-7");
  CHECK(m1.clusters[1].core == "Apple M1 Icestorm");
  CHECK(m1.clusters[0].fp32_peak_gflops() == doctest::Approx(4 * 3.204 * 16 * 2));
  CHECK_FALSE(m1.midr_masked);
  CHECK(cluster_peak_formula(m1) ==
        "4 x Apple M1 Firestorm x 3.20 GHz x 16 lanes x 2 = 410.1 GFLOP/s + 4 x Apple M1 Icestorm x 2.06 GHz x 8 lanes "
        "x 2 = 132.1 GFLOP/s; 542.2 GFLOP/s in all");
}

TEST_CASE("aarch64 cpuinfo: one kind of core in several clusters is one group; a masked MIDR is said") {
  const ArmCpus orin = read_arm_cpus(fixture("jetson-agx-orin-cortex-a78ae"));
  REQUIRE(orin.clusters.size() == 1);
  CHECK_FALSE(orin.big_little());
  CHECK(describe_arm_cpus(orin) == "12 x Cortex-A78AE @ 2.20 GHz (CPUs 0-11)");
  CHECK(orin.clusters[0].fp32_peak_gflops() == doctest::Approx(12 * 2.2016 * 8 * 2));

  const ArmCpus vm = read_arm_cpus(fixture("apple-silicon-vm"));
  CHECK(vm.midr_masked);
  REQUIRE(vm.clusters.size() == 1);
  CHECK(vm.clusters[0].fp32_lanes_per_cycle == 0);
  CHECK(describe_arm_cpus(vm) ==
        "4 x Apple core (MIDR part masked by the hypervisor) (CPUs 0-3); the core is hidden, so its pipes come from "
        "the measured FMA rate");

  for (const char* name : {"graviton2-neoverse-n1", "grace-neoverse-v2", "raspberry-pi4-cortex-a72",
                           "raspberry-pi5-cortex-a76"}) {
    const ArmCpus m = read_arm_cpus(fixture(name));
    INFO(name);
    REQUIRE(m.clusters.size() == 1);
    CHECK(m.clusters[0].core.find("aarch64 core") == std::string::npos);  // every one is in the table
    CHECK(m.clusters[0].fp32_lanes_per_cycle > 0);
  }
  CHECK(read_arm_cpus(fixture("raspberry-pi4-cortex-a72")).clusters[0].fp32_peak_gflops() ==
        doctest::Approx(4 * 1.5 * 8 * 2));
}

TEST_CASE("aarch64 cpuinfo: x86's cpuinfo, an empty file and junk give no CPUs") {
  CHECK(parse_arm_cpuinfo("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse2 avx2\n\n").empty());
  CHECK(parse_arm_cpuinfo("").empty());
  CHECK(parse_arm_cpuinfo("processor : x\nCPU part : banana\n").empty());
  CHECK(read_arm_cpus(fixture("no-such-machine")).cpus.empty());
  CHECK(describe_arm_cpus(ArmCpus{}) == "no aarch64 CPUs in /proc/cpuinfo");
  CHECK(cpu_list({7, 0, 1, 2, 5}) == "0-2,5,7");
}

TEST_CASE("the GEMM blocks come from the fastest core's caches") {
  using namespace gemm::packed;
  const std::string rk = fixture("rk3588-a76-a55") + "/sys/devices/system/cpu";
  CHECK(fastest_cpu_dir(rk) == rk + "/cpu4");  // CPU 0 is an A55 with a 128 KiB L2
  const CacheGeometries big = read_cache_geometries(rk);
  CHECK_FALSE(big.assumed);
  CHECK(big.level[0].bytes == 64 << 10);
  CHECK(big.level[0].ways == 4);
  CHECK(big.level[1].bytes == 512 << 10);
  CHECK(big.level[2].bytes == 3 << 20);
  CHECK(big.level[2].sets == 4096);  // 3 MiB / (12 ways x 64 B)

  const CacheGeometries n1 = read_cache_geometries(fixture("graviton2-neoverse-n1") + "/sys/devices/system/cpu");
  CHECK_FALSE(n1.assumed);
  CHECK(n1.level[1].bytes == 1 << 20);
  // No cache directories (the Pi 4's firmware gives none): the common values, said to be assumed.
  const CacheGeometries pi = read_cache_geometries(fixture("raspberry-pi4-cortex-a72") + "/sys/devices/system/cpu");
  CHECK(pi.assumed);
}
