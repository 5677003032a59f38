// Entry point of the GPU tests. On a machine without a usable GPU every test exits with 77,
// which ctest reports as "Skipped" (not passed), and prints the reason on one line.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <string_view>

#include "harness/machine/gpu_runtime.h"

int main(int argc, char** argv) {
  bool listing = false;  // doctest_discover_tests lists the cases at build time; no GPU needed
  for (int i = 1; i < argc; ++i) listing = listing || std::string_view(argv[i]).find("list") != std::string_view::npos;
  const flopslab::bench::GpuStatus& gpu = flopslab::bench::gpu_status();
  if (!listing && !gpu.usable) {
    std::printf("SKIP: no usable GPU: %s\n", gpu.reason.c_str());
    return 77;
  }
  doctest::Context context(argc, argv);
  return context.run();
}
