// The unit suite's main: doctest's, after FLOPSLAB_SIMD has capped the peer libraries too
// (as flopslab's own main does), so a capped run tests what a narrower CPU would run.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "harness/simd_cap.h"

int main(int argc, char** argv) {
  flopslab::bench::apply_simd_cap_to_peers(argv);
  return doctest::Context(argc, argv).run();
}
